#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/clock.h"
#include "host/fileio.h"
#include "host/safetensors.h"
#include "host/utf8.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/dropout_hash.h"
#include "tokenizer/unicode_tables.h"
#include "trainer/sentence_model.h"

static int load_dense(SentenceModel *m, SeError *err)
{
    const StPipeline *p = &m->pipe;
    char path[ST_PATH_MAX];
    if (path_join(path, sizeof path, p->dense_dir, "model.safetensors", err))
        return -1;
    if (!file_exists(path)) {
        char bin[ST_PATH_MAX];
        if (path_join(bin, sizeof bin, p->dense_dir, "pytorch_model.bin", err))
            return -1;
        if (file_exists(bin))
            return se_fail(err, "%s is a pickle, which sentembed never loads; re-save the model with "
                           "sentence-transformers >= 3 (SentenceTransformer(path).save(path)) to get safetensors",
                           bin);
        return se_fail(err, "%s: not found (the Dense layer's weights)", path);
    }
    if (p->dense_in != m->enc.cfg.hidden_size)
        return se_fail(err, "%s/config.json: in_features %d does not match the encoder's hidden size %d", p->dense_dir,
                       p->dense_in, m->enc.cfg.hidden_size);
    StFile f;
    if (st_open(&f, path, err))
        return -1;
    size_t nw = (size_t)p->dense_out * p->dense_in;
    float *w = se_xmalloc(nw * sizeof *w), *b = se_xcalloc((size_t)p->dense_out, sizeof *b);
    const StTensor *tw = st_find(&f, "linear.weight"), *tb = st_find(&f, "linear.bias");
    int rc = 0;
    if (!tw)
        rc = se_fail(err, "%s: missing tensor \"linear.weight\"", path);
    else if (tw->ndim != 2 || tw->shape[0] != p->dense_out || tw->shape[1] != p->dense_in)
        rc = se_fail(err, "%s: tensor \"linear.weight\" should have shape [%d, %d]", path, p->dense_out, p->dense_in);
    else if (st_read_f32(&f, tw, w, nw, err))
        rc = -1;
    else if (p->dense_bias && !tb)
        rc = se_fail(err, "%s: missing tensor \"linear.bias\" (config.json says bias: true)", path);
    else if (p->dense_bias && st_read_f32(&f, tb, b, (size_t)p->dense_out, err))
        rc = -1;
    st_close(&f);
    if (rc == 0) {
        m->dense_w = m->ops->alloc(nw * sizeof(float));
        m->dense_b = m->ops->alloc((size_t)p->dense_out * sizeof(float));
        m->ops->copy_to_device(m->dense_w, w, nw * sizeof(float));
        m->ops->copy_to_device(m->dense_b, b, (size_t)p->dense_out * sizeof(float));
    }
    free(w);
    free(b);
    return rc;
}

/* A new Dense layer as torch.nn.Linear initializes it: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
static void init_dense(SentenceModel *m, int out, DenseActivation act, uint64_t seed)
{
    StPipeline *p = &m->pipe;
    p->has_dense = true;
    p->dense_dir[0] = '\0';
    p->dense_in = m->enc.cfg.hidden_size;
    p->dense_out = out;
    p->dense_bias = true;
    p->dense_act = act;
    size_t nw = (size_t)out * p->dense_in;
    float *w = se_xmalloc((nw + (size_t)out) * sizeof *w);
    const double bound = 1.0 / sqrt((double)p->dense_in);
    for (size_t i = 0; i < nw + (size_t)out; i++)
        w[i] = (float)(((double)(se_mix64(seed + i) >> 11) / 9007199254740992.0 * 2 - 1) * bound);
    m->dense_w = m->ops->alloc(nw * sizeof(float));
    m->dense_b = m->ops->alloc((size_t)out * sizeof(float));
    m->ops->copy_to_device(m->dense_w, w, nw * sizeof(float));
    m->ops->copy_to_device(m->dense_b, w + nw, (size_t)out * sizeof(float));
    free(w);
}

const char *const SM_TOKENIZER_FILE_NAMES[SM_TOKENIZER_FILES] = {"vocab.txt", "tokenizer.json",
                                                                 "tokenizer_config.json", "special_tokens_map.json"};

/* The tokenizer files' bytes, kept for the saved model: a checkpoint a run resumed from
 * may be gone by the time the model is saved. The vocabulary of build->vocab_path stands
 * for the directory's vocab.txt / tokenizer.json. */
