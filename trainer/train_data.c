#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "host/hash.h"
#include "trainer/train_data.h"

static int open_shard(TrainSet *set, const DataOptions *opt, SeError *err)
{
    Shard *s = &set->shard;
    if (shard_open(s, set->spec->shard, err))
        return -1;
    set->n = (size_t)s->n_examples;
    if (set->n >= UINT32_MAX)
        return se_fail(err, "%s: more than %u examples in one shard", set->name, UINT32_MAX - 1);
    for (size_t i = 0; s->labels && opt->num_labels > 0 && i < set->n; i++) {
        double y = s->labels[i];
        if (!(y >= 0 && y < opt->num_labels && y == floor(y)))
            return se_fail(err, "%s: example %zu: label %g is not a class id in 0..%d (loss.num_labels)", set->name,
                           i + 1, y, opt->num_labels - 1);
    }
    if (opt->hash_texts) {
        const size_t K = s->n_columns;
        set->shard_hashes = se_xmalloc(set->n * K * sizeof *set->shard_hashes);
        for (size_t i = 0; i < set->n; i++)
            for (size_t c = 0; c < K; c++) {
                size_t len;
                const int32_t *ids = shard_sequence(s, i, (int)c, &len, err);
                if (!ids)
                    return -1;
                set->shard_hashes[i * K + c] = fnv1a64(FNV64_START, ids, len * sizeof *ids);
            }
    }
    return 0;
}

int train_data_open(TrainData *d, const DataSpec *specs, int n_specs, const DataOptions *opt, SeError *err)
{
    memset(d, 0, sizeof *d);
    d->sets = se_xcalloc((size_t)n_specs, sizeof *d->sets);
    for (int k = 0; k < n_specs; k++) {
        TrainSet *set = &d->sets[k];
        set->spec = &specs[k];
        set->is_shard = specs[k].shard != NULL;
        set->name = set->is_shard ? specs[k].shard : specs[k].path;
        set->text.fd = -1;
        d->n_sets = k + 1;
        int columns, labels;
        if (set->is_shard) {
            if (open_shard(set, opt, err))
                goto fail;
            columns = (int)set->shard.n_columns, labels = set->shard.has_label != 0;
        } else {
            if (data_source_open(&set->text, &specs[k], opt, err))
                goto fail;
            set->n = set->text.n;
            columns = specs[k].n_columns, labels = specs[k].has_label;
            d->dropped += set->text.dropped, d->skipped += set->text.skipped;
        }
        if (k == 0) {
            d->n_columns = columns, d->has_label = labels;
        } else if (columns != d->n_columns || labels != d->has_label) {
            se_fail(err, "%s: key \"%s\" (%s): %d text column(s) %s a label, but %s has %d %s a label: every "
                    "dataset of a run must give the same number of text columns, and labels all or none",
                    specs[k].config, specs[k].key, set->name, columns, labels ? "and" : "without", specs[0].key,
                    d->n_columns, d->has_label ? "and" : "without");
            goto fail;
        }
        d->n_examples += set->n;
    }
    return 0;
fail:
    train_data_close(d);
    return -1;
}

int train_data_check_tokenizer(const TrainData *d, const Tokenizer *t, int max_seq_length, SeError *err)
{
    for (int k = 0; k < d->n_sets; k++)
        if (d->sets[k].is_shard && shard_check_tokenizer(&d->sets[k].shard, t, max_seq_length, err))
            return -1;
    return 0;
}

void train_data_plan_sets(const TrainData *d, PlanSet *out)
{
    for (int k = 0; k < d->n_sets; k++) {
        const TrainSet *set = &d->sets[k];
        out[k] = (PlanSet){set->n, set->is_shard ? set->shard_hashes : set->text.text_hash, d->n_columns};
    }
}

void train_data_close(TrainData *d)
{
    for (int k = 0; k < d->n_sets; k++) {
        TrainSet *set = &d->sets[k];
        if (set->is_shard)
            shard_close(&set->shard);
        else
            data_source_close(&set->text);
        free(set->shard_hashes);
    }
    free(d->sets);
    memset(d, 0, sizeof *d);
}

