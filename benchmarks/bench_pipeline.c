/* The training data pipeline alone, without the model: index a data spec (the pass over the
 * file), then for each batch of an epoch's plan read the examples back (pread + parse),
 * tokenize them and pack them, as `sentembed train` does before each step. Reports
 * samples/s of the read + tokenize + pack loop, the index pass's time, and the peak
 * resident memory. benchmarks/pipeline.sh runs it with 1 and 2 threads and on a large file.
 * usage: bench_pipeline --model DIR --data SPEC [--threads N] [--batch N]
 *                       [--max-seq-length N] [--max-batches N (0: the whole epoch)] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "host/clock.h"
#include "host/json_util.h"
#include "trainer/sentence_model.h"
#include "trainer/train_data.h"

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *spec_text = NULL;
    int threads = 0, batch_size = 32, max_len = 128;
    long max_batches = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--data"))
            spec_text = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch_size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-seq-length"))
            max_len = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-batches"))
            max_batches = atol(argv[i + 1]);
    }
    if (!model || !spec_text || batch_size < 1 || max_len < 2) {
        fprintf(stderr, "usage: bench_pipeline --model DIR --data SPEC [--threads N] [--batch N] [--max-seq-length N] "
                "[--max-batches N]\n");
        return 2;
    }
    if (threads <= 0)
        threads = omp_get_max_threads();
    SeError err;
    Tokenizer tok;
    cJSON *json = json_parse_arg(spec_text, "--data", &err);
    DataSpec spec;
    if (!json || tok_load_dir(&tok, model, &err) || data_spec_parse(&spec, json, "--data", "data", NULL, &err))
        se_die("%s", err.msg);
    TrainData data;
    const DataOptions opt = {0};
    double t0 = se_now_s();
    if (train_data_open(&data, &spec, 1, &opt, &err))
        se_die("%s", err.msg);
    double index_s = se_now_s() - t0, rss_after_index = peak_rss_mib();
    PlanSet set;
    train_data_plan_sets(&data, &set);
    const PlanConfig cfg = {batch_size, false, SAMPLER_DEFAULT, SAMPLING_PROPORTIONAL, 42};
    EpochPlan plan;
    plan_build(&plan, &set, 1, &cfg, 0);
    const size_t K = (size_t)data.n_columns, N = K * (size_t)batch_size, T = N * (size_t)max_len;
    PackedBatch pb = {0};
    pb.ids = se_xmalloc(T * 4), pb.positions = se_xmalloc(T * 4), pb.types = se_xmalloc(T * 4);
    pb.cu_seqlens = se_xmalloc((N + 1) * 4);
    TokBatch tb = {0};
    DataBatch batch = {0};
    size_t n_batches = max_batches > 0 && (size_t)max_batches < plan.n_batches ? (size_t)max_batches : plan.n_batches;
    size_t samples = 0, tokens = 0;
    t0 = se_now_s();
    for (size_t b = 0; b < n_batches; b++) {
        if (data_batch_read(&batch, &data, &plan, b, threads, &err))
            se_die("%s", err.msg);
        size_t n = K * (size_t)batch.rows;
        tok_encode_batch(&tok, &tb, batch.texts, batch.lens, NULL, NULL, n, (size_t)max_len, threads);
        packed_batch_from_offsets(&pb, tb.ids, tb.offsets, n);
        samples += (size_t)batch.rows;
        tokens += (size_t)pb.n_tokens;
    }
    double dt = se_now_s() - t0;
    printf("{\"threads\": %d, \"examples\": %zu, \"file_bytes\": %llu, \"index_s\": %.3f, \"index_bytes\": %zu, "
           "\"plan_bytes\": %zu, \"batches\": %zu, \"batch\": %d, \"samples\": %zu, \"tokens\": %zu, \"seconds\": %.3f, "
           "\"samples_per_s\": %.0f, \"peak_rss_after_index_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
           threads, data.n_examples, (unsigned long long)data.sets[0].text.size, index_s,
           data.n_examples * sizeof(DataRef), plan.n_examples * sizeof *plan.examples, n_batches, batch_size, samples, tokens, dt, (double)samples / dt,
           rss_after_index, peak_rss_mib());
    free(pb.ids), free(pb.positions), free(pb.types), free(pb.cu_seqlens);
    tok_batch_free(&tb);
    data_batch_free(&batch);
    plan_free(&plan);
    train_data_close(&data);
    data_spec_free(&spec);
    cJSON_Delete(json);
    tok_free(&tok);
    return 0;
}
