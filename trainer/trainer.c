#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dropout_hash.h"
#include "trainer/trainer.h"

/* Backend f32 buffer of n floats, zeroed. */
static float *alloc_zeroed(const Ops *ops, size_t n)
{
    float *p = ops->alloc((n ? n : 1) * sizeof(float));
    ops->zero(p, n * sizeof(float));
    return p;
}

/* The loss has a fused kernel on this backend. */
static int fused_loss(const Trainer *t)
{
    const Ops *ops = t->m->ops;
    switch (t->loss.kind) {
    case LOSS_TRIPLET:
        return ops->loss_triplet != NULL;
    case LOSS_MNRL:
        return ops->loss_mnrl != NULL;
    case LOSS_SOFTMAX:
        return ops->loss_softmax != NULL;
    default:
        return 0;
    }
}

int trainer_init(Trainer *t, SentenceModel *m, const LossConfig *loss, const TrainConfig *cfg, int n_columns,
                 int max_rows, SeError *err)
{
    memset(t, 0, sizeof *t);
    static const int COLUMNS[] = {[LOSS_MNRL] = 2, [LOSS_TRIPLET] = 3, [LOSS_COSINE_SIMILARITY] = 2,
                                  [LOSS_COSENT] = 2, [LOSS_CONTRASTIVE] = 2, [LOSS_SOFTMAX] = 2,
                                  [LOSS_ONLINE_CONTRASTIVE] = 2, [LOSS_BATCH_HARD_TRIPLET] = 1};
    if (loss->kind == LOSS_MNRL ? n_columns < 2 : n_columns != COLUMNS[loss->kind])
        return se_fail(err, "this loss takes %s%d text columns, the data has %d", loss->kind == LOSS_MNRL ? "at least " : "",
                       COLUMNS[loss->kind], n_columns);
    const Ops *ops = m->ops;
    t->m = m;
    t->loss = *loss;
    t->cfg = *cfg;
    t->n_columns = n_columns;
    t->max_rows = max_rows;
    t->world = 1;
    int seqs = n_columns * max_rows;
    /* the model's batch buffers are sized for m->batch_size sequences */
    if (seqs > m->batch_size)
        return se_fail(err, "internal: the model was loaded for %d sequences per batch, training needs %d",
                       m->batch_size, seqs);
    if (encoder_train_init(&t->et, &m->enc, seqs * m->max_seq_length, seqs, err))
        return -1;
    t->et.hidden_dropout = cfg->hidden_dropout;
    t->et.attention_dropout = cfg->attention_dropout;
    const size_t n = m->enc.n_params, N = (size_t)seqs, D = (size_t)m->out_dim, H = (size_t)m->enc.cfg.hidden_size;
    t->pre_norm = alloc_zeroed(ops, N * D);
    t->g = alloc_zeroed(ops, N * D);
    t->g_norm = alloc_zeroed(ops, N * D);
    t->g_pool = alloc_zeroed(ops, N * H);
    t->m_enc = alloc_zeroed(ops, n);
    t->v_enc = alloc_zeroed(ops, n);
    t->emb_host = se_xmalloc(N * D * sizeof *t->emb_host);
    t->g_host = se_xmalloc(N * D * sizeof *t->g_host);
    t->x = se_xmalloc(N * D * sizeof *t->x);
    t->dx = se_xmalloc(N * D * sizeof *t->dx);
    t->class_ids = se_xmalloc((size_t)max_rows * sizeof *t->class_ids);
    t->d_labels = ops->alloc((size_t)max_rows * sizeof(int32_t));
    if (m->pipe.has_dense) {
        size_t nw = (size_t)m->pipe.dense_out * m->pipe.dense_in, nb = (size_t)m->pipe.dense_out;
        t->dense_gw = alloc_zeroed(ops, nw), t->dense_mw = alloc_zeroed(ops, nw), t->dense_vw = alloc_zeroed(ops, nw);
        t->dense_gb = alloc_zeroed(ops, nb), t->dense_mb = alloc_zeroed(ops, nb), t->dense_vb = alloc_zeroed(ops, nb);
    }
    if (loss->kind == LOSS_SOFTMAX) {
        /* nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from the seed */
        const size_t L = (size_t)loss->num_labels, F = 3 * D, nw = L * F;
        t->cls_w = alloc_zeroed(ops, nw), t->cls_b = alloc_zeroed(ops, L);
        t->cls_gw = alloc_zeroed(ops, nw), t->cls_gb = alloc_zeroed(ops, L);
        t->cls_mw = alloc_zeroed(ops, nw), t->cls_vw = alloc_zeroed(ops, nw);
        t->cls_mb = alloc_zeroed(ops, L), t->cls_vb = alloc_zeroed(ops, L);
        t->cls_host = se_xmalloc((nw + L) * sizeof *t->cls_host);
        t->cls_wd = se_xmalloc(nw * sizeof *t->cls_wd), t->cls_bd = se_xmalloc(L * sizeof *t->cls_bd);
        t->cls_gwd = se_xmalloc(nw * sizeof *t->cls_gwd), t->cls_gbd = se_xmalloc(L * sizeof *t->cls_gbd);
        unsigned s = cfg->seed * 2654435761u + 1;
        double bound = 1.0 / sqrt((double)F);
        for (size_t i = 0; i < nw + L; i++) {
            s = s * 1664525u + 1013904223u;
            t->cls_host[i] = (float)(((double)(s >> 8) / 16777216.0 * 2 - 1) * bound);
        }
        trainer_set_classifier(t, t->cls_host, t->cls_host + nw);
    }
    return 0;
}

