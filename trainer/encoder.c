#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/fileio.h"
#include "host/safetensors.h"
#include "kernels/dropout_hash.h"
#include "trainer/encoder.h"

/* The fixed parameter table: sizes in order, so offsets are implied. */
typedef struct {
    size_t word, pos, type, emb_ln, qkv_w, qkv_b, o_w, o_b, ln, ff1_w, ff1_b, ff2_w, ff2_b;
} ParamSizes;

static ParamSizes param_sizes(const BertConfig *c)
{
    size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    return (ParamSizes){(size_t)c->vocab_size * H, (size_t)c->max_position_embeddings * H,
                        (size_t)c->type_vocab_size * H, H, 3 * H * H, 3 * H, H * H, H, H, I * H, I, H * I, H};
}

static size_t layer_size(const ParamSizes *s)
{
    return s->qkv_w + s->qkv_b + s->o_w + s->o_b + 2 * s->ln + s->ff1_w + s->ff1_b + s->ff2_w + s->ff2_b + 2 * s->ln;
}

/* Points the named parameters into an arena laid out by the table (base may be host or
 * device memory; only pointer arithmetic happens here). */
static void carve(Encoder *e, float *base)
{
    ParamSizes s = param_sizes(&e->cfg);
    float *p = base;
    e->word = p, p += s.word;
    e->pos = p, p += s.pos;
    e->type = p, p += s.type;
    e->emb_ln_g = p, p += s.emb_ln;
    e->emb_ln_b = p, p += s.emb_ln;
    for (int l = 0; l < e->cfg.num_layers; l++) {
        EncoderLayer *L = &e->layers[l];
        L->qkv_w = p, p += s.qkv_w;
        L->qkv_b = p, p += s.qkv_b;
        L->o_w = p, p += s.o_w;
        L->o_b = p, p += s.o_b;
        L->ln1_g = p, p += s.ln;
        L->ln1_b = p, p += s.ln;
        L->ff1_w = p, p += s.ff1_w;
        L->ff1_b = p, p += s.ff1_b;
        L->ff2_w = p, p += s.ff2_w;
        L->ff2_b = p, p += s.ff2_b;
        L->ln2_g = p, p += s.ln;
        L->ln2_b = p, p += s.ln;
    }
}

/* Reads tensor PREFIX+name of `rows` x `cols` (cols 0: a vector of rows) into dst. */
static int read_tensor(const StFile *f, const char *prefix, const char *name, size_t rows, size_t cols, float *dst,
                       SeError *err)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const StTensor *t = st_find(f, full);
    if (!t)
        return se_fail(err, "%s: missing tensor \"%s\"", f->path, full);
    int want_ndim = cols ? 2 : 1;
    if (t->ndim != want_ndim || (size_t)t->shape[0] != rows || (cols && (size_t)t->shape[1] != cols)) {
        char got[96] = "";
        for (int d = 0; d < t->ndim && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (cols)
            return se_fail(err, "%s: tensor \"%s\" has shape [%s]; the config says [%zu, %zu]", f->path, full, got,
                           rows, cols);
        return se_fail(err, "%s: tensor \"%s\" has shape [%s]; the config says [%zu]", f->path, full, got, rows);
    }
    return st_read_f32(f, t, dst, rows * (cols ? cols : 1), err);
}

