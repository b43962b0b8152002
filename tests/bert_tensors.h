/* BertModel tensor names -> the matching slice of an Encoder's parameter layout (the
 * parameters themselves, or a gradient arena viewed with the same layout); Q, K and V are
 * slices of the fused matrices. For tests that compare with torch's named_parameters(). */
#ifndef SENTEMBED_TESTS_BERT_TENSORS_H
#define SENTEMBED_TESTS_BERT_TENSORS_H

#include <stdio.h>
#include <string.h>

#include "trainer/encoder.h"

/* The array of a BertModel parameter name in e's layout and its length, or NULL. */
static float *bert_tensor(const Encoder *g, const char *name, size_t *n)
{
    const BertConfig *c = &g->cfg;
    size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    struct {
        const char *name;
        float *p;
        size_t n;
    } emb[] = {{"embeddings.word_embeddings.weight", g->word, (size_t)c->vocab_size * H},
               {"embeddings.position_embeddings.weight", g->pos, (size_t)c->max_position_embeddings * H},
               {"embeddings.token_type_embeddings.weight", g->type, (size_t)c->type_vocab_size * H},
               {"embeddings.LayerNorm.weight", g->emb_ln_g, H},
               {"embeddings.LayerNorm.bias", g->emb_ln_b, H}};
    for (size_t k = 0; k < sizeof emb / sizeof *emb; k++)
        if (!strcmp(name, emb[k].name))
            return *n = emb[k].n, emb[k].p;
    int l, used = 0;
    char rest[128];
    if (sscanf(name, "encoder.layer.%d.%127s%n", &l, rest, &used) != 2 || l < 0 || l >= c->num_layers)
        return NULL;
    const EncoderLayer *L = &g->layers[l];
    struct {
        const char *name;
        float *p;
        size_t n;
    } lay[] = {{"attention.self.query.weight", L->qkv_w, H * H},
               {"attention.self.key.weight", L->qkv_w + H * H, H * H},
               {"attention.self.value.weight", L->qkv_w + 2 * H * H, H * H},
               {"attention.self.query.bias", L->qkv_b, H},
               {"attention.self.key.bias", L->qkv_b + H, H},
               {"attention.self.value.bias", L->qkv_b + 2 * H, H},
               {"attention.output.dense.weight", L->o_w, H * H},
               {"attention.output.dense.bias", L->o_b, H},
               {"attention.output.LayerNorm.weight", L->ln1_g, H},
               {"attention.output.LayerNorm.bias", L->ln1_b, H},
               {"intermediate.dense.weight", L->ff1_w, I * H},
               {"intermediate.dense.bias", L->ff1_b, I},
               {"output.dense.weight", L->ff2_w, H * I},
               {"output.dense.bias", L->ff2_b, H},
               {"output.LayerNorm.weight", L->ln2_g, H},
               {"output.LayerNorm.bias", L->ln2_b, H}};
    for (size_t k = 0; k < sizeof lay / sizeof *lay; k++)
        if (!strcmp(rest, lay[k].name))
            return *n = lay[k].n, lay[k].p;
    return NULL;
}

#endif