void trainer_set_classifier(Trainer *t, const float *W, const float *b)
{
    const Ops *ops = t->m->ops;
    const size_t L = (size_t)t->loss.num_labels, nw = L * 3 * (size_t)t->m->out_dim;
    ops->copy_to_device(t->cls_w, W, nw * sizeof(float));
    ops->copy_to_device(t->cls_b, b, L * sizeof(float));
}

/* AdamW over the encoder arena tensor by tensor: decay for embedding tables and weight
 * matrices, none for biases and LayerNorm parameters. */
static void update_encoder(Trainer *t, const AdamWArgs *decay, const AdamWArgs *no_decay)
{
    Encoder *e = &t->m->enc;
    const Ops *ops = e->ops;
    const float *g = t->et.grads;
    float *base = e->params;
#define UPDATE(ptr, count, args)                                                                       \
    do {                                                                                               \
        size_t off = (size_t)((ptr) - base);                                                           \
        ops->adamw(base + off, g + off, t->m_enc + off, t->v_enc + off, (count), (args));              \
    } while (0)
    const BertConfig *cf = &e->cfg;
    size_t H = (size_t)cf->hidden_size, I = (size_t)cf->intermediate_size;
    UPDATE(e->word, (size_t)cf->vocab_size * H, decay);
    UPDATE(e->pos, (size_t)cf->max_position_embeddings * H, decay);
    UPDATE(e->type, (size_t)cf->type_vocab_size * H, decay);
    UPDATE(e->emb_ln_g, 2 * H, no_decay); /* gamma and beta are adjacent */
    for (int l = 0; l < cf->num_layers; l++) {
        EncoderLayer *L = &e->layers[l];
        UPDATE(L->qkv_w, 3 * H * H, decay);
        UPDATE(L->qkv_b, 3 * H, no_decay);
        UPDATE(L->o_w, H * H, decay);
        UPDATE(L->o_b, H + 2 * H, no_decay); /* o_b, ln1_g, ln1_b */
        UPDATE(L->ff1_w, I * H, decay);
        UPDATE(L->ff1_b, I, no_decay);
        UPDATE(L->ff2_w, H * I, decay);
        UPDATE(L->ff2_b, H + 2 * H, no_decay); /* ff2_b, ln2_g, ln2_b */
    }
#undef UPDATE
}

