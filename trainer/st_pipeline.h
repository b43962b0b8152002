/* The module pipeline of a sentence-transformers model directory:
 *   Transformer (BERT) -> Pooling -> [Dense] -> [Normalize]
 * read from modules.json, sentence_bert_config.json, 1_Pooling/config.json,
 * N_Dense/config.json. A plain Hugging Face directory (config.json, no modules.json) gets
 * mean pooling, as sentence-transformers does. */
#ifndef SENTEMBED_ST_PIPELINE_H
#define SENTEMBED_ST_PIPELINE_H

#include <stdbool.h>

#include "host/error.h"
#include "kernels/ops.h"

#define ST_PATH_MAX 4096
/* The widest Dense layer (in_features, out_features) supported. */
#define DENSE_MAX_FEATURES (1 << 20)

typedef enum { DENSE_IDENTITY, DENSE_TANH } DenseActivation;

typedef struct {
    char dir[ST_PATH_MAX];             /* the model directory */
    char transformer_dir[ST_PATH_MAX]; /* config.json, model.safetensors, tokenizer files */
    int max_seq_length;                /* 0: not set (use the tokenizer's / model's limit) */
    bool do_lower_case;                /* sentence-transformers lowercases the text itself */
    PoolMode pooling;
    int pooling_dim;                   /* word_embedding_dimension, 0 if not given */
    bool has_dense;
    char dense_dir[ST_PATH_MAX];
    int dense_in, dense_out;
    bool dense_bias;
    DenseActivation dense_act;
    bool normalize;
    bool from_modules_json;            /* false: plain HF model, mean pooling by default */
} StPipeline;

int st_pipeline_load(StPipeline *p, const char *dir, SeError *err);
const char *pool_mode_name(PoolMode m);

#endif