static int read_weights(Encoder *e, const StFile *f, float *host, SeError *err)
{
    const char *prefix = "";
    if (!st_find(f, "embeddings.word_embeddings.weight")) {
        if (!st_find(f, "bert.embeddings.word_embeddings.weight"))
            return se_fail(err, "%s: no tensor \"embeddings.word_embeddings.weight\" (with or without a \"bert.\" "
                           "prefix): not a BERT checkpoint", f->path);
        prefix = "bert.";
    }
    const BertConfig *c = &e->cfg;
    size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    Encoder view = *e;
    carve(&view, host);
    if (read_tensor(f, prefix, "embeddings.word_embeddings.weight", (size_t)c->vocab_size, H, view.word, err) ||
        read_tensor(f, prefix, "embeddings.position_embeddings.weight", (size_t)c->max_position_embeddings, H,
                    view.pos, err) ||
        read_tensor(f, prefix, "embeddings.token_type_embeddings.weight", (size_t)c->type_vocab_size, H, view.type,
                    err) ||
        read_tensor(f, prefix, "embeddings.LayerNorm.weight", H, 0, view.emb_ln_g, err) ||
        read_tensor(f, prefix, "embeddings.LayerNorm.bias", H, 0, view.emb_ln_b, err))
        return -1;
    for (int l = 0; l < c->num_layers; l++) {
        EncoderLayer *L = &view.layers[l];
        char n[24][128];
        static const char *NAMES[] = {
            "attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight",
            "attention.self.key.bias", "attention.self.value.weight", "attention.self.value.bias",
            "attention.output.dense.weight", "attention.output.dense.bias", "attention.output.LayerNorm.weight",
            "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
            "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"};
        for (int k = 0; k < 16; k++)
            snprintf(n[k], sizeof n[k], "encoder.layer.%d.%s", l, NAMES[k]);
        /* Q | K | V stacked: one GEMM computes all three. */
        if (read_tensor(f, prefix, n[0], H, H, L->qkv_w, err) || read_tensor(f, prefix, n[1], H, 0, L->qkv_b, err) ||
            read_tensor(f, prefix, n[2], H, H, L->qkv_w + H * H, err) ||
            read_tensor(f, prefix, n[3], H, 0, L->qkv_b + H, err) ||
            read_tensor(f, prefix, n[4], H, H, L->qkv_w + 2 * H * H, err) ||
            read_tensor(f, prefix, n[5], H, 0, L->qkv_b + 2 * H, err) ||
            read_tensor(f, prefix, n[6], H, H, L->o_w, err) || read_tensor(f, prefix, n[7], H, 0, L->o_b, err) ||
            read_tensor(f, prefix, n[8], H, 0, L->ln1_g, err) || read_tensor(f, prefix, n[9], H, 0, L->ln1_b, err) ||
            read_tensor(f, prefix, n[10], I, H, L->ff1_w, err) || read_tensor(f, prefix, n[11], I, 0, L->ff1_b, err) ||
            read_tensor(f, prefix, n[12], H, I, L->ff2_w, err) || read_tensor(f, prefix, n[13], H, 0, L->ff2_b, err) ||
            read_tensor(f, prefix, n[14], H, 0, L->ln2_g, err) || read_tensor(f, prefix, n[15], H, 0, L->ln2_b, err))
            return -1;
    }
    return 0;
}

/* Puts the host parameters (fp32, carved layout) into backend memory with their GEMM copies. */
static void upload(Encoder *e, float *host)
{
    const Ops *ops = e->ops;
    ParamSizes s = param_sizes(&e->cfg);
    e->params = ops->alloc(e->n_params * sizeof(float));
    ops->copy_to_device(e->params, host, e->n_params * sizeof(float));
    carve(e, e->params);
    if (ops->act_size == sizeof(float)) {
        for (int l = 0; l < e->cfg.num_layers; l++) {
            EncoderLayer *L = &e->layers[l];
            L->qkv_wg = L->qkv_w, L->o_wg = L->o_w, L->ff1_wg = L->ff1_w, L->ff2_wg = L->ff2_w;
        }
    } else {
        /* bf16 copies of the four GEMM weights of every layer, in one arena */
        size_t per_layer = s.qkv_w + s.o_w + s.ff1_w + s.ff2_w;
        char *g = e->gemm_copy = ops->alloc((size_t)e->cfg.num_layers * per_layer * ops->act_size);
        Encoder view = *e;
        view.layers = se_xcalloc((size_t)e->cfg.num_layers, sizeof *view.layers);
        carve(&view, host);
        for (int l = 0; l < e->cfg.num_layers; l++) {
            EncoderLayer *L = &e->layers[l], *H = &view.layers[l];
            const float *src[4] = {H->qkv_w, H->o_w, H->ff1_w, H->ff2_w};
            void **dst[4] = {&L->qkv_wg, &L->o_wg, &L->ff1_wg, &L->ff2_wg};
            size_t n[4] = {s.qkv_w, s.o_w, s.ff1_w, s.ff2_w};
            for (int k = 0; k < 4; k++) {
                *dst[k] = g;
                ops->upload_act(g, src[k], n[k]);
                g += n[k] * ops->act_size;
            }
        }
        free(view.layers);
    }
}

