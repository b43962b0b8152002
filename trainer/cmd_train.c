/* sentembed train CONFIG.json [--set key=value ...]: fine-tune a model on pairs/triplets
 * (trainer/train_config.h lists the recipe's keys) and save it as a sentence-transformers
 * directory. Progress on stderr, metrics as JSON lines in OUTPUT_DIR/metrics.jsonl. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trainer/cli.h"
#include "trainer/dataset.h"
#include "trainer/evaluator.h"
#include "trainer/st_save.h"
#include "trainer/train_config.h"

static const char USAGE[] =
    "usage: sentembed train CONFIG.json [--set KEY=VALUE ...]\n"
    "\n"
    "Fine-tunes a sentence-transformers / BERT model on the recipe's data and loss, and saves\n"
    "it as a sentence-transformers directory in output_dir (with metrics.jsonl). --set\n"
    "overrides a recipe key (dotted for nested keys: --set loss.type=mnrl --set lr=1e-4).\n"
    "Keys: model, max_seq_length, data{path,format,header,columns,label,label_map,label_scale,\n"
    "drop_labels}, loss{type,metric,margin,scale,num_labels}, batch_size, epochs, max_steps, lr,\n"
    "schedule, warmup_steps, warmup_ratio, weight_decay, max_grad_norm, seed, device, output_dir,\n"
    "log_every, eval{...data keys, every}, gradient_accumulation_steps, init (pretrained|random),\n"
    "vocab, pooling, dense{out_features,activation}, normalize, dropout.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Creates the parents of dir; fails with a message, before any training, when dir could
 * not be written there. (dir itself appears only when the finished model is saved.) */
static int check_output_parent(const char *dir, SeError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(path, sizeof path, ".");
    else if (slash == path)
        path[1] = '\0';
    else
        *slash = '\0';
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return se_fail(err, "output_dir %s: cannot create %s: %s", dir, path, strerror(errno));
    if (access(path, W_OK) != 0)
        return se_fail(err, "output_dir %s: %s is not writable: %s", dir, path, strerror(errno));
    return 0;
}

