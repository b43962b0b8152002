/* Training checkpoints: OUTPUT_DIR/checkpoints/checkpoint-STEP/ is a sentence-transformers
 * model directory (what st_save writes) plus
 *   training_state.bin   everything else a run needs to continue exactly (format below)
 *   metrics.jsonl        the metrics logged so far
 *   sentembed_manifest.json  size and SHA-256 of every file above, the step and the
 *                        recipe hash (trainer/manifest.h): resume and `sentembed info`
 *                        verify all of it, so a damaged or swapped file of any kind is found
 * A checkpoint appears whole or not at all: it is assembled in
 * checkpoints/.tmp-checkpoint-STEP.PID, every file fsynced, then renamed into place and
 * the parent fsynced. Temporary directories left by a crash are never taken for a
 * checkpoint and are removed by the next write. After a write, all but the newest `keep`
 * checkpoints of this recipe are removed; another recipe's are never touched (a run refuses
 * to start beside them: trainer/output_dir.h).
 *
 * training_state.bin, little-endian:
 *   char[8]  "SEMBTRN2" (version 1 counted the data position in examples: refused)
 *   u64      config hash (recipe_hash: a resumed run must use the same recipe)
 *   i64      step (optimizer steps done), micro_steps (micro-batches
 *            done), epoch (0-based, in progress), batch_start (the index of
 *            the next batch in the epoch's plan of batches: trainer/batch_plan.h)
 *   u64      counts n_enc, n_dense_w, n_dense_b, n_cls_w, n_cls_b
 *   f32[]    AdamW m and v of the encoder (n_enc each), of the Dense weight and bias,
 *            the SoftmaxLoss classifier W and b, and their m and v
 *   u64      FNV-1a 64 of every byte before it
 * RNG state needs no field: an epoch's plan (shuffle, batches, dataset mix) is a function
 * of (seed, epoch) and the data, and dropout of (seed, step) and the rows' places. */
#ifndef SENTEMBED_CHECKPOINT_H
#define SENTEMBED_CHECKPOINT_H

#include <stdint.h>

#include "trainer/trainer.h"

typedef struct {
    long step, micro_steps, epoch;
    uint64_t batch_start;
    uint64_t config_hash;
} TrainPosition;

/* Writes checkpoints/checkpoint-STEP under output_dir (creating checkpoints/), with a copy
 * of metrics_path (may be NULL), then keeps the newest `keep` (0: all). The trainer must
 * be between optimizer steps (nothing accumulated). */
int checkpoint_write(const char *output_dir, const Trainer *t, const TrainPosition *pos, const char *metrics_path,
                     int keep, char *written, size_t written_cap, SeError *err);
/* The newest checkpoint under output_dir/checkpoints that verifies (checkpoint_verify)
 * into out; a damaged newer one is skipped with a warning; fails with a message when there
 * is none. */
int checkpoint_latest(const char *output_dir, char *out, size_t cap, SeError *err);
/* Reads dir/training_state.bin into the trainer (moments, classifier, counters) and pos;
 * the model itself is loaded from dir by the caller (sm_load). Fails on a damaged file
 * or a state that does not fit this trainer, naming the file. */
int checkpoint_read_state(const char *dir, Trainer *t, TrainPosition *pos, SeError *err);
/* 0 when every file of dir verifies against its manifest, training_state.bin's own
 * checksum too, and the manifest and the state agree on the step and the recipe. */
int checkpoint_verify(const char *dir, SeError *err);
/* checkpoint_verify, and the position it records (pos may be NULL). */
int checkpoint_describe(const char *dir, TrainPosition *pos, SeError *err);
/* The recipe hash a checkpoint was written with (from its manifest, or from the state file
 * of an earlier sentembed's checkpoint without one), without verifying its files. */
int checkpoint_recipe(const char *dir, uint64_t *hash, SeError *err);
/* Checkpoints under output_dir/checkpoints: all of them; those of another recipe (the first
 * one's path into first, when not NULL). */
size_t checkpoint_count(const char *output_dir);
size_t checkpoint_count_foreign(const char *output_dir, uint64_t recipe_hash, char *first, size_t cap);
/* Removes every checkpoint under output_dir/checkpoints (a fresh start over an earlier
 * run); returns how many. */
size_t checkpoint_remove_all(const char *output_dir);

#endif
