/* A Hugging Face BERT config.json (BertConfig fields). */
#ifndef SENTEMBED_BERT_CONFIG_H
#define SENTEMBED_BERT_CONFIG_H

#include "host/error.h"

/* The largest sizes config.json may give: far above any released BERT, and small enough
 * that every size and offset the graph derives from them fits its integer types. */
#define BERT_MAX_VOCAB (1 << 24)
#define BERT_MAX_HIDDEN (1 << 16)
#define BERT_MAX_LAYERS 1024
#define BERT_MAX_HEADS 65535 /* a CUDA grid dimension */
#define BERT_MAX_INTERMEDIATE (1 << 18)
#define BERT_MAX_POSITIONS (1 << 20) /* the longest max_seq_length anywhere */
#define BERT_MAX_TYPES 1024

typedef struct {
    int vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    int max_position_embeddings, type_vocab_size;
    float layer_norm_eps;
    float hidden_dropout_prob, attention_probs_dropout_prob;
    float initializer_range; /* std of the normal init of weights and embeddings (0.02) */
    int pad_token_id;        /* its word-embedding row starts at zero (0) */
} BertConfig;

/* Reads and validates config.json; unsupported variants (another hidden_act, relative
 * position embeddings, a model type that is not BERT-like, a decoder) and sizes above the
 * limits are errors naming the key. */
int bert_config_load(BertConfig *c, const char *path, SeError *err);
/* Number of encoder parameters (embeddings + layers, no pooler). */
long long bert_param_count(const BertConfig *c);

#endif
