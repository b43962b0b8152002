/* Puts a finished model directory at its output path so that, at every moment, either the
 * old or the new model is there, and removes only what sentembed wrote.
 *
 * The new model is assembled in OUT.tmp.PID (a sibling, so renames stay on one file
 * system), which holds the marker ".sentembed-unpublished" from its creation until it is
 * in place. Then:
 *   OUT absent:  rename(OUT.tmp.PID, OUT).
 *   OUT exists:  ".sentembed-replaced" is written into OUT, and the two directories are
 *                swapped in one step (renameat2 RENAME_EXCHANGE); where the file system
 *                cannot swap, OUT is renamed to OUT.old.PID and the new one renamed in
 *                (the one moment without a model at OUT, undone by the recovery).
 * The swapped-out directory then loses the files its manifest lists (the old model's);
 * what is left there (checkpoints/, files a user added) moves into the new OUT unless a
 * name is taken, in which case the directory stays, with a warning naming it.
 *
 * model_publish_recover, run by the next trainer under the output directory's lock,
 * finishes or undoes what a killed save left: an unpublished model whose manifest
 * verifies is published, an incomplete one removed; a swapped-out directory is finished
 * as above or, when OUT is missing, renamed back; temporary model directories and
 * "OUT.metrics.jsonl.tmp.PID" files of an earlier sentembed are removed. Everything it
 * does is reported on stderr. */
#ifndef SENTEMBED_MODEL_PUBLISH_H
#define SENTEMBED_MODEL_PUBLISH_H

#include "host/error.h"

#define PUBLISH_UNPUBLISHED ".sentembed-unpublished"
#define PUBLISH_REPLACED ".sentembed-replaced"

/* Creates the empty directory tmp with its marker (PUBLISH_UNPUBLISHED). */
int model_publish_begin(const char *tmp, SeError *err);
/* Publishes tmp (model_publish_begin, then the model and its manifest written into it)
 * at out. On failure out holds what it held before. */
int model_publish(const char *tmp, const char *out, SeError *err);
void model_publish_recover(const char *out);

#endif