static int keep_tokenizer_files(SentenceModel *m, const char *vocab_path, SeError *err)
{
    for (int k = 0; k < SM_TOKENIZER_FILES; k++) {
        char path[ST_PATH_MAX];
        if (k < 2 && vocab_path) {
            if (k == 0 && file_read_all(vocab_path, &m->tok_files[0].data, &m->tok_files[0].len, err))
                return -1;
            continue;
        }
        if (path_join(path, sizeof path, m->pipe.transformer_dir, SM_TOKENIZER_FILE_NAMES[k], err))
            return -1;
        if (file_exists(path) && file_read_all(path, &m->tok_files[k].data, &m->tok_files[k].len, err))
            return -1;
    }
    return 0;
}

/* BertModel's pooler (pooler.dense.{weight,bias}, with or without "bert."), if the weights
 * have it: unused here, kept for the saved model (st_save). */
static void load_pooler(SentenceModel *m)
{
    const int H = m->enc.cfg.hidden_size;
    char src[ST_PATH_MAX];
    SeError ignored;
    StFile sf;
    if (path_join(src, sizeof src, m->pipe.transformer_dir, "model.safetensors", &ignored) != 0 || !file_exists(src) ||
        st_open(&sf, src, &ignored) != 0)
        return;
    const char *prefix = st_find(&sf, "pooler.dense.weight") ? "" : "bert.";
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%spooler.dense.weight", prefix);
    snprintf(bn, sizeof bn, "%spooler.dense.bias", prefix);
    const StTensor *pw = st_find(&sf, wn), *pb = st_find(&sf, bn);
    if (pw && pb && pw->ndim == 2 && pw->shape[0] == H && pw->shape[1] == H && pb->ndim == 1 && pb->shape[0] == H) {
        m->pooler = se_xmalloc(((size_t)H * H + (size_t)H) * sizeof *m->pooler);
        if (st_read_f32(&sf, pw, m->pooler, (size_t)H * H, &ignored) != 0 ||
            st_read_f32(&sf, pb, m->pooler + (size_t)H * H, (size_t)H, &ignored) != 0) {
            free(m->pooler);
            m->pooler = NULL;
        }
    }
    st_close(&sf);
}

int sm_load(SentenceModel *m, const char *dir, const Ops *ops, int batch_size, int max_seq_length, SeError *err)
{
    return sm_load_with(m, dir, ops, batch_size, max_seq_length, NULL, err);
}