int encoder_load(Encoder *e, const Ops *ops, const char *dir, SeError *err)
{
    memset(e, 0, sizeof *e);
    e->ops = ops;
    char path[4096];
    if (path_join(path, sizeof path, dir, "config.json", err) || bert_config_load(&e->cfg, path, err))
        return -1;
    if (path_join(path, sizeof path, dir, "model.safetensors", err))
        return -1;
    if (!file_exists(path)) {
        char bin[4096];
        if (path_join(bin, sizeof bin, dir, "pytorch_model.bin", err))
            return -1;
        if (file_exists(bin))
            return se_fail(err, "%s is a pickle, which sentembed never loads (a pickle can run code). Convert it "
                           "once with: python -c \"from transformers import AutoModel; m = "
                           "AutoModel.from_pretrained('%s'); m.save_pretrained('%s', safe_serialization=True)\"",
                           bin, dir, dir);
        return se_fail(err, "%s: not found (the weights of %s)", path, dir);
    }
    StFile f;
    if (st_open(&f, path, err))
        return -1;
    ParamSizes s = param_sizes(&e->cfg);
    e->n_params = s.word + s.pos + s.type + 2 * s.emb_ln + (size_t)e->cfg.num_layers * layer_size(&s);
    e->layers = se_xcalloc((size_t)e->cfg.num_layers, sizeof *e->layers);
    float *host = se_xmalloc(e->n_params * sizeof *host);
    int rc = read_weights(e, &f, host, err);
    st_close(&f);
    if (rc) {
        free(host);
        free(e->layers);
        e->layers = NULL;
        return -1;
    }
    upload(e, host);
    free(host);
    return 0;
}

