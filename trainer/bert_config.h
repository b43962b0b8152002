/* A Hugging Face BERT config.json (BertConfig fields). */
#ifndef SENTEMBED_BERT_CONFIG_H
#define SENTEMBED_BERT_CONFIG_H

#include "host/error.h"

typedef struct {
    int vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    int max_position_embeddings, type_vocab_size;
    float layer_norm_eps;
    float hidden_dropout_prob, attention_probs_dropout_prob;
    float initializer_range; /* std of the normal init of weights and embeddings (0.02) */
    int pad_token_id;        /* its word-embedding row starts at zero (0) */
} BertConfig;

/* Reads and validates config.json; unsupported variants (another hidden_act, relative
 * position embeddings, a model type that is not BERT-like) are errors naming the key. */
int bert_config_load(BertConfig *c, const char *path, SeError *err);
/* Number of encoder parameters (embeddings + layers, no pooler). */
long long bert_param_count(const BertConfig *c);

#endif