static int load_model(SentenceModel *m, const char *dir, const Ops *ops, int batch_size, int max_seq_length,
                      const SmBuild *build, SeError *err)
{
    static const SmBuild AS_SAVED = {.normalize = -1};
    if (!build)
        build = &AS_SAVED;
    memset(m, 0, sizeof *m);
    m->ops = ops;
    if (st_pipeline_load(&m->pipe, dir, err))
        return -1;
    if (tok_load_dir_with_vocab(&m->tok, m->pipe.transformer_dir, build->vocab_path, err))
        return -1;
    char config[ST_PATH_MAX];
    int loaded = build->random_init
                     ? (path_join(config, sizeof config, m->pipe.transformer_dir, "config.json", err) ||
                        encoder_init_random(&m->enc, ops, config, build->seed, err))
                     : encoder_load(&m->enc, ops, m->pipe.transformer_dir, err);
    if (loaded) {
        tok_free(&m->tok);
        return -1;
    }
    if (!build->random_init)
        load_pooler(m);
    if (keep_tokenizer_files(m, build->vocab_path, err)) {
        sm_free(m);
        return -1;
    }
    if (build->pooling) {
        static const char *NAMES[] = {"mean", "cls", "max", "mean_sqrt_len_tokens"};
        int k = 0;
        while (k < 4 && strcmp(build->pooling, NAMES[k]))
            k++;
        if (k == 4) {
            se_fail(err, "pooling \"%s\": expected mean, cls, max or mean_sqrt_len_tokens", build->pooling);
            sm_free(m);
            return -1;
        }
        m->pipe.pooling = (PoolMode)k;
    }
    if (build->normalize >= 0)
        m->pipe.normalize = build->normalize != 0;
    const BertConfig *c = &m->enc.cfg;
    int rc = -1;
    if (m->tok.vocab.size > (size_t)c->vocab_size) {
        se_fail(err, "%s: the tokenizer has %zu tokens but config.json's vocab_size is %d", m->pipe.transformer_dir,
                m->tok.vocab.size, c->vocab_size);
        goto fail;
    }
    if (m->pipe.pooling_dim && m->pipe.pooling_dim != c->hidden_size) {
        se_fail(err, "%s: the Pooling module's word_embedding_dimension %d differs from the hidden size %d", dir,
                m->pipe.pooling_dim, c->hidden_size);
        goto fail;
    }
    int len = max_seq_length ? max_seq_length : m->pipe.max_seq_length;
    if (!len) { /* as sentence-transformers: the tokenizer's limit, capped by the model's */
        len = c->max_position_embeddings;
        if (m->tok.model_max_length > 0 && m->tok.model_max_length < len)
            len = (int)m->tok.model_max_length;
    }
    if (len < 2 || len > c->max_position_embeddings) {
        se_fail(err, "max_seq_length %d: expected 2 to %d (the model's max_position_embeddings)", len,
                c->max_position_embeddings);
        goto fail;
    }
    m->max_seq_length = len;
    m->batch_size = batch_size > 0 ? batch_size : 32;
    if (build->dense_out > 0 && m->pipe.has_dense) {
        se_fail(err, "%s already has a Dense layer (%d -> %d); a second one is not supported", dir, m->pipe.dense_in,
                m->pipe.dense_out);
        goto fail;
    }
    if (m->pipe.has_dense && load_dense(m, err))
        goto fail;
    if (build->dense_out > 0)
        init_dense(m, build->dense_out, build->dense_act, se_mix64(build->seed ^ 0xDE45Eull));
    m->out_dim = m->pipe.has_dense ? m->pipe.dense_out : c->hidden_size;
    m->pooled = ops->alloc((size_t)m->batch_size * c->hidden_size * sizeof(float));
    m->dense_out = ops->alloc((size_t)m->batch_size * m->out_dim * sizeof(float));
    packed_batch_alloc(&m->pb, (size_t)m->batch_size, (size_t)m->batch_size * len, ops);
    return 0;
fail:
    sm_free(m);
    return rc;
}

int sm_load_with(SentenceModel *m, const char *dir, const Ops *ops, int batch_size, int max_seq_length,
                 const SmBuild *build, SeError *err)
{
    SeContext ctx;
    se_context_push(&ctx, "loading the model", dir, NULL);
    int rc = load_model(m, dir, ops, batch_size, max_seq_length, build, err);
    se_context_pop(&ctx);
    return rc;
}

/* sentence-transformers' do_lower_case: the texts are lowercased before tokenizing
 * (per character, like the tokenizer's own lowercasing; Python's str.lower() differs
 * only for a final capital sigma). */
static void lowercase_batch(SmTokens *s, const char *const *texts, const size_t *lens, size_t count)
{
    size_t need = 0;
    for (size_t i = 0; i < count; i++)
        need += 3 * lens[i] + 4;
    if (s->lowered_cap < need) {
        s->lowered_cap = need;
        s->lowered = se_xrealloc(s->lowered, need);
    }
    if (s->lower_cap < count) {
        s->lower_cap = count;
        s->lower_texts = se_xrealloc(s->lower_texts, count * sizeof *s->lower_texts);
        s->lower_lens = se_xrealloc(s->lower_lens, count * sizeof *s->lower_lens);
    }
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        size_t start = o, k = 0;
        while (k < lens[i]) {
            uint32_t low[3];
            int n = uni_lower(utf8_decode_valid((const uint8_t *)texts[i], &k), low);
            for (int j = 0; j < n; j++)
                o += (size_t)utf8_encode(low[j], (uint8_t *)s->lowered + o);
        }
        s->lower_texts[i] = s->lowered + start;
        s->lower_lens[i] = o - start;
    }
}