static void batch_reserve(DataBatch *b, const TrainData *d, int rows, int threads)
{
    const int K = d->n_columns;
    if (!b->parsers) {
        b->n_threads = threads > 0 ? threads : omp_get_max_threads();
        b->parsers_for = d->n_sets;
        b->parsers = se_xcalloc((size_t)d->n_sets * (size_t)b->n_threads, sizeof *b->parsers);
        for (int s = 0; s < d->n_sets; s++)
            for (int k = 0; k < b->n_threads && !d->sets[s].is_shard; k++)
                data_source_parser(&d->sets[s].text, &b->parsers[s * b->n_threads + k]);
        b->arena = se_xcalloc((size_t)b->n_threads, sizeof *b->arena);
        b->arena_cap = se_xcalloc((size_t)b->n_threads, sizeof *b->arena_cap);
    }
    if (rows > b->cap_rows) {
        size_t n = (size_t)rows * (size_t)K;
        b->cap_rows = rows;
        b->texts = se_xrealloc(b->texts, n * sizeof *b->texts);
        b->lens = se_xrealloc(b->lens, n * sizeof *b->lens);
        b->ids = se_xrealloc(b->ids, n * sizeof *b->ids);
        b->id_lens = se_xrealloc(b->id_lens, n * sizeof *b->id_lens);
        b->text_at = se_xrealloc(b->text_at, n * sizeof *b->text_at);
        b->labels = se_xrealloc(b->labels, (size_t)rows * sizeof *b->labels);
        b->where = se_xrealloc(b->where, (size_t)rows * sizeof *b->where);
        b->owner = se_xrealloc(b->owner, (size_t)rows * sizeof *b->owner);
    }
}

/* Rows [r0, r1) of a text batch, read by thread k into its arena. */
static int read_rows(DataBatch *b, const TrainSet *set, const uint32_t *examples, int r0, int r1, int k, SeError *err)
{
    const int K = b->n_columns, rows = b->rows;
    RowParser *p = &b->parsers[b->set * b->n_threads + k];
    size_t used = 0;
    for (int r = r0; r < r1; r++) {
        DataExample ex;
        if (data_source_read(&set->text, p, examples[r], &ex, err))
            return -1;
        for (int c = 0; c < K; c++) { /* copied: the parser's buffers belong to the next row */
            if (used + ex.len[c] > b->arena_cap[k]) {
                b->arena_cap[k] = (used + ex.len[c]) * 2 + 4096;
                b->arena[k] = se_xrealloc(b->arena[k], b->arena_cap[k]);
            }
            memcpy(b->arena[k] + used, ex.text[c], ex.len[c]);
            b->text_at[c * rows + r] = used;
            b->lens[c * rows + r] = ex.len[c];
            used += ex.len[c];
        }
        b->labels[r] = ex.label;
        b->where[r] = set->text.refs[examples[r]].line;
        b->owner[r] = k;
    }
    return 0;
}

int data_batch_read(DataBatch *b, const TrainData *d, const EpochPlan *p, size_t batch, int threads, SeError *err)
{
    const PlanBatch *pb = &p->batches[batch];
    const TrainSet *set = &d->sets[pb->set];
    const uint32_t *examples = p->examples + pb->first;
    const int rows = (int)pb->rows, K = d->n_columns;
    batch_reserve(b, d, rows, threads);
    b->rows = rows, b->n_columns = K, b->set = (int)pb->set, b->pretokenized = set->is_shard;
    if (set->is_shard) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < K; c++)
                if (!(b->ids[c * rows + r] = shard_sequence(&set->shard, examples[r], c, &b->id_lens[c * rows + r], err)))
                    return -1;
            b->labels[r] = set->shard.labels ? set->shard.labels[examples[r]] : 0;
            b->where[r] = (size_t)examples[r] + 1;
        }
        return 0;
    }
    int nt = b->n_threads < rows ? b->n_threads : rows, failed = 0;
    SeError first_err;
    if (nt <= 1) {
        failed = read_rows(b, set, examples, 0, rows, 0, &first_err);
    } else {
#pragma omp parallel num_threads(nt) reduction(| : failed)
        {
            int k = omp_get_thread_num(), n = omp_get_num_threads();
            SeError e;
            if (read_rows(b, set, examples, rows * k / n, rows * (k + 1) / n, k, &e)) {
                failed = 1;
#pragma omp critical(data_batch_error)
                first_err = e;
            }
        }
    }
    if (failed) {
        *err = first_err;
        return -1;
    }
    for (int c = 0; c < K; c++)
        for (int r = 0; r < rows; r++)
            b->texts[c * rows + r] = b->arena[b->owner[r]] + b->text_at[c * rows + r];
    return 0;
}

void data_batch_free(DataBatch *b)
{
    for (int i = 0; b->parsers && i < b->parsers_for * b->n_threads; i++)
        if (b->parsers[i].spec)
            row_parser_free(&b->parsers[i]);
    for (int k = 0; b->arena && k < b->n_threads; k++)
        free(b->arena[k]);
    free(b->parsers), free(b->arena), free(b->arena_cap);
    free(b->texts), free(b->lens), free(b->ids), free(b->id_lens), free(b->text_at);
    free(b->labels), free(b->where), free(b->owner);
    memset(b, 0, sizeof *b);
}