int cmd_train(int argc, char **argv)
{
    const char *config = NULL;
    const char **sets = se_xmalloc((size_t)argc * sizeof *sets);
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            free(sets);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--set"))) {
            sets[n_sets++] = v;
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
    free(sets);
    Dataset data;
    if (dataset_load(&data, r.data, config, &err))
        se_die("%s", err.msg);
    bool needs_labels = r.loss.kind != LOSS_MNRL && r.loss.kind != LOSS_TRIPLET;
    if (needs_labels && !data.label)
        se_die("%s: loss \"%s\" needs labels: set data.label", config, cJSON_GetObjectItem(cJSON_GetObjectItem(r.root, "loss"), "type")->valuestring);
    if (check_output_parent(r.output_dir, &err))
        se_die("%s", err.msg);
    Dataset eval_data = {0};
    if (r.eval && dataset_load(&eval_data, r.eval, config, &err))
        se_die("%s", err.msg);

    SentenceModel m;
    const int K = data.n_columns, B = r.batch_size;
    if (sm_load_with(&m, r.model, cli_backend(r.device), K * B, r.max_seq_length, &r.build, &err))
        se_die("%s", err.msg);
    r.train.hidden_dropout = r.dropout >= 0 ? (float)r.dropout : m.enc.cfg.hidden_dropout_prob;
    r.train.attention_dropout = r.dropout >= 0 ? (float)r.dropout : m.enc.cfg.attention_probs_dropout_prob;
    const int accum = r.train.accumulation;
    long per_epoch = (long)((data.n_rows + (size_t)B - 1) / (size_t)B); /* micro-batches */
    long updates_per_epoch = (per_epoch + accum - 1) / accum;
    long total = r.max_steps ? r.max_steps : updates_per_epoch * r.epochs; /* optimizer steps */
    r.train.total_steps = total;
    r.train.warmup_steps = r.warmup_steps ? r.warmup_steps : (long)ceil(r.warmup_ratio * (double)total);
    Trainer t;
    if (trainer_init(&t, &m, &r.loss, &r.train, K, B, &err))
        se_die("%s", err.msg);

    /* metrics go beside the output until the model is saved, then into it */
    char metrics_path[4200], final_metrics[4200];
    snprintf(metrics_path, sizeof metrics_path, "%s.metrics.jsonl.tmp.%ld", r.output_dir, (long)getpid());
    snprintf(final_metrics, sizeof final_metrics, "%s/metrics.jsonl", r.output_dir);
    FILE *metrics = fopen(metrics_path, "w");
    if (!metrics)
        se_die("%s: cannot create: %s", metrics_path, strerror(errno));
    fprintf(stderr, "training %s%s on %zu examples (%zu dropped) x %d columns: %ld steps of %d x %d, loss %s, "
            "dropout %.2g/%.2g, %s\n",
            r.model, r.build.random_init ? " (random init)" : "", data.n_rows, data.dropped, K, total, B, accum,
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.root, "loss"), "type")->valuestring, r.train.hidden_dropout,
            r.train.attention_dropout, m.ops->name);

    size_t *order = se_xmalloc(data.n_rows * sizeof *order);
    const char **texts = se_xmalloc((size_t)K * B * sizeof *texts);
    size_t *lens = se_xmalloc((size_t)K * B * sizeof *lens);
    double *labels = se_xmalloc((size_t)B * sizeof *labels), start = now_s(), loss_sum = 0;
    long step = 0, samples = 0, logged_steps = 0;
    for (int epoch = 0; step < total; epoch++) {
        /* a fresh permutation per epoch from seed + epoch */
        unsigned long long s = (unsigned long long)r.train.seed * 6364136223846793005ull + (unsigned)epoch + 1;
        for (size_t i = 0; i < data.n_rows; i++)
            order[i] = i;
        for (size_t i = data.n_rows; i > 1; i--) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t j = (size_t)((s >> 33) % i), tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (size_t b0 = 0; b0 < data.n_rows && step < total; b0 += (size_t)B) {
            int rows = (int)(data.n_rows - b0 < (size_t)B ? data.n_rows - b0 : (size_t)B);
            for (int rr = 0; rr < rows; rr++) {
                size_t row = order[b0 + (size_t)rr];
                for (int c = 0; c < K; c++) {
                    texts[c * rows + rr] = data.text[row * K + c];
                    lens[c * rows + rr] = data.len[row * K + c];
                }
                if (data.label)
                    labels[rr] = data.label[row];
            }
            if (r.loss.kind == LOSS_SOFTMAX)
                for (int rr = 0; rr < rows; rr++)
                    if (labels[rr] < 0 || labels[rr] >= r.loss.num_labels || labels[rr] != floor(labels[rr]))
                        se_die("%s: row %zu: label %g is not a class id in 0..%d (loss.num_labels)", r.data ?
                               cJSON_GetObjectItem(r.data, "path")->valuestring : config, order[b0 + (size_t)rr] + 1,
                               labels[rr], r.loss.num_labels - 1);
            double loss = trainer_step(&t, texts, lens, rows, data.label ? labels : NULL);
            samples += rows;
            if (!isfinite(loss))
                se_die("step %ld: the loss is %g (batch of data rows starting with %zu); nothing was saved",
                       t.step + 1, loss, order[b0] + 1);
            loss_sum += loss;
            logged_steps++;
            bool last_of_epoch = b0 + (size_t)B >= data.n_rows;
            if (last_of_epoch) /* an epoch ends with an update, as transformers' Trainer does */
                trainer_flush(&t);
            if (t.step == step)
                continue; /* still accumulating */
            step = t.step;
            if (step % r.log_every == 0 || step == total) {
                double el = now_s() - start, rate = (double)samples / (el > 1e-9 ? el : 1e-9);
                double eta = (double)(total - step) * el / (double)step;
                fprintf(stderr, "step %ld/%ld  epoch %d  loss %.4f  lr %.3g  grad norm %.3g  %.1f samples/s  ETA %.0fs\n",
                        step, total, epoch + 1, loss_sum / (double)logged_steps, t.last_lr, t.last_grad_norm, rate,
                        eta);
                fprintf(metrics,
                        "{\"step\": %ld, \"epoch\": %d, \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
                        "\"samples_per_s\": %.2f}\n",
                        step, epoch + 1, loss_sum / (double)logged_steps, t.last_lr, t.last_grad_norm, rate);
                fflush(metrics);
                loss_sum = 0;
                logged_steps = 0;
            }
            if (r.eval && ((r.eval_every && step % r.eval_every == 0) || step == total)) {
                EvalResult ev;
                if (evaluate(&m, &eval_data, &ev, &err))
                    se_die("%s", err.msg);
                if (eval_data.n_columns == 2) {
                    fprintf(stderr, "eval at step %ld: pearson_cosine %.4f  spearman_cosine %.4f (%zu pairs)\n", step,
                            ev.pearson, ev.spearman, ev.n);
                    fprintf(metrics, "{\"step\": %ld, \"eval_pearson_cosine\": %.6f, \"eval_spearman_cosine\": %.6f}\n",
                            step, ev.pearson, ev.spearman);
                } else {
                    fprintf(stderr, "eval at step %ld: triplet accuracy %.4f (%zu triplets)\n", step, ev.accuracy, ev.n);
                    fprintf(metrics, "{\"step\": %ld, \"eval_accuracy_cosine\": %.6f}\n", step, ev.accuracy);
                }
                fflush(metrics);
            }
        }
    }
    if (fclose(metrics) != 0)
        se_die("%s: write failed", metrics_path);
    if (st_save(&m, r.output_dir, &err))
        se_die("%s", err.msg);
    if (rename(metrics_path, final_metrics) != 0)
        se_die("%s: cannot move the metrics to %s: %s", metrics_path, final_metrics, strerror(errno));
    fprintf(stderr, "saved the trained model to %s (metrics: %s)\n", r.output_dir, final_metrics);
    free(order), free(texts), free(lens), free(labels);
    trainer_free(&t);
    sm_free(&m);
    dataset_free(&data);
    dataset_free(&eval_data);
    recipe_free(&r);
    return 0;
}
