/* The manifest of a directory sentembed wrote (a training checkpoint or a saved model):
 * DIR/sentembed_manifest.json lists every file of the directory with its size and SHA-256,
 * with what the directory is, the optimizer step it holds and the hash of the recipe that
 * trained it:
 *
 *   {"format": "sentembed-manifest", "version": 1, "kind": "checkpoint" | "model",
 *    "step": 40, "recipe_hash": "89ab...16 hex digits",
 *    "files": [{"path": "1_Pooling/config.json", "bytes": 296, "sha256": "64 hex digits"}, ...]}
 *
 * Files are listed in byte order of their paths; the manifest does not list itself nor
 * sentembed's control files (names starting with ".sentembed"). `sha256sum` gives the same
 * hex, so a copy can be checked without sentembed. Resume and `sentembed info` verify every
 * listed file (trainer/checkpoint.h); the final save uses a model's manifest to know which
 * files of an output directory are the model's (trainer/model_publish.h), and its presence
 * is how a directory is recognised as a model written by sentembed. */
#ifndef SENTEMBED_MANIFEST_H
#define SENTEMBED_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "host/error.h"

#define MANIFEST_FILE "sentembed_manifest.json"

typedef enum { MANIFEST_MODEL, MANIFEST_CHECKPOINT } ManifestKind;

typedef struct {
    ManifestKind kind;
    long step;
    uint64_t recipe_hash;
    size_t n_files;
    char **paths; /* [n_files], relative to the directory (manifest_info_free) */
} ManifestInfo;

/* Hashes every regular file under dir and writes dir/MANIFEST_FILE (atomically, fsynced).
 * A symbolic link or other special file under dir is an error (sentembed writes none). */
int manifest_write(const char *dir, ManifestKind kind, long step, uint64_t recipe_hash, SeError *err);
/* Parses dir/MANIFEST_FILE without reading the files it lists (cheap). */
int manifest_read(const char *dir, ManifestInfo *info, SeError *err);
/* manifest_read, then every listed file is there with its size and SHA-256; the message of
 * a failure names the file and what differs. info may be NULL. */
int manifest_verify(const char *dir, ManifestInfo *info, SeError *err);
void manifest_info_free(ManifestInfo *info);

#endif
