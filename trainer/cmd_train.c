/* sentembed train CONFIG.json [--set key=value ...]: fine-tune a model on pairs/triplets
 * (trainer/train_config.h lists the recipe's keys) and save it as a sentence-transformers
 * directory. Progress on stderr, metrics as JSON lines in OUTPUT_DIR/metrics.jsonl. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/clock.h"
#include "host/dist.h"
#include "host/hash.h"
#include "host/json_util.h"
#include "trainer/checkpoint.h"
#include "trainer/cli.h"
#include "trainer/dataset.h"
#include "trainer/evaluator.h"
#include "trainer/output_dir.h"
#include "trainer/prefetch.h"
#include "trainer/st_save.h"
#include "trainer/train_config.h"
#include "trainer/train_data.h"

static const char USAGE[] =
    "usage: sentembed train CONFIG.json [--set KEY=VALUE ...]\n"
    "\n"
    "Fine-tunes a sentence-transformers / BERT model on the recipe's data and loss, and saves\n"
    "it as a sentence-transformers directory in output_dir (with metrics.jsonl). --set\n"
    "overrides a recipe key (dotted for nested keys: --set loss.type=mnrl --set lr=1e-4).\n"
    "Keys: model, max_seq_length, data{path,format,header,columns,label,label_map,label_scale,\n"
    "drop_labels} or data{shard} or a list of them, sampling (proportional|round_robin),\n"
    "batch_sampler (default|no_duplicates), drop_last, on_bad_row (error|skip),\n"
    "loss{type,metric,margin,scale,num_labels}, batch_size, epochs, max_steps, lr,\n"
    "schedule, warmup_steps, warmup_ratio, weight_decay, max_grad_norm, seed, device, output_dir,\n"
    "log_every, eval{...data keys, every}, gradient_accumulation_steps, init (pretrained|random),\n"
    "vocab, pooling, dense{out_features,activation}, normalize, dropout, checkpoint{every,keep},\n"
    "on_nan (stop|skip).\n"
    "\n"
    "  --resume DIR|latest   continue a run from a checkpoint (latest: the newest complete one\n"
    "                        under output_dir/checkpoints); the recipe must be the same\n"
    "  --on-bad-row MODE     error (default) or skip: bad data rows are left out and counted\n"
    "                        (the same as --set on_bad_row=MODE)\n"
    "  --overwrite-output-dir  start over in an output_dir that holds an earlier run's model\n"
    "                        or checkpoints: its checkpoints are removed at start, the\n"
    "                        model's files replaced by the final save (other files stay)\n"
    "  --stop-at STEP        write a checkpoint after optimizer step STEP and exit 0 (as if\n"
    "                        preempted). SIGTERM or SIGINT do the same after the current\n"
    "                        step and exit with 128 + the signal (143, 130), as schedulers\n"
    "                        expect of a stopped job; a second SIGINT exits at once.\n"
    "\n"
    "output_dir must be new, empty, or written by sentembed; it is checked and locked before\n"
    "the first step (one trainer per directory), and never a directory holding other files,\n"
    "the current directory or the model being fine-tuned.\n";

/* SIGTERM / SIGINT: finish the step, checkpoint, exit. A second SIGINT: exit at once (the
 * last complete checkpoint stays as it was: checkpoints are renamed into place whole). */
static volatile sig_atomic_t stop_signal, sigint_count;

static void on_signal(int sig)
{
    if (sig == SIGINT && ++sigint_count >= 2)
        _exit(130);
    stop_signal = sig;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Consecutive all-zero steps before the run says it is learning nothing. */
enum { ZERO_STEPS_WARN = 10 };

/* A --set value for the "continue with" line, quoted for a POSIX shell when it needs it. */
static void print_shell_word(FILE *f, const char *w)
{
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++)
        if (*w == '\'')
            fputs("'\\''", f);
        else
            fputc(*w, f);
    fputc('\'', f);
}

/* Bytes the run writes into output_dir: the final model and the checkpoints alive at once
 * (the kept ones and the one being written). */