/* N(0, std) from a splitmix64 stream (Box-Muller; one draw per call keeps it simple). */
static float normal_draw(uint64_t *state, float std)
{
    uint64_t a = se_mix64((*state)++), b = se_mix64((*state)++);
    double u1 = ((double)(a >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(b >> 11) / 9007199254740992.0;
    return (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

int encoder_init_random(Encoder *e, const Ops *ops, const char *config_path, uint64_t seed, SeError *err)
{
    memset(e, 0, sizeof *e);
    e->ops = ops;
    if (bert_config_load(&e->cfg, config_path, err))
        return -1;
    ParamSizes s = param_sizes(&e->cfg);
    e->n_params = s.word + s.pos + s.type + 2 * s.emb_ln + (size_t)e->cfg.num_layers * layer_size(&s);
    e->layers = se_xcalloc((size_t)e->cfg.num_layers, sizeof *e->layers);
    float *host = se_xcalloc(e->n_params, sizeof *host);
    Encoder v = *e;
    v.layers = se_xcalloc((size_t)e->cfg.num_layers, sizeof *v.layers);
    carve(&v, host);
    const BertConfig *c = &e->cfg;
    const size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    const float std = c->initializer_range;
    uint64_t st = seed;
#define NORMAL(ptr, count)                                  \
    for (size_t i_ = 0; i_ < (size_t)(count); i_++)         \
        (ptr)[i_] = normal_draw(&st, std)
#define ONES(ptr, count)                                    \
    for (size_t i_ = 0; i_ < (size_t)(count); i_++)         \
        (ptr)[i_] = 1.0f
    NORMAL(v.word, s.word);
    for (size_t h = 0; h < H; h++) /* nn.Embedding(padding_idx=pad_token_id) */
        v.word[(size_t)c->pad_token_id * H + h] = 0.0f;
    NORMAL(v.pos, s.pos);
    NORMAL(v.type, s.type);
    ONES(v.emb_ln_g, H);
    for (int l = 0; l < c->num_layers; l++) {
        EncoderLayer *L = &v.layers[l];
        NORMAL(L->qkv_w, 3 * H * H);
        NORMAL(L->o_w, H * H);
        NORMAL(L->ff1_w, I * H);
        NORMAL(L->ff2_w, H * I);
        ONES(L->ln1_g, H);
        ONES(L->ln2_g, H);
    }
#undef NORMAL
#undef ONES
    free(v.layers);
    upload(e, host);
    free(host);
    return 0;
}

void encoder_refresh_gemm_copies(Encoder *e)
{
    if (!e->gemm_copy)
        return; /* the CPU multiplies with the fp32 weights themselves */
    const size_t H = (size_t)e->cfg.hidden_size, I = (size_t)e->cfg.intermediate_size;
    for (int l = 0; l < e->cfg.num_layers; l++) {
        EncoderLayer *L = &e->layers[l];
        e->ops->f32_to_act(L->qkv_wg, L->qkv_w, 3 * H * H);
        e->ops->f32_to_act(L->o_wg, L->o_w, H * H);
        e->ops->f32_to_act(L->ff1_wg, L->ff1_w, I * H);
        e->ops->f32_to_act(L->ff2_wg, L->ff2_w, H * I);
    }
}

void encoder_reserve(Encoder *e, int max_tokens, int max_seqs)
{
    if (max_tokens <= e->max_tokens && max_seqs <= e->max_seqs)
        return;
    max_tokens = grown_capacity(e->max_tokens, max_tokens, 0);
    if (max_seqs < e->max_seqs)
        max_seqs = e->max_seqs;
    const Ops *ops = e->ops;
    if (e->acts)
        ops->free(e->acts);
    size_t T = (size_t)max_tokens, H = (size_t)e->cfg.hidden_size, I = (size_t)e->cfg.intermediate_size;
    size_t a = ops->act_size;
    size_t sizes[] = {T * H * a, T * H * a, T * H * a, T * 3 * H * a, T * H * a, T * I * a,
                      T * 4, T * 4, T * 4, ((size_t)max_seqs + 1) * 4};
    size_t total = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        total += (sizes[k] + 255) & ~(size_t)255; /* keep every buffer 256-byte aligned */
    char *p = e->acts = ops->alloc(total);
    void **slots[] = {&e->x, &e->x1, &e->tmp, &e->qkv, &e->ctx, &e->ffn, (void **)&e->d_ids,
                      (void **)&e->d_positions, (void **)&e->d_types, (void **)&e->d_cu_seqlens};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        *slots[k] = p;
        p += (sizes[k] + 255) & ~(size_t)255;
    }
    e->max_tokens = max_tokens;
    e->max_seqs = max_seqs;
}

void encoder_forward(Encoder *e, const PackedBatch *b)
{
    const Ops *ops = e->ops;
    const BertConfig *c = &e->cfg;
    int T = b->n_tokens, H = c->hidden_size, I = c->intermediate_size, heads = c->num_heads;
    encoder_reserve(e, T, b->n_seqs);
    float eps = c->layer_norm_eps;
    /* Queued without waiting: b stays untouched until the caller's next wait (copy_to_host). */
    ops->copy_to_device_async(e->d_ids, b->ids, (size_t)T * 4);
    ops->copy_to_device_async(e->d_positions, b->positions, (size_t)T * 4);
    ops->copy_to_device_async(e->d_types, b->types, (size_t)T * 4);
    ops->copy_to_device_async(e->d_cu_seqlens, b->cu_seqlens, ((size_t)b->n_seqs + 1) * 4);

    ops->embed(e->tmp, e->d_ids, e->d_positions, e->d_types, e->word, e->pos, e->type, T, H);
    ops->layernorm(e->x, e->tmp, NULL, e->emb_ln_g, e->emb_ln_b, T, H, eps);
    for (int l = 0; l < c->num_layers; l++) {
        const EncoderLayer *L = &e->layers[l];
        ops->matmul(e->qkv, e->x, L->qkv_wg, L->qkv_b, T, 3 * H, H);
        ops->attention(e->ctx, e->qkv, e->d_cu_seqlens, b->n_seqs, b->max_seqlen, heads, H / heads, 0.0f, 0,
                       (DropoutKeys){b->n_seqs, 1, 0});
        ops->matmul(e->tmp, e->ctx, L->o_wg, L->o_b, T, H, H);
        ops->layernorm(e->x1, e->tmp, e->x, L->ln1_g, L->ln1_b, T, H, eps); /* post-LN residual */
        ops->matmul(e->ffn, e->x1, L->ff1_wg, NULL, T, I, H);
        ops->bias_gelu(e->ffn, L->ff1_b, T, I);
        ops->matmul(e->tmp, e->ffn, L->ff2_wg, L->ff2_b, T, H, I);
        ops->layernorm(e->x, e->tmp, e->x1, L->ln2_g, L->ln2_b, T, H, eps);
    }
}

void encoder_free(Encoder *e)
{
    if (e->ops) {
        if (e->params)
            e->ops->free(e->params);
        if (e->gemm_copy)
            e->ops->free(e->gemm_copy);
        if (e->acts)
            e->ops->free(e->acts);
    }
    free(e->layers);
    memset(e, 0, sizeof *e);
}
