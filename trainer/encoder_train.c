#include <stdlib.h>
#include <string.h>

#include "kernels/dropout_hash.h"
#include "trainer/encoder_train.h"

enum { SITE_ATTENTION_PROBS, SITE_ATTENTION_OUT, SITE_FFN_OUT, SITE_EMBEDDINGS };

/* The mask seed of one dropout site (layer -1: the embeddings). */
static uint64_t site_seed(const EncoderTrainer *tr, int layer, int site)
{
    return se_mix64(tr->dropout_seed ^ se_mix64(((uint64_t)(layer + 1) << 8) | (uint64_t)site));
}

/* Re-carves the parameter pointers of enc onto another arena of the same layout. */
static Encoder view_of(const Encoder *enc, float *arena)
{
    Encoder v = *enc;
    v.layers = se_xcalloc((size_t)enc->cfg.num_layers, sizeof *v.layers);
    ptrdiff_t shift = arena - enc->params;
    v.params = arena;
    v.word = enc->word + shift, v.pos = enc->pos + shift, v.type = enc->type + shift;
    v.emb_ln_g = enc->emb_ln_g + shift, v.emb_ln_b = enc->emb_ln_b + shift;
    for (int l = 0; l < enc->cfg.num_layers; l++) {
        const EncoderLayer *s = &enc->layers[l];
        EncoderLayer *d = &v.layers[l];
        d->qkv_w = s->qkv_w + shift, d->qkv_b = s->qkv_b + shift, d->o_w = s->o_w + shift, d->o_b = s->o_b + shift;
        d->ln1_g = s->ln1_g + shift, d->ln1_b = s->ln1_b + shift, d->ff1_w = s->ff1_w + shift;
        d->ff1_b = s->ff1_b + shift, d->ff2_w = s->ff2_w + shift, d->ff2_b = s->ff2_b + shift;
        d->ln2_g = s->ln2_g + shift, d->ln2_b = s->ln2_b + shift;
    }
    return v;
}

int encoder_train_init(EncoderTrainer *tr, Encoder *enc, int max_tokens, int max_seqs, SeError *err)
{
    const Ops *ops = enc->ops;
    memset(tr, 0, sizeof *tr);
    if (!ops->matmul_backward || !ops->attention_backward || !ops->layernorm_backward || !ops->adamw)
        return se_fail(err, "training on the %s backend is not implemented yet (its backward ops are missing); "
                       "use --device cpu", ops->name);
    tr->enc = enc;
    tr->max_tokens = max_tokens;
    tr->max_seqs = max_seqs;
    tr->layer = se_xcalloc((size_t)enc->cfg.num_layers, sizeof *tr->layer);
    tr->grads = ops->alloc(enc->n_params * sizeof(float));
    tr->gview = view_of(enc, tr->grads);
    encoder_train_zero_grads(tr);
    return 0;
}

size_t encoder_train_arena_bytes(const Encoder *enc, int tokens)
{
    const size_t C = (size_t)tokens, H = (size_t)enc->cfg.hidden_size, I = (size_t)enc->cfg.intermediate_size,
                 L = (size_t)enc->cfg.num_layers, a = enc->ops->act_size;
    /* per layer: x_in, ctx, ao, x1, fo [T,H]; qkv [T,3H]; fpre, fact [T,I] */
    const size_t per_layer = C * (5 * H + 3 * H + 2 * I) * a;
    const size_t scratch = C * (3 * H + 3 * H + I + H) * a; /* d_x, d_x1, d_tmp, d_qkv, d_ffn, d_out */
    return L * per_layer + 2 * C * H * a + scratch;        /* + emb_sum, out */
}

/* Room for a batch of T tokens: the arena (and the encoder's input buffers) re-made larger
 * when T does not fit. */