/* The loss on the host in double: embeddings down, gradient (scaled) up into t->g. */
static double host_loss(Trainer *t, const float *emb, int rows, const double *labels, double grad_scale)
{
    SentenceModel *m = t->m;
    const Ops *ops = m->ops;
    const int K = t->n_columns, N = K * rows, D = m->out_dim;
    const size_t ND = (size_t)N * D;
    ops->copy_to_host(t->emb_host, emb, ND * sizeof(float));
    double *x = t->x, *dx = t->dx, loss; /* every loss writes all of dx */
    for (size_t i = 0; i < ND; i++)
        x[i] = t->emb_host[i];
    const double *c0 = x, *c1 = x + (size_t)rows * D, *c2 = x + 2 * (size_t)rows * D;
    double *d0 = dx, *d1 = dx + (size_t)rows * D, *d2 = dx + 2 * (size_t)rows * D;
    const LossConfig *lc = &t->loss;
    switch (lc->kind) {
    case LOSS_SOFTMAX: {
        const int L = lc->num_labels;
        const size_t nw = (size_t)L * 3 * D;
        for (int r = 0; r < rows; r++)
            t->class_ids[r] = (int)labels[r];
        /* the classifier, its gradient accumulator: down, add this batch's part, up */
        ops->copy_to_host(t->cls_host, t->cls_w, nw * sizeof(float));
        ops->copy_to_host(t->cls_host + nw, t->cls_b, (size_t)L * sizeof(float));
        for (size_t i = 0; i < nw; i++)
            t->cls_wd[i] = t->cls_host[i];
        for (int l = 0; l < L; l++)
            t->cls_bd[l] = t->cls_host[nw + l];
        loss = loss_softmax(c0, c1, t->class_ids, rows, D, L, t->cls_wd, t->cls_bd, d0, d1, t->cls_gwd, t->cls_gbd);
        ops->copy_to_host(t->cls_host, t->cls_gw, nw * sizeof(float));
        ops->copy_to_host(t->cls_host + nw, t->cls_gb, (size_t)L * sizeof(float));
        for (size_t i = 0; i < nw; i++)
            t->cls_host[i] += (float)(t->cls_gwd[i] * grad_scale);
        for (int l = 0; l < L; l++)
            t->cls_host[nw + l] += (float)(t->cls_gbd[l] * grad_scale);
        ops->copy_to_device(t->cls_gw, t->cls_host, nw * sizeof(float));
        ops->copy_to_device(t->cls_gb, t->cls_host + nw, (size_t)L * sizeof(float));
        break;
    }
    case LOSS_MNRL:
        loss = loss_mnrl(c0, c1, rows, K - 2, D, lc->scale, d0, d1);
        break;
    case LOSS_TRIPLET:
        loss = loss_triplet(c0, c1, c2, rows, D, lc->triplet_metric, lc->margin, d0, d1, d2);
        break;
    case LOSS_COSINE_SIMILARITY:
        loss = loss_cosine_similarity(c0, c1, labels, rows, D, d0, d1);
        break;
    case LOSS_COSENT:
        loss = loss_cosent(c0, c1, labels, rows, D, lc->scale, d0, d1);
        break;
    case LOSS_ONLINE_CONTRASTIVE:
        loss = loss_online_contrastive(c0, c1, labels, rows, D, lc->margin, d0, d1);
        break;
    case LOSS_BATCH_HARD_TRIPLET:
        loss = loss_batch_hard_triplet(c0, labels, rows, D, lc->margin, d0);
        break;
    default:
        loss = loss_contrastive(c0, c1, labels, rows, D, lc->margin, d0, d1);
        break;
    }
    for (size_t i = 0; i < ND; i++)
        t->g_host[i] = (float)(dx[i] * grad_scale);
    ops->copy_to_device(t->g, t->g_host, ND * sizeof(float));
    return loss;
}

/* The fused loss kernel of the backend, gradient (scaled) into t->g. */
static double backend_loss(Trainer *t, const float *emb, int rows, const double *labels, double grad_scale)
{
    const Ops *ops = t->m->ops;
    const LossConfig *lc = &t->loss;
    const int D = t->m->out_dim;
    if (lc->kind == LOSS_TRIPLET)
        return ops->loss_triplet(t->g, emb, rows, D, (int)lc->triplet_metric, (float)lc->margin, (float)grad_scale);
    if (lc->kind == LOSS_MNRL)
        return ops->loss_mnrl(t->g, emb, rows, t->n_columns, D, (float)lc->scale, (float)grad_scale);
    for (int r = 0; r < rows; r++)
        t->class_ids[r] = (int)labels[r];
    ops->copy_to_device(t->d_labels, t->class_ids, (size_t)rows * sizeof(int32_t));
    return ops->loss_softmax(t->g, t->cls_gw, t->cls_gb, emb, t->d_labels, t->cls_w, t->cls_b, rows, D,
                             lc->num_labels, (float)grad_scale);
}

/* The step after packing: forward, loss, backward, and the update every accumulation-th
 * micro-batch. */
