/* Saves a SentenceModel as a sentence-transformers model directory that
 * SentenceTransformer(path), transformers.AutoModel.from_pretrained(path) and our own
 * sm_load read unchanged:
 *   config.json, model.safetensors (BertModel names, no prefix, Q/K/V un-fused),
 *   the tokenizer files copied byte for byte (vocab.txt, tokenizer.json,
 *   tokenizer_config.json, special_tokens_map.json, those that exist),
 *   modules.json, sentence_bert_config.json, config_sentence_transformers.json,
 *   1_Pooling/config.json, [2_Dense/{config.json,model.safetensors}], [N_Normalize/]
 * in the classic layout (sentence_transformers.models.X types, pooling_mode_* booleans)
 * that sentence-transformers 2.x to 6.x all read.
 *
 * plus sentembed_manifest.json (trainer/manifest.h: every file's SHA-256, which `sentembed
 * info` verifies, and which tells a later save which files are the model's).
 *
 * The directory appears whole or not at all, and at every moment OUT_DIR holds the old
 * model or the new one: everything is written (and fsynced) into OUT_DIR.tmp.<pid> and
 * published by trainer/model_publish.h, which removes only the files of the model it
 * replaces (checkpoints and a user's files stay). An existing OUT_DIR is replaced only when
 * it is empty or written by sentembed (trainer/output_dir.h); anything else is refused. */
#ifndef SENTEMBED_ST_SAVE_H
#define SENTEMBED_ST_SAVE_H

#include <stdint.h>

#include "host/error.h"
#include "trainer/sentence_model.h"

/* What the manifest of a trained model records, and the metrics copied into it. */
typedef struct {
    const char *metrics_path; /* copied to OUT_DIR/metrics.jsonl when it exists; may be NULL */
    long step;
    uint64_t recipe_hash;
} ModelSaveInfo;

/* 0, or -1 with a message naming the path; on failure OUT_DIR is left as it was (no
 * temporary directory stays behind). info may be NULL (step 0, no recipe). */
int st_save(const SentenceModel *m, const char *out_dir, const ModelSaveInfo *info, SeError *err);
/* The same files written (and fsynced) into dir, an existing empty directory, without the
 * rename dance: for a caller that assembles a bigger directory atomically (checkpoints). */
int st_save_into(const SentenceModel *m, const char *dir, SeError *err);

#endif