static uint64_t output_bytes_needed(const SentenceModel *m, const Trainer *t, const TrainRecipe *r, long total)
{
    uint64_t params = (uint64_t)m->enc.n_params +
                      (m->pipe.has_dense ? (uint64_t)m->pipe.dense_out * ((uint64_t)m->pipe.dense_in + 1) : 0);
    uint64_t model = params * sizeof(float) + (16u << 20); /* weights, vocab and configs */
    uint64_t classifier = t->loss.kind == LOSS_SOFTMAX ? (uint64_t)t->loss.num_labels * (3u * m->out_dim + 1) : 0;
    uint64_t checkpoint = model + 2 * (params + classifier) * sizeof(float);
    uint64_t alive = 0;
    if (r->checkpoint_every) {
        alive = (uint64_t)(total / r->checkpoint_every) + 1;
        if (r->checkpoint_keep > 0 && alive > (uint64_t)r->checkpoint_keep + 1)
            alive = (uint64_t)r->checkpoint_keep + 1;
    }
    return model + alive * checkpoint;
}

/* Copies the metrics of a checkpoint into the run's metrics file (a resumed run continues them). */
static void continue_metrics(const char *checkpoint, FILE *metrics)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", checkpoint);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, metrics);
    fclose(f);
    fflush(metrics);
}