/* Sequence i (ids[0..len)) at token s0 of b. */
static void pack_sequence(PackedBatch *b, size_t i, int s0, const int32_t *ids, int len)
{
    b->cu_seqlens[i] = s0;
    if (len > b->max_seqlen)
        b->max_seqlen = len;
    for (int t = 0; t < len; t++) {
        b->ids[s0 + t] = ids[t];
        b->positions[s0 + t] = t;
        b->types[s0 + t] = 0;
    }
}

void packed_batch_from_offsets(PackedBatch *b, const int32_t *ids, const size_t *offsets, size_t n)
{
    b->n_seqs = (int)n;
    b->n_tokens = (int)offsets[n];
    b->max_seqlen = 0;
    for (size_t i = 0; i < n; i++)
        pack_sequence(b, i, (int)offsets[i], ids + offsets[i], (int)(offsets[i + 1] - offsets[i]));
    b->cu_seqlens[n] = b->n_tokens;
}

void packed_batch_from_seqs(PackedBatch *b, const int32_t *const *seqs, const size_t *lens, size_t n, size_t max_len)
{
    int s0 = 0;
    b->n_seqs = (int)n;
    b->max_seqlen = 0;
    for (size_t i = 0; i < n; i++) {
        int len = (int)(lens[i] < max_len ? lens[i] : max_len);
        pack_sequence(b, i, s0, seqs[i], len);
        if (lens[i] > max_len) /* cut as the tokenizer cuts: the final [SEP] stays */
            b->ids[s0 + len - 1] = seqs[i][lens[i] - 1];
        s0 += len;
    }
    b->n_tokens = s0;
    b->cu_seqlens[n] = s0;
}

PackedBatch *sm_pack(SentenceModel *m, size_t n)
{
    packed_batch_from_offsets(&m->pb, m->tokens.tb.ids, m->tokens.tb.offsets, n);
    return &m->pb;
}

void packed_batch_alloc(PackedBatch *b, size_t n_seqs, size_t n_tokens, const Ops *ops)
{
    void *(*get)(size_t) = ops ? ops->host_alloc : se_xmalloc;
    memset(b, 0, sizeof *b);
    b->host_ops = ops;
    b->ids = get(n_tokens * 4);
    b->positions = get(n_tokens * 4);
    b->types = get(n_tokens * 4);
    b->cu_seqlens = get((n_seqs + 1) * 4);
}

void packed_batch_free(PackedBatch *b)
{
    void (*put)(void *) = b->host_ops ? b->host_ops->host_free : free;
    int32_t *bufs[] = {b->ids, b->positions, b->types, b->cu_seqlens};
    for (int k = 0; k < 4; k++)
        if (bufs[k])
            put(bufs[k]);
    memset(b, 0, sizeof *b);
}

void sm_tokenize_into(const SentenceModel *m, SmTokens *s, const char *const *texts, const size_t *lens, size_t n,
                      int threads)
{
    if (m->pipe.do_lower_case) {
        lowercase_batch(s, texts, lens, n);
        texts = s->lower_texts;
        lens = s->lower_lens;
    }
    tok_encode_batch(&m->tok, &s->tb, texts, lens, NULL, NULL, n, (size_t)m->max_seq_length, threads);
}

void sm_tokenize(SentenceModel *m, const char *const *texts, const size_t *lens, size_t n)
{
    sm_tokenize_into(m, &m->tokens, texts, lens, n, 0);
}

void sm_tokens_free(SmTokens *s)
{
    tok_batch_free(&s->tb);
    free(s->lowered);
    free(s->lower_texts);
    free(s->lower_lens);
    memset(s, 0, sizeof *s);
}

/* Longest text first (in bytes), as sentence-transformers' encode orders its batches: each
 * batch holds sequences of similar length (attention's work per batch follows its longest
 * one), and the first batch sizes the activation arena for all. Ties keep the input order. */
typedef struct {
    size_t len, index;
} TextOrder;