double trainer_step_packed(Trainer *t, PackedBatch *b, int rows, const double *labels)
{
    SentenceModel *m = t->m;
    const Ops *ops = m->ops;
    const int K = t->n_columns, N = K * rows, H = m->enc.cfg.hidden_size, D = m->out_dim;
    /* 2. forward: encoder, pooling, Dense, Normalize */
    /* one seed per micro-batch on every rank; the keys tell each sequence's global place */
    t->et.dropout_seed = se_mix64(((uint64_t)t->cfg.seed << 32) ^ (uint64_t)t->step);
    t->et.dropout_keys = (DropoutKeys){rows, K, t->rows_before + t->first_row};
    t->rows_before += t->global_rows > 0 ? t->global_rows : rows;
    t->micro_steps++;
    encoder_train_forward(&t->et, b);
    float *pooled = m->pooled, *dense = m->dense_out;
    ops->pool(pooled, t->et.out, m->enc.d_cu_seqlens, N, H, m->pipe.pooling);
    float *emb = pooled;
    if (m->pipe.has_dense) {
        ops->linear_f32(dense, pooled, m->dense_w, m->dense_b, N, D, H);
        if (m->pipe.dense_act == DENSE_TANH)
            ops->tanh_f32(dense, (size_t)N * D);
        emb = dense;
    }
    if (m->pipe.normalize) {
        ops->copy_on_device(t->pre_norm, emb, (size_t)N * D * sizeof(float));
        ops->normalize(emb, N, D);
    }
    /* 3. the loss and its gradient, scaled for accumulation, into t->g */
    const int accum = t->cfg.accumulation > 1 ? t->cfg.accumulation : 1;
    /* this rank's share of the global micro-batch (1 in a world of one) */
    const double share = t->global_rows > 0 ? (double)rows / (double)t->global_rows : 1.0;
    const double grad_scale = share / accum;
    double loss = fused_loss(t) ? backend_loss(t, emb, rows, labels, grad_scale)
                                : host_loss(t, emb, rows, labels, grad_scale);
    /* 4. backward through Normalize, Dense, pooling and the encoder */
    float *g = t->g;
    if (m->pipe.normalize) {
        ops->normalize_backward(t->g_norm, g, t->pre_norm, N, D);
        g = t->g_norm;
    }
    float *g_pool = g;
    if (m->pipe.has_dense) {
        if (m->pipe.dense_act == DENSE_TANH) /* tanh's output: before normalization */
            ops->tanh_backward(g, g, m->pipe.normalize ? t->pre_norm : dense, (size_t)N * D);
        ops->linear_f32_backward(t->g_pool, t->dense_gw, t->dense_gb, g, pooled, m->dense_w, N, D, H);
        g_pool = t->g_pool;
    }
    ops->pool_backward(t->et.d_out, g_pool, t->et.out, m->enc.d_cu_seqlens, N, H, m->pipe.pooling);
    encoder_train_backward(&t->et, b, t->et.d_out);
    t->last_update = ++t->pending >= accum ? trainer_flush(t) : 0;
    return loss;
}

double trainer_step(Trainer *t, const char *const *texts, const size_t *lens, int rows, const double *labels)
{
    SentenceModel *m = t->m;
    const size_t N = (size_t)t->n_columns * (size_t)rows;
    /* 1. tokenize and pack all columns: sequence c * rows + r */
    sm_tokenize(m, texts, lens, (size_t)N);
    return trainer_step_packed(t, sm_pack(m, N), rows, labels);
}

void trainer_discard(Trainer *t)
{
    const Ops *ops = t->m->ops;
    const size_t H = (size_t)t->m->enc.cfg.hidden_size, D = (size_t)t->m->out_dim;
    t->pending = 0;
    t->rows_before = 0;
    encoder_train_zero_grads(&t->et);
    if (t->dense_gw) {
        ops->zero(t->dense_gw, D * H * sizeof(float));
        ops->zero(t->dense_gb, D * sizeof(float));
    }
    if (t->cls_gw) {
        const size_t L = (size_t)t->loss.num_labels;
        ops->zero(t->cls_gw, L * 3 * D * sizeof(float));
        ops->zero(t->cls_gb, L * sizeof(float));
    }
}

void trainer_set_collectives(Trainer *t, const Collectives *coll, int rank, int world)
{
    t->coll = coll;
    t->rank = rank;
    t->world = world;
}

void trainer_broadcast_weights(Trainer *t)
{
    if (!t->coll || t->world <= 1)
        return;
    SentenceModel *m = t->m;
    const size_t D = (size_t)m->out_dim, H = (size_t)m->enc.cfg.hidden_size;
    t->coll->broadcast(m->enc.params, m->enc.n_params * sizeof(float), 0);
    if (m->pipe.has_dense) {
        t->coll->broadcast(m->dense_w, D * H * sizeof(float), 0);
        t->coll->broadcast(m->dense_b, D * sizeof(float), 0);
    }
    if (t->loss.kind == LOSS_SOFTMAX) {
        t->coll->broadcast(t->cls_w, (size_t)t->loss.num_labels * 3 * D * sizeof(float), 0);
        t->coll->broadcast(t->cls_b, (size_t)t->loss.num_labels * sizeof(float), 0);
    }
    encoder_refresh_gemm_copies(&m->enc);
}