static void reserve_tokens(EncoderTrainer *tr, int T, int n_seqs)
{
    Encoder *enc = tr->enc;
    encoder_reserve(enc, T, n_seqs);
    if (T <= tr->cap_tokens)
        return;
    const int cap = grown_capacity(tr->cap_tokens, T, tr->max_tokens);
    const Ops *ops = enc->ops;
    if (tr->acts_arena)
        ops->free(tr->acts_arena);
    const size_t C = (size_t)cap, H = (size_t)enc->cfg.hidden_size, I = (size_t)enc->cfg.intermediate_size,
                 L = (size_t)enc->cfg.num_layers, a = ops->act_size;
    char *p = tr->acts_arena = ops->alloc(encoder_train_arena_bytes(enc, cap));
    tr->emb_sum = p, p += C * H * a;
    tr->out = p, p += C * H * a;
    for (size_t l = 0; l < L; l++) {
        LayerActivations *la = &tr->layer[l];
        void **hs[] = {&la->x_in, &la->ctx, &la->ao, &la->x1, &la->fo};
        for (int k = 0; k < 5; k++)
            *hs[k] = p, p += C * H * a;
        la->qkv = p, p += C * 3 * H * a;
        la->fpre = p, p += C * I * a;
        la->fact = p, p += C * I * a;
    }
    tr->d_x = p, p += C * H * a;
    tr->d_x1 = p, p += C * H * a;
    tr->d_tmp = p, p += C * H * a;
    tr->d_qkv = p, p += C * 3 * H * a;
    tr->d_ffn = p, p += C * I * a;
    tr->d_out = p;
    tr->cap_tokens = cap;
}

void encoder_train_zero_grads(EncoderTrainer *tr)
{
    tr->enc->ops->zero(tr->grads, tr->enc->n_params * sizeof(float));
}

void encoder_train_forward(EncoderTrainer *tr, const PackedBatch *b)
{
    Encoder *e = tr->enc;
    const Ops *ops = e->ops;
    const BertConfig *c = &e->cfg;
    const int T = b->n_tokens, H = c->hidden_size, I = c->intermediate_size, heads = c->num_heads, L = c->num_layers;
    const size_t a = ops->act_size;
    const float eps = c->layer_norm_eps;
    reserve_tokens(tr, T, b->n_seqs);
    /* Queued without waiting for the previous step's tail (the update): b stays untouched
     * until the step reads its loss back, which waits for these copies too. */
    ops->copy_to_device_async(e->d_ids, b->ids, (size_t)T * 4);
    ops->copy_to_device_async(e->d_positions, b->positions, (size_t)T * 4);
    ops->copy_to_device_async(e->d_types, b->types, (size_t)T * 4);
    ops->copy_to_device_async(e->d_cu_seqlens, b->cu_seqlens, ((size_t)b->n_seqs + 1) * 4);
    ops->embed(tr->emb_sum, e->d_ids, e->d_positions, e->d_types, e->word, e->pos, e->type, T, H);
    const float hp = tr->hidden_dropout, ap = tr->attention_dropout;
    const DropoutKeys keys = tr->dropout_keys;
    void *x0 = L ? tr->layer[0].x_in : tr->out;
    ops->layernorm(x0, tr->emb_sum, NULL, e->emb_ln_g, e->emb_ln_b, T, H, eps);
    if (hp > 0)
        ops->dropout(x0, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp, site_seed(tr, -1, SITE_EMBEDDINGS));
    for (int l = 0; l < L; l++) {
        const EncoderLayer *W = &e->layers[l];
        LayerActivations *A = &tr->layer[l];
        void *x_out = l + 1 < L ? tr->layer[l + 1].x_in : tr->out;
        ops->matmul(A->qkv, A->x_in, W->qkv_wg, W->qkv_b, T, 3 * H, H);
        ops->attention(A->ctx, A->qkv, e->d_cu_seqlens, b->n_seqs, b->max_seqlen, heads, H / heads, ap,
                       site_seed(tr, l, SITE_ATTENTION_PROBS), keys);
        ops->matmul(A->ao, A->ctx, W->o_wg, W->o_b, T, H, H);
        if (hp > 0) /* ao and fo are kept after dropout: the LayerNorms' inputs */
            ops->dropout(A->ao, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp, site_seed(tr, l, SITE_ATTENTION_OUT));
        ops->layernorm(A->x1, A->ao, A->x_in, W->ln1_g, W->ln1_b, T, H, eps);
        ops->matmul(A->fpre, A->x1, W->ff1_wg, NULL, T, I, H);
        ops->copy_on_device(A->fact, A->fpre, (size_t)T * I * a); /* fpre is kept for the backward */
        ops->bias_gelu(A->fact, W->ff1_b, T, I);
        ops->matmul(A->fo, A->fact, W->ff2_wg, W->ff2_b, T, H, I);
        if (hp > 0)
            ops->dropout(A->fo, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp, site_seed(tr, l, SITE_FFN_OUT));
        ops->layernorm(x_out, A->fo, A->x1, W->ln2_g, W->ln2_b, T, H, eps);
    }
}