static int by_length_desc(const void *pa, const void *pb)
{
    const TextOrder *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len < b->len ? 1 : -1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Tokenizes texts order[first .. first + count) (by their TextOrder) into m->tokens. */
static void tokenize_in_order(SentenceModel *m, const char *const *texts, const TextOrder *order, size_t first,
                              size_t count, const char **batch_texts, size_t *batch_lens)
{
    const double t = se_now_s();
    for (size_t i = 0; i < count; i++)
        batch_texts[i] = texts[order[first + i].index], batch_lens[i] = order[first + i].len;
    sm_tokenize(m, batch_texts, batch_lens, count);
    m->encode_time.tokenize_s += se_now_s() - t;
}

void sm_encode(SentenceModel *m, const char *const *texts, const size_t *lens, size_t n, bool normalize, float *out,
               SmProgress progress, void *progress_arg)
{
    const Ops *ops = m->ops;
    const int H = m->enc.cfg.hidden_size, D = m->out_dim;
    const size_t bs = (size_t)m->batch_size;
    TextOrder *order = se_xmalloc((n ? n : 1) * sizeof *order);
    size_t *batch_lens = se_xmalloc(bs * sizeof *batch_lens);
    const char **batch_texts = se_xmalloc(bs * sizeof *batch_texts);
    float *rows = se_xmalloc(bs * (size_t)D * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        order[i] = (TextOrder){lens[i], i};
    qsort(order, n, sizeof *order, by_length_desc);
    if (n)
        tokenize_in_order(m, texts, order, 0, n < bs ? n : bs, batch_texts, batch_lens);
    for (size_t start = 0; start < n; start += bs) {
        const size_t count = n - start < bs ? n - start : bs;
        const double t0 = se_now_s();
        PackedBatch *b = sm_pack(m, count); /* pinned: read by the device until copy_to_host */
        encoder_forward(&m->enc, b);
        ops->pool(m->pooled, m->enc.x, m->enc.d_cu_seqlens, (int)count, H, m->pipe.pooling);
        float *final = m->pooled;
        if (m->pipe.has_dense) {
            ops->linear_f32(m->dense_out, m->pooled, m->dense_w, m->dense_b, (int)count, D, H);
            if (m->pipe.dense_act == DENSE_TANH)
                ops->tanh_f32(m->dense_out, count * (size_t)D);
            final = m->dense_out;
        }
        if (m->pipe.normalize)
            ops->normalize(final, (int)count, D);
        m->encode_time.queue_s += se_now_s() - t0;
        /* On a GPU the batch is queued by now: tokenize the next one meanwhile (b was packed
         * from the tokens, so they may be overwritten). */
        const size_t next = start + count;
        if (next < n)
            tokenize_in_order(m, texts, order, next, n - next < bs ? n - next : bs, batch_texts, batch_lens);
        const double t1 = se_now_s();
        ops->copy_to_host(rows, final, count * (size_t)D * sizeof(float));
        m->encode_time.wait_s += se_now_s() - t1;
        if (normalize)
            normalize_forward_cpu(rows, (int)count, D);
        for (size_t i = 0; i < count; i++)
            memcpy(out + order[start + i].index * (size_t)D, rows + i * (size_t)D, (size_t)D * sizeof *rows);
        if (progress)
            progress(start + count, n, progress_arg);
    }
    ops->synchronize();
    free(order);
    free(batch_lens);
    free(batch_texts);
    free(rows);
}

void sm_free(SentenceModel *m)
{
    if (m->ops) {
        if (m->dense_w)
            m->ops->free(m->dense_w);
        if (m->dense_b)
            m->ops->free(m->dense_b);
        if (m->pooled)
            m->ops->free(m->pooled);
        if (m->dense_out)
            m->ops->free(m->dense_out);
    }
    free(m->pooler);
    for (int k = 0; k < SM_TOKENIZER_FILES; k++)
        free(m->tok_files[k].data);
    encoder_free(&m->enc);
    tok_free(&m->tok);
    sm_tokens_free(&m->tokens);
    packed_batch_free(&m->pb);
    memset(m, 0, sizeof *m);
}