int trainer_flush(Trainer *t)
{
    if (t->pending == 0)
        return 0;
    t->pending = 0;
    t->rows_before = 0;
    SentenceModel *m = t->m;
    const Ops *ops = m->ops;
    const LossConfig *lc = &t->loss;
    const size_t H = (size_t)m->enc.cfg.hidden_size, D = (size_t)m->out_dim;

    /* clipping covers the model's parameters (model.parameters() in the reference), not the
     * SoftmaxLoss classifier, which belongs to the loss */
    float *grads[3] = {t->et.grads, t->dense_gw, t->dense_gb};
    size_t sizes[3] = {m->enc.n_params, m->pipe.has_dense ? D * H : 0, m->pipe.has_dense ? D : 0};
    if (t->coll && t->world > 1) { /* each rank's part is weighted already: the sum is the global gradient */
        for (int k = 0; k < 3; k++)
            if (sizes[k])
                t->coll->all_reduce_sum(grads[k], sizes[k]);
        if (lc->kind == LOSS_SOFTMAX) {
            t->coll->all_reduce_sum(t->cls_gw, (size_t)lc->num_labels * 3 * D);
            t->coll->all_reduce_sum(t->cls_gb, (size_t)lc->num_labels);
        }
    }
    double ss = 0;
    for (int k = 0; k < 3; k++)
        if (sizes[k])
            ss += ops->sum_squares(grads[k], sizes[k]);
    const double norm = sqrt(ss);
    t->last_grad_norm = norm;
    if (!isfinite(norm)) { /* a NaN or inf gradient never reaches the weights */
        trainer_discard(t);
        return -1;
    }
    if (t->cfg.max_grad_norm > 0) { /* as torch.nn.utils.clip_grad_norm_ */
        double coef = t->cfg.max_grad_norm / (norm + 1e-6);
        if (coef < 1.0)
            for (int k = 0; k < 3; k++)
                if (sizes[k])
                    ops->scale_f32(grads[k], sizes[k], (float)coef);
    }
    t->step++;
    double lr = t->cfg.adamw.lr * schedule_factor(t->cfg.schedule, t->step - 1, t->cfg.warmup_steps, t->cfg.total_steps);
    t->last_lr = lr;
    const AdamWArgs decay = adamw_args(&t->cfg.adamw, lr, t->step, true),
                    no_decay = adamw_args(&t->cfg.adamw, lr, t->step, false);
    update_encoder(t, &decay, &no_decay);
    encoder_refresh_gemm_copies(&m->enc);
    if (m->pipe.has_dense) {
        ops->adamw(m->dense_w, t->dense_gw, t->dense_mw, t->dense_vw, D * H, &decay);
        ops->adamw(m->dense_b, t->dense_gb, t->dense_mb, t->dense_vb, D, &no_decay);
        ops->zero(t->dense_gw, D * H * sizeof(float));
        ops->zero(t->dense_gb, D * sizeof(float));
    }
    if (lc->kind == LOSS_SOFTMAX) {
        const size_t L = (size_t)lc->num_labels, nw = L * 3 * D;
        ops->adamw(t->cls_w, t->cls_gw, t->cls_mw, t->cls_vw, nw, &decay);
        ops->adamw(t->cls_b, t->cls_gb, t->cls_mb, t->cls_vb, L, &no_decay);
        ops->zero(t->cls_gw, nw * sizeof(float));
        ops->zero(t->cls_gb, L * sizeof(float));
    }
    encoder_train_zero_grads(&t->et);
    return 1;
}

void trainer_free(Trainer *t)
{
    if (!t->m)
        return;
    const Ops *ops = t->m->ops;
    encoder_train_free(&t->et);
    float *dev[] = {t->m_enc,  t->v_enc,  t->dense_gw, t->dense_gb, t->dense_mw, t->dense_vw, t->dense_mb,
                    t->dense_vb, t->cls_w, t->cls_b,  t->cls_gw,   t->cls_gb,   t->cls_mw,   t->cls_vw,
                    t->cls_mb, t->cls_vb, t->pre_norm, t->g,       t->g_norm,   t->g_pool};
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++)
        if (dev[k])
            ops->free(dev[k]);
    if (t->d_labels)
        ops->free(t->d_labels);
    free(t->emb_host), free(t->g_host), free(t->cls_host), free(t->x), free(t->dx);
    free(t->cls_wd), free(t->cls_bd), free(t->cls_gwd), free(t->cls_gbd), free(t->class_ids);
    memset(t, 0, sizeof *t);
}