int cmd_train(int argc, char **argv)
{
    const char *config = NULL, *resume = NULL;
    long stop_at = -1;
    bool overwrite = false;
    const char **sets = se_xmalloc(((size_t)argc + 1) * sizeof *sets);
    char on_bad_row[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            free(sets);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--set"))) {
            sets[n_sets++] = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--on-bad-row"))) {
            snprintf(on_bad_row, sizeof on_bad_row, "on_bad_row=%s", v); /* part of the recipe (and its hash) */
            sets[n_sets++] = on_bad_row;
        } else if (!strcmp(argv[i], "--overwrite-output-dir")) {
            overwrite = true;
        } else if ((v = cli_option_value(argc, argv, &i, "--resume"))) {
            resume = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--stop-at"))) {
            stop_at = cli_parse_long(v, "--stop-at", 1, 1L << 40);
        } else if (argv[i][0] != '-' && !config) {
            config = argv[i];
        } else {
            fprintf(stderr, "sentembed train: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            free(sets);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "sentembed train: error: CONFIG.json is required\n\n%s", USAGE);
        free(sets);
        return 2;
    }
    TrainRecipe r;
    SeError err;
    if (recipe_load(&r, config, sets, n_sets, &err))
        se_die("%s", err.msg);
    /* Data parallelism: every rank runs this same function on its share of each global batch
     * (batch_size rows per rank); rank 0 alone writes logs, metrics, checkpoints and the model. */
    const int rank = dist_rank(), world = dist_world();
    const bool lead = rank == 0;
    /* the recipe with its global batch: a run may continue with another number of ranks
     * that keeps batch_size x ranks (the plan, the position and the dropout masks are
     * global), and only so */
    const uint64_t config_hash = recipe_hash(&r, world);
    dist_check_same(config_hash, "recipe hash (the recipe, its --set options and batch_size x ranks)");
    /* before anything slow: a wrong output_dir is found now, not after hours of training */
    OutputDir out = {.lock_fd = -1};
    snprintf(out.path, sizeof out.path, "%s", r.output_dir);
    const OutputDirOptions out_opt = {r.model, overwrite, resume != NULL, config_hash};
    if (lead && output_dir_open(&out, r.output_dir, &out_opt, &err))
        se_die("%s", err.msg);
    char checkpoint[4300] = "";
    if (resume && lead) {
        if (!strcmp(resume, "latest")) {
            if (checkpoint_latest(r.output_dir, checkpoint, sizeof checkpoint, &err))
                se_die("--resume latest: %s", err.msg);
        } else {
            snprintf(checkpoint, sizeof checkpoint, "%s", resume);
            if (checkpoint_verify(checkpoint, &err))
                se_die("--resume %s: %s", resume, err.msg);
        }
    }
    dist_broadcast(checkpoint, sizeof checkpoint, 0); /* the one rank 0 verified */
    TrainData data;
    const DataOptions data_opt = {r.skip_bad_rows, r.loss.kind == LOSS_SOFTMAX ? r.loss.num_labels : 0,
                                  r.sampler == SAMPLER_NO_DUPLICATES};
    if (train_data_open(&data, r.data, r.n_data, &data_opt, &err))
        se_die("%s", err.msg);
    bool needs_labels = r.loss.kind != LOSS_MNRL && r.loss.kind != LOSS_TRIPLET;
    const char *loss_name = cJSON_GetObjectItem(cJSON_GetObjectItem(r.root, "loss"), "type")->valuestring;
    if (needs_labels && !data.has_label)
        se_die("%s: loss \"%s\" needs labels: set data.label", config, loss_name);
    Dataset eval_data = {0};
    if (r.eval && dataset_load(&eval_data, &r.eval_spec, &err))
        se_die("%s", err.msg);

    SentenceModel m;
    const int K = data.n_columns, B = r.batch_size;
    char context[256];
    snprintf(context, sizeof context, "training with batch size %d (x %d columns), max_seq_length %d", B, K,
             r.max_seq_length);
    ops_cuda_set_alloc_context(context);
    /* With several ranks the collectives pick the device: NCCL on a GPU (which chooses the
     * rank's GPU, before the backend starts on it), else MPI on the CPU. */
    const Collectives *coll = NULL;
    const Ops *ops;
    if (world > 1) {
        char why[512] = "";
        if (strcmp(r.device, "cpu") != 0)
            coll = collectives_cuda(why, sizeof why);
        if (!coll && !strcmp(r.device, "cuda"))
            se_die("device cuda with %d ranks: %s", world, why);
        if (!coll && lead && strcmp(r.device, "auto") == 0 && why[0])
            fprintf(stderr, "sentembed: %d ranks on the CPU (%s)\n", world, why);
        ops = coll ? cli_backend("cuda") : ops_cpu();
        if (!coll)
            coll = collectives_cpu();
    } else {
        ops = cli_backend(r.device);
    }
    /* a checkpoint is a complete model directory: it is loaded as saved */
    if (checkpoint[0] ? sm_load(&m, checkpoint, ops, K * B, r.max_seq_length, &err)
                      : sm_load_with(&m, r.model, ops, K * B, r.max_seq_length, &r.build, &err))
        se_die("%s", err.msg);
    if (train_data_check_tokenizer(&data, &m.tok, m.max_seq_length, &err))
        se_die("%s", err.msg);
    r.train.hidden_dropout = r.dropout >= 0 ? (float)r.dropout : m.enc.cfg.hidden_dropout_prob;
    r.train.attention_dropout = r.dropout >= 0 ? (float)r.dropout : m.enc.cfg.attention_probs_dropout_prob;
    const int accum = r.train.accumulation;
    PlanSet *plan_sets = se_xmalloc((size_t)data.n_sets * sizeof *plan_sets);
    train_data_plan_sets(&data, plan_sets);
    /* one plan of global batches, the same on every rank; each takes its share */
    const PlanConfig plan_cfg = {B * world, r.drop_last, r.sampler, r.sampling, r.train.seed};
    long per_epoch = (long)plan_nominal_batches(plan_sets, data.n_sets, &plan_cfg); /* micro-batches */
    if (per_epoch == 0)
        se_die("%s: an epoch has no batch: %zu examples, batch_size %d%s", config, data.n_examples, B,
               r.drop_last ? " and drop_last (only full batches)" : "");
    long updates_per_epoch = (per_epoch + accum - 1) / accum;
    long total = r.max_steps ? r.max_steps : updates_per_epoch * r.epochs; /* optimizer steps */
    r.train.total_steps = total;
    r.train.warmup_steps = r.warmup_steps ? r.warmup_steps : (long)ceil(r.warmup_ratio * (double)total);
    Trainer t;
    if (trainer_init(&t, &m, &r.loss, &r.train, K, B, &err))
        se_die("%s", err.msg);
    trainer_set_collectives(&t, coll, rank, world);
    if (world > 1) {
        const uint64_t shapes[] = {m.enc.n_params, (uint64_t)m.out_dim, (uint64_t)m.pipe.has_dense,
                                   (uint64_t)r.loss.num_labels, (uint64_t)m.tok.vocab.size};
        dist_check_same(fnv1a64(FNV64_START, shapes, sizeof shapes), "model shapes (parameters, dimensions, vocabulary)");
    }
    /* The activations grow with the longest batch seen: say now, not hours into the run,
     * when the longest possible one would not fit. */
    if (m.ops->mem_info) {
        size_t free_bytes = 0, total_bytes = 0;
        m.ops->mem_info(&free_bytes, &total_bytes);
        const size_t worst = encoder_train_arena_bytes(&m.enc, t.et.max_tokens);
        if (worst > free_bytes)
            fprintf(stderr,
                    "sentembed: warning: a batch whose %d x %d texts all reach max_seq_length %d would need %.1f GiB "
                    "of activations, and %.1f GiB of the GPU's %.1f GiB are free: a long batch may run out of "
                    "memory (a smaller batch_size or max_seq_length is safe)\n",
                    B, K, m.max_seq_length, worst / 1073741824.0, free_bytes / 1073741824.0,
                    total_bytes / 1073741824.0);
    }
    if (lead && output_dir_check_space(&out, output_bytes_needed(&m, &t, &r, total), &err))
        se_die("%s", err.msg);
    TrainPosition pos = {0, 0, 0, 0, config_hash};
    if (checkpoint[0]) {
        if (checkpoint_read_state(checkpoint, &t, &pos, &err))
            se_die("%s", err.msg);
        if (pos.config_hash != config_hash)
            se_die("--resume %s: the checkpoint was written by another recipe (only output_dir, log_every, eval, "
                   "device, checkpoint and on_nan may change when resuming)", checkpoint);
        if (lead)
            fprintf(stderr, "resuming from %s: step %ld, epoch %ld\n", checkpoint, pos.step, pos.epoch + 1);
    }
    trainer_broadcast_weights(&t); /* rank 0's initial (or resumed) weights, classifier included */

    /* live metrics in the output directory, copied into the model by the final save */
    char metrics_path[4200], final_metrics[4200];
    snprintf(metrics_path, sizeof metrics_path, "%s/" OUTPUT_RUNNING_METRICS, out.path);
    snprintf(final_metrics, sizeof final_metrics, "%s/metrics.jsonl", out.path);
    FILE *metrics = lead ? fopen(metrics_path, "w") : NULL;
    if (lead && !metrics)
        se_die("%s: cannot create: %s", metrics_path, strerror(errno));
    if (lead && checkpoint[0])
        continue_metrics(checkpoint, metrics);
    char skipped_rows[64] = "";
    if (r.skip_bad_rows)
        snprintf(skipped_rows, sizeof skipped_rows, ", %zu bad rows skipped", data.skipped);
    char ranks[96] = "";
    if (world > 1)
        snprintf(ranks, sizeof ranks, " x %d ranks (%d rows per step; %s)", world, B * world * accum, coll->name);
    if (lead)
        fprintf(stderr, "training %s%s on %zu examples (%zu dropped%s) x %d columns: %ld steps of %d x %d%s, loss %s, "
                "dropout %.2g/%.2g, %s\n",
                r.model, r.build.random_init ? " (random init)" : "", data.n_examples, data.dropped, skipped_rows, K,
                total, B, accum, ranks, loss_name, r.train.hidden_dropout, r.train.attention_dropout, m.ops->name);
    for (int k = 0; k < data.n_sets && lead; k++)
        if (data.sets[k].text.skipped)
            fprintf(stderr, "sentembed: warning: %zu bad rows of %s skipped (on_bad_row: skip); the first: %s\n",
                    data.sets[k].text.skipped, data.sets[k].name, data.sets[k].text.first_skipped);
    install_signal_handlers();

    EpochPlan plan = {0};
    uint32_t *global_rows = NULL; /* world > 1: the rows of each global batch of the plan */
    Prefetch input;
    const bool threaded_input = r.prefetch >= 0 ? r.prefetch == 1 : strcmp(m.ops->name, "cpu") != 0;
    prefetch_init(&input, &data, &m, B, threaded_input);
    double start = se_now_s(), loss_sum = 0;
    long step = t.step, samples = 0, logged_steps = 0, skipped = 0, start_step = t.step;
    int exit_code = 0;
    /* optimizer steps in a row whose loss and gradient were exactly zero: nothing is learned */
    long zero_steps = 0, zero_total = 0;
    bool zero_step = true, zero_warned = false;
    /* max_steps decides alone; otherwise `epochs` epochs (a no_duplicates plan may hold a
     * few more batches than the schedule counted) */
    for (long epoch = pos.epoch; step < total && (r.max_steps || epoch < r.epochs); epoch++) {
        prefetch_end(&input);
        plan_free(&plan);
        plan_build(&plan, plan_sets, data.n_sets, &plan_cfg, epoch);
        if (plan.n_batches == 0)
            se_die("%s: epoch %ld has no batch (drop_last)", config, epoch + 1);
        if (r.sampler == SAMPLER_NO_DUPLICATES && lead) { /* deferred repeats make some batches short */
            uint32_t lo = UINT32_MAX, hi = 0;
            size_t rows = 0;
            for (size_t b = 0; b < plan.n_batches; b++) {
                lo = plan.batches[b].rows < lo ? plan.batches[b].rows : lo;
                hi = plan.batches[b].rows > hi ? plan.batches[b].rows : hi;
                rows += plan.batches[b].rows;
            }
            const double mean = (double)rows / (double)plan.n_batches;
            fprintf(stderr, "no_duplicates: epoch %ld has %zu batches of %.1f samples on average (%u to %u; batch_size "
                    "%d), %.1f samples per optimizer step, %zu of %zu examples used\n", epoch + 1, plan.n_batches,
                    mean, lo, hi, B, mean * accum, rows, plan.n_examples);
        }
        if (world > 1) {
            global_rows = se_xrealloc(global_rows, plan.n_batches * sizeof *global_rows);
            size_t left_out = plan_take_share(&plan, rank, world, global_rows);
            if (left_out && lead)
                fprintf(stderr, "sentembed: warning: epoch %ld: %zu batch(es) with fewer rows than ranks left out\n",
                        epoch + 1, left_out);
        }
        size_t first = epoch == pos.epoch ? (size_t)pos.batch_start : 0;
        prefetch_begin(&input, &plan, first);
        for (size_t bi = first; bi < plan.n_batches && step < total; bi++) {
            PrefetchSlot *slot = prefetch_take(&input);
            if (slot->rc)
                se_die("%s", slot->err.msg);
            const DataBatch *batch = &slot->batch; /* ours until released */
            const int rows = batch->rows;
            const double *labels = data.has_label ? batch->labels : NULL;
            const char *data_path = data.sets[batch->set].name;
            /* this rank's share of the global batch's mean loss and gradient */
            t.first_row = world > 1 ? plan_share_first(global_rows[bi], rank, world) : 0;
            t.global_rows = world > 1 ? (int64_t)global_rows[bi] : rows;
            double loss = trainer_step_packed(&t, &slot->pb, rows, labels);
            if (world > 1) { /* the global batch's loss: every rank decides on the same value */
                loss *= (double)rows / (double)global_rows[bi];
                dist_all_reduce_sum_f64(&loss, 1);
            }
            samples += world > 1 ? (long)global_rows[bi] : rows;
            bool last_of_epoch = bi + 1 == plan.n_batches;
            int update = t.last_update;
            if (isfinite(loss) && update == 0 && last_of_epoch) /* an epoch ends with an update, as transformers' Trainer does */
                update = trainer_flush(&t);
            if (!isfinite(loss) || update < 0) {
                char rows_list[256] = ""; /* the rows by line (a shard's by example number) */
                for (int rr = 0, o = 0; rr < rows && o < 200; rr++)
                    o += snprintf(rows_list + o, sizeof rows_list - (size_t)o, "%s%zu", rr ? ", " : "",
                                  batch->where[rr]);
                const char *what = !isfinite(loss) ? "the loss" : "the gradient norm";
                double value = !isfinite(loss) ? loss : t.last_grad_norm;
                if (!r.skip_nan)
                    se_die("step %ld: %s is %g (batch of %s rows %s); stopped without saving (on_nan: stop; the "
                           "checkpoints written so far are intact)", t.step + 1, what, value, data_path, rows_list);
                fprintf(stderr, "sentembed: warning: step %ld: %s is %g (batch of %s rows %s); step skipped\n",
                        t.step + 1, what, value, data_path, rows_list);
                trainer_discard(&t);
                skipped++;
                prefetch_release(&input, slot);
                continue;
            }
            /* everything below uses the batch's rows no more */
            prefetch_release(&input, slot);
            loss_sum += loss;
            zero_step = zero_step && loss == 0.0;
            logged_steps++;
            if (t.step == step)
                continue; /* still accumulating */
            step = t.step;
            zero_step = zero_step && t.last_grad_norm == 0.0;
            zero_steps = zero_step ? zero_steps + 1 : 0;
            zero_total += zero_step;
            zero_step = true;
            if (zero_steps == ZERO_STEPS_WARN && !zero_warned && lead) {
                fprintf(stderr, "sentembed: warning: steps %ld-%ld: the loss and the gradient were exactly 0 in %d steps "
                        "in a row: the model learns nothing from this data (identical texts in every pair? a margin "
                        "that every example already satisfies?)\n", step - ZERO_STEPS_WARN + 1, step, ZERO_STEPS_WARN);
                zero_warned = true;
            }
            if (lead && (step % r.log_every == 0 || step == total)) {
                double el = se_now_s() - start, rate = (double)samples / (el > 1e-9 ? el : 1e-9);
                double eta = (double)(total - step) * el / (double)(step - start_step);
                fprintf(stderr, "step %ld/%ld  epoch %ld  loss %.4f  lr %.3g  grad norm %.3g  %.1f samples/s  ETA %.0fs\n",
                        step, total, epoch + 1, loss_sum / (double)logged_steps, t.last_lr, t.last_grad_norm, rate,
                        eta);
                fprintf(metrics, "{\"step\": %ld, \"epoch\": %ld, \"loss\": ", step, epoch + 1);
                json_fprint_number(metrics, "%.9g", loss_sum / (double)logged_steps); /* null, never a bare nan */
                fprintf(metrics, ", \"lr\": %.6g, \"grad_norm\": ", t.last_lr);
                json_fprint_number(metrics, "%.6g", t.last_grad_norm);
                fprintf(metrics, ", \"samples_per_s\": %.2f, \"samples\": %ld, \"elapsed_s\": %.4f, \"input_waits\": %ld, "
                        "\"input_wait_s\": %.4f}\n", rate, samples, el, input.waits, input.wait_s);
                fflush(metrics);
                loss_sum = 0;
                logged_steps = 0;
            }
            if (lead && r.eval && ((r.eval_every && step % r.eval_every == 0) || step == total)) {
                EvalResult ev;
                if (evaluate(&m, &eval_data, &ev, &err))
                    se_die("%s", err.msg);
                if (eval_data.n_columns == 2) {
                    fprintf(stderr, "eval at step %ld: pearson_cosine %.4f  spearman_cosine %.4f (%zu pairs)\n", step,
                            ev.pearson, ev.spearman, ev.n);
                    if (ev.undefined)
                        fprintf(stderr, "sentembed: warning: eval at step %ld: the correlations are undefined (%s): "
                                "written as null\n", step, ev.undefined);
                    fprintf(metrics, "{\"step\": %ld, \"eval_pearson_cosine\": ", step);
                    json_fprint_number(metrics, "%.6f", ev.pearson);
                    fputs(", \"eval_spearman_cosine\": ", metrics);
                    json_fprint_number(metrics, "%.6f", ev.spearman);
                    if (ev.undefined)
                        fprintf(metrics, ", \"eval_undefined\": \"%s\"", ev.undefined);
                    fputs("}\n", metrics);
                } else {
                    fprintf(stderr, "eval at step %ld: triplet accuracy %.4f (%zu triplets)\n", step, ev.accuracy, ev.n);
                    fprintf(metrics, "{\"step\": %ld, \"eval_accuracy_cosine\": %.6f}\n", step, ev.accuracy);
                }
                fflush(metrics);
            }
            int sig = stop_signal;
            if (world > 1) { /* a signal to any rank stops every rank after this same step */
                int64_t got[2] = {sig == SIGTERM, sig == SIGINT};
                dist_all_reduce_sum_i64(got, 2);
                sig = got[1] ? SIGINT : got[0] ? SIGTERM : 0;
            }
            bool stop = sig || step == stop_at;
            if (stop || (r.checkpoint_every && step % r.checkpoint_every == 0) || (step == total && r.checkpoint_every)) {
                pos.step = t.step, pos.micro_steps = t.micro_steps;
                pos.epoch = last_of_epoch ? epoch + 1 : epoch;
                pos.batch_start = last_of_epoch ? 0 : bi + 1;
                char written[4300];
                if (lead) { /* the ranks' states are identical: one copy */
                    fflush(metrics);
                    if (checkpoint_write(r.output_dir, &t, &pos, metrics_path, r.checkpoint_keep, written,
                                         sizeof written, &err))
                        se_die("%s", err.msg);
                    fprintf(stderr, "checkpoint: %s\n", written);
                }
                if (stop) {
                    exit_code = sig ? 128 + sig : 0;
                    if (!lead)
                        goto done;
                    /* the same recipe, --set options included: anything else is another run */
                    char launch[32] = "";
                    if (world > 1)
                        snprintf(launch, sizeof launch, "mpirun -np %d ", world);
                    fprintf(stderr, "stopped after step %ld (%s); continue with: %ssentembed train ", step,
                            sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "--stop-at", launch);
                    print_shell_word(stderr, config);
                    for (int k = 0; k < n_sets; k++) {
                        fputs(" --set ", stderr);
                        print_shell_word(stderr, sets[k]);
                    }
                    fputs(" --resume latest\n", stderr);
                    fclose(metrics);
                    remove(metrics_path); /* the checkpoint carries the metrics so far */
                    goto done;
                }
            }
        }
    }
    prefetch_end(&input);
    if (!lead)
        goto done;
    if (zero_warned)
        fprintf(stderr, "sentembed: warning: %ld of %ld steps had a loss and a gradient of exactly 0\n", zero_total,
                step - start_step);
    if (skipped)
        fprintf(stderr, "%ld step(s) skipped for a NaN or inf loss or gradient (on_nan: skip)\n", skipped);
    if (input.threaded)
        fprintf(stderr, "input pipeline: the step waited for its batch %ld time(s), %.3f s in all\n", input.waits,
                input.wait_s);
    if (fclose(metrics) != 0)
        se_die("%s: write failed", metrics_path);
    const ModelSaveInfo save_info = {metrics_path, step, config_hash};
    if (st_save(&m, out.path, &save_info, &err))
        se_die("%s", err.msg);
    fprintf(stderr, "saved the trained model to %s (metrics: %s)\n", out.path, final_metrics);
done:
    output_dir_close(&out);
    free(global_rows);
    free(sets);
    prefetch_free(&input);
    plan_free(&plan), free(plan_sets);
    trainer_free(&t);
    sm_free(&m);
    train_data_close(&data);
    dataset_free(&eval_data);
    recipe_free(&r);
    return exit_code;
}
