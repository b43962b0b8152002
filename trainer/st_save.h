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
 * The directory appears whole or not at all: everything is written (and fsynced) into
 * OUT_DIR.tmp.<pid>, which is then renamed onto OUT_DIR. An existing OUT_DIR is replaced
 * only if it is empty or a model directory (it holds config.json or modules.json): it is
 * first renamed to OUT_DIR.old.<pid> and removed once the new one is in place. Training
 * checkpoints in OUT_DIR/checkpoints (trainer/checkpoint.h) move into the new directory
 * (a directory holding only checkpoints counts as replaceable). */
#ifndef SENTEMBED_ST_SAVE_H
#define SENTEMBED_ST_SAVE_H

#include "host/error.h"
#include "trainer/sentence_model.h"

/* 0, or -1 with a message naming the path; on failure OUT_DIR is left as it was (no
 * temporary directory stays behind). */
int st_save(const SentenceModel *m, const char *out_dir, SeError *err);
/* The same files written (and fsynced) into dir, an existing empty directory, without the
 * rename dance: for a caller that assembles a bigger directory atomically (checkpoints). */
int st_save_into(const SentenceModel *m, const char *dir, SeError *err);

#endif