void encoder_train_backward(EncoderTrainer *tr, const PackedBatch *b, const void *d_out)
{
    Encoder *e = tr->enc, *g = &tr->gview;
    const Ops *ops = e->ops;
    const BertConfig *c = &e->cfg;
    const int T = b->n_tokens, H = c->hidden_size, I = c->intermediate_size, heads = c->num_heads, L = c->num_layers;
    const size_t a = ops->act_size;
    const float eps = c->layer_norm_eps, hp = tr->hidden_dropout, ap = tr->attention_dropout;
    const DropoutKeys keys = tr->dropout_keys;
    /* d_x holds the gradient of the current layer's output */
    ops->copy_on_device(tr->d_x, d_out, (size_t)T * H * a);
    for (int l = L - 1; l >= 0; l--) {
        const EncoderLayer *W = &e->layers[l];
        EncoderLayer *G = &g->layers[l];
        LayerActivations *A = &tr->layer[l];
        /* x_out = LN2(fo + x1) */
        ops->layernorm_backward(tr->d_tmp, G->ln2_g, G->ln2_b, tr->d_x, A->fo, A->x1, W->ln2_g, T, H, eps);
        ops->copy_on_device(tr->d_x1, tr->d_tmp, (size_t)T * H * a); /* the residual branch */
        if (hp > 0)
            ops->dropout(tr->d_tmp, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp, site_seed(tr, l, SITE_FFN_OUT));
        /* fo = fact @ ff2^T + b2 */
        ops->matmul_backward(tr->d_ffn, G->ff2_w, G->ff2_b, tr->d_tmp, A->fact, W->ff2_wg, T, H, I);
        /* fact = gelu(fpre + b1) */
        ops->bias_gelu_backward(tr->d_ffn, G->ff1_b, tr->d_ffn, A->fpre, W->ff1_b, T, I);
        /* fpre = x1 @ ff1^T */
        ops->matmul_backward(tr->d_tmp, G->ff1_w, NULL, tr->d_ffn, A->x1, W->ff1_wg, T, I, H);
        ops->add_act(tr->d_x1, tr->d_tmp, (size_t)T * H);
        /* x1 = LN1(ao + x_in) */
        ops->layernorm_backward(tr->d_tmp, G->ln1_g, G->ln1_b, tr->d_x1, A->ao, A->x_in, W->ln1_g, T, H, eps);
        ops->copy_on_device(tr->d_x, tr->d_tmp, (size_t)T * H * a); /* residual into x_in */
        if (hp > 0)
            ops->dropout(tr->d_tmp, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp,
                         site_seed(tr, l, SITE_ATTENTION_OUT));
        /* ao = ctx @ o^T + bo */
        ops->matmul_backward(tr->d_x1, G->o_w, G->o_b, tr->d_tmp, A->ctx, W->o_wg, T, H, H); /* d_x1 := d ctx */
        ops->attention_backward(tr->d_qkv, tr->d_x1, A->qkv, e->d_cu_seqlens, b->n_seqs, b->max_seqlen, heads,
                                H / heads, ap, site_seed(tr, l, SITE_ATTENTION_PROBS), keys);
        /* qkv = x_in @ Wqkv^T + bqkv */
        ops->matmul_backward(tr->d_tmp, G->qkv_w, G->qkv_b, tr->d_qkv, A->x_in, W->qkv_wg, T, 3 * H, H);
        ops->add_act(tr->d_x, tr->d_tmp, (size_t)T * H);
    }
    /* x_in(0) = dropout(LN(emb_sum)); emb_sum = word + pos + type */
    if (hp > 0)
        ops->dropout(tr->d_x, T, H, e->d_cu_seqlens, b->n_seqs, keys, hp, site_seed(tr, -1, SITE_EMBEDDINGS));
    ops->layernorm_backward(tr->d_tmp, g->emb_ln_g, g->emb_ln_b, tr->d_x, tr->emb_sum, NULL, e->emb_ln_g, T, H, eps);
    ops->embed_backward(g->word, g->pos, g->type, tr->d_tmp, e->d_ids, e->d_positions, e->d_types, T, H);
}

void encoder_train_free(EncoderTrainer *tr)
{
    if (tr->enc) {
        if (tr->acts_arena)
            tr->enc->ops->free(tr->acts_arena);
        tr->enc->ops->free(tr->grads);
    }
    free(tr->layer);
    free(tr->gview.layers);
    memset(tr, 0, sizeof *tr);
}
