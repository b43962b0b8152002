/* A training run's output directory, checked before the first step so that no mistake is
 * found hours into a run, and so that training never deletes or overwrites a file it did
 * not write.
 *
 * What a directory holds decides what may happen to it (output_dir_state):
 *   absent or empty        the run creates it;
 *   a sentembed model      it has a sentembed_manifest.json of kind "model": on a fresh
 *                          start only with --overwrite-output-dir, and then only the files
 *                          that manifest lists are replaced (the final save); anything else
 *                          in it (a README, results) is kept;
 *   a sentembed run        only checkpoints/, metrics.running.jsonl and sentembed's control
 *                          files (".sentembed*"): a run that has not saved its model yet;
 *   anything else          refused, always (a project folder, someone's model, $HOME).
 * The input model's directory (and any directory above it) and the current directory are
 * refused whatever they hold.
 *
 * While a run is alive it holds an exclusive flock on OUTPUT_DIR/.sentembed.lock (the file
 * holds its PID): a second trainer on the same directory fails at once, naming the first. */
#ifndef SENTEMBED_OUTPUT_DIR_H
#define SENTEMBED_OUTPUT_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/error.h"

#define OUTPUT_LOCK_FILE ".sentembed.lock"
/* Live metrics of a run, copied into the model as metrics.jsonl by the final save. */
#define OUTPUT_RUNNING_METRICS "metrics.running.jsonl"

typedef enum { OUTPUT_ABSENT, OUTPUT_EMPTY, OUTPUT_MODEL, OUTPUT_RUN, OUTPUT_FOREIGN, OUTPUT_NOT_DIR } OutputState;

/* What dir holds; for OUTPUT_FOREIGN, why (the first entry that is not sentembed's) into
 * why[cap]. */
OutputState output_dir_state(const char *dir, char *why, size_t cap);

typedef struct {
    const char *input_model; /* the recipe's "model": refused as output, with its parents */
    bool overwrite;          /* --overwrite-output-dir */
    bool resuming;           /* --resume: this run's checkpoints are expected */
    uint64_t recipe_hash;
} OutputDirOptions;

typedef struct {
    char path[4096];
    int lock_fd;
} OutputDir;

/* All checks of the header comment, then creates the directory (and its parents), takes
 * the lock, recovers or removes what a killed save left (reported on stderr), and on a
 * fresh start with overwrite removes the earlier run's checkpoints. Checkpoints of another
 * recipe are refused unless overwrite (never pruned, never resumed). */
int output_dir_open(OutputDir *o, const char *dir, const OutputDirOptions *opt, SeError *err);
/* Fails, naming both figures, when the file system of the directory has less than
 * need_bytes free. */
int output_dir_check_space(const OutputDir *o, uint64_t need_bytes, SeError *err);
/* Releases the lock (the lock file stays: removing it would race with a new trainer). */
void output_dir_close(OutputDir *o);

#endif
