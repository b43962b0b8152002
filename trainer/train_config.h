/* The JSON recipe of `sentembed train`, with --set overrides. Every key is known: an
 * unknown one is an error that names it and suggests the closest valid key.
 *
 *   model            model directory (sentence-transformers or Hugging Face BERT)
 *   max_seq_length   tokens per text (default: the model's)
 *   data             a data spec {path, format (tsv|csv|jsonl), header, columns, label,
 *                    label_map, label_scale, drop_labels} or {shard}: see trainer/data_spec.h;
 *                    or a list of them (every batch from one dataset; they must give the
 *                    same columns and all have labels or none)
 *   sampling         several datasets: proportional (default) | round_robin, as
 *                    sentence-transformers' multi_dataset_batch_sampler (trainer/batch_plan.h)
 *   batch_sampler    default | no_duplicates (no text twice in a batch: in-batch negatives)
 *   drop_last        leave out batches that are not full (default false)
 *   prefetch         read and tokenize the next batch on a worker thread while the step runs
 *                    (default: true on cuda, false on cpu, where the step has every core;
 *                    it changes no result, see trainer/prefetch.h)
 *   on_bad_row       error (default: the first bad row stops the run with its message) |
 *                    skip (bad rows are left out and counted; --on-bad-row on the command line)
 *   loss             {type: mnrl|triplet|cosine_similarity|cosent|contrastive|softmax|
 *                     online_contrastive|batch_hard_triplet,
 *                     metric (triplet: euclidean|cosine|manhattan), margin, scale, num_labels}
 *   batch_size (16), epochs (1), max_steps (0: epochs decide), lr (2e-5),
 *   schedule (warmuplinear), warmup_steps or warmup_ratio (0), weight_decay (0.01),
 *   max_grad_norm (1), seed (42), device (cpu), output_dir, log_every (10),
 *   gradient_accumulation_steps (1: micro-batches of batch_size per optimizer step)
 *   init             pretrained (default: the model's weights) | random (BERT init from the
 *                    model directory's config.json; it needs no weights)
 *   vocab            a vocab.txt for a model directory without tokenizer files
 *   pooling          mean | cls | max | mean_sqrt_len_tokens (default: the model's)
 *   dense            {out_features, activation (tanh|identity)}: a Dense layer added on top
 *   normalize        true / false: add or drop the Normalize module (default: the model's)
 *   dropout          hidden and attention-probability dropout in training (default: the
 *                    model config's hidden_dropout_prob / attention_probs_dropout_prob, as
 *                    sentence-transformers trains; 0 turns it off)
 *   checkpoint       {every: N optimizer steps (0: only at the end and on a signal),
 *                    keep: K newest (3; 0 keeps all)}: see trainer/checkpoint.h
 *   on_nan           stop (default: report the step and the batch's rows, exit 1) | skip
 *                    (drop that optimizer step and go on; skipped steps are counted)
 *   eval             a data spec with 2 columns + label (similarity) or 3 (triplets), and
 *                    "every": N steps (and at the end), logged with the training metrics */
#ifndef SENTEMBED_TRAIN_CONFIG_H
#define SENTEMBED_TRAIN_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/error.h"
#include "trainer/batch_plan.h"
#include "trainer/data_spec.h"
#include "trainer/trainer.h"

typedef struct {
    cJSON *root; /* owns the strings below */
    const char *model, *output_dir, *device;
    int max_seq_length, batch_size, epochs, log_every;
    long max_steps, warmup_steps;
    double warmup_ratio;
    DataSpec *data;    /* [n_data] */
    int n_data;
    char *data_keys;   /* their names in messages ("data", "data[1]") */
    const cJSON *eval; /* NULL, or a data spec (+ "every": steps; 0: only at the end) */
    DataSpec eval_spec;
    long eval_every;
    LossConfig loss;
    TrainConfig train;
    SmBuild build;  /* init, vocab, pooling, dense, normalize */
    double dropout; /* -1: the model config's rates */
    long checkpoint_every;
    int checkpoint_keep;
    bool skip_nan;
    MultiSampling sampling;
    BatchSamplerKind sampler;
    bool drop_last, skip_bad_rows;
    int prefetch; /* -1: by device */
} TrainRecipe;

/* Reads path, applies overrides ("key=value" with dotted keys, values as
 * recipe_set_value reads them), validates everything. */
int recipe_load(TrainRecipe *r, const char *path, const char *const *overrides, int n_overrides, SeError *err);
void recipe_free(TrainRecipe *r);
/* The value of a --set KEY=VALUE: VALUE when all of it is one JSON value (surrounding
 * whitespace allowed: 2, 1e-3, true, null, "text", [1, 2], {"a": 1}), parsed strictly
 * (json_parse_strict); otherwise the text itself as a string (nullrun, 2k, 1e-3abc), so a
 * prefix of it is never taken for the value. VALUE that starts with {, [ or " is meant
 * as JSON and must be valid. NULL with a message otherwise. */
cJSON *recipe_set_value(const char *text, SeError *err);
/* A hash of the recipe (after overrides) without the keys a resumed run may change
 * (output_dir, log_every, eval, device, checkpoint, on_nan, prefetch), with batch_size
 * replaced by the global batch of `world` ranks (batch_size x world): data-parallel runs
 * of the same global batch are one run, whatever the number of ranks. */
uint64_t recipe_hash(const TrainRecipe *r, int world);

#endif
