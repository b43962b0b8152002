#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "trainer/trainer.h"

int trainer_init(Trainer *t, SentenceModel *m, const LossConfig *loss, const TrainConfig *cfg, int n_columns,
                 int max_rows, SeError *err)
{
    memset(t, 0, sizeof *t);
    if (strcmp(m->ops->name, "cpu") != 0)
        return se_fail(err, "training on the %s backend is not implemented yet; use --device cpu", m->ops->name);
    static const int COLUMNS[] = {[LOSS_MNRL] = 2, [LOSS_TRIPLET] = 3, [LOSS_COSINE_SIMILARITY] = 2,
                                  [LOSS_COSENT] = 2, [LOSS_CONTRASTIVE] = 2, [LOSS_SOFTMAX] = 2,
                                  [LOSS_ONLINE_CONTRASTIVE] = 2, [LOSS_BATCH_HARD_TRIPLET] = 1};
    if (loss->kind == LOSS_MNRL ? n_columns < 2 : n_columns != COLUMNS[loss->kind])
        return se_fail(err, "this loss takes %s%d text columns, the data has %d", loss->kind == LOSS_MNRL ? "at least " : "",
                       COLUMNS[loss->kind], n_columns);
    t->m = m;
    t->loss = *loss;
    t->cfg = *cfg;
    t->n_columns = n_columns;
    t->max_rows = max_rows;
    int seqs = n_columns * max_rows;
    /* the model's batch buffers are sized for m->batch_size sequences */
    if (seqs > m->batch_size)
        return se_fail(err, "internal: the model was loaded for %d sequences per batch, training needs %d",
                       m->batch_size, seqs);
    if (encoder_train_init(&t->et, &m->enc, seqs * m->max_seq_length, seqs, err))
        return -1;
    size_t n = m->enc.n_params;
    {
        size_t N = (size_t)seqs, D = (size_t)m->out_dim, H = (size_t)m->enc.cfg.hidden_size;
        t->pre_norm = se_xmalloc(N * D * sizeof *t->pre_norm);
        t->g = se_xmalloc(N * (D > H ? D : H) * sizeof *t->g);
        t->g2 = se_xmalloc(N * H * sizeof *t->g2);
        t->x = se_xmalloc(N * D * sizeof *t->x);
        t->dx = se_xmalloc(N * D * sizeof *t->dx);
        t->class_ids = se_xmalloc((size_t)max_rows * sizeof *t->class_ids);
        t->dout = m->ops->alloc((size_t)seqs * m->max_seq_length * H * m->ops->act_size);
    }
    t->m_enc = se_xcalloc(n, sizeof(float));
    t->v_enc = se_xcalloc(n, sizeof(float));
    if (m->pipe.has_dense) {
        size_t nw = (size_t)m->pipe.dense_out * m->pipe.dense_in, nb = (size_t)m->pipe.dense_out;
        t->dense_gw = se_xcalloc(nw, sizeof(float)), t->dense_mw = se_xcalloc(nw, sizeof(float));
        t->dense_vw = se_xcalloc(nw, sizeof(float));
        t->dense_gb = se_xcalloc(nb, sizeof(float)), t->dense_mb = se_xcalloc(nb, sizeof(float));
        t->dense_vb = se_xcalloc(nb, sizeof(float));
    }
    if (loss->kind == LOSS_SOFTMAX) {
        /* nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from the seed */
        int L = loss->num_labels, F = 3 * m->out_dim;
        size_t nw = (size_t)L * F;
        t->cls_w = se_xmalloc(nw * sizeof(double)), t->cls_b = se_xmalloc((size_t)L * sizeof(double));
        t->cls_wf = se_xmalloc(nw * sizeof(float)), t->cls_bf = se_xmalloc((size_t)L * sizeof(float));
        t->cls_gw = se_xcalloc(nw, sizeof(float)), t->cls_gb = se_xcalloc((size_t)L, sizeof(float));
        t->cls_m = se_xcalloc(nw, sizeof(float)), t->cls_v = se_xcalloc(nw, sizeof(float));
        t->cls_mb = se_xcalloc((size_t)L, sizeof(float)), t->cls_vb = se_xcalloc((size_t)L, sizeof(float));
        t->cls_gw_d = se_xmalloc(nw * sizeof(double)), t->cls_gb_d = se_xmalloc((size_t)L * sizeof(double));
        unsigned s = cfg->seed * 2654435761u + 1;
        double bound = 1.0 / sqrt((double)F);
        for (size_t i = 0; i < nw + (size_t)L; i++) {
            s = s * 1664525u + 1013904223u;
            double u = ((double)(s >> 8) / 16777216.0 * 2 - 1) * bound;
            if (i < nw)
                t->cls_wf[i] = (float)u;
            else
                t->cls_bf[i - nw] = (float)u;
        }
    }
    return 0;
}

/* AdamW over the encoder arena tensor by tensor: decay for embedding tables and weight
 * matrices, none for biases and LayerNorm parameters. */
static void update_encoder(Trainer *t, double lr)
{
    Encoder *e = &t->m->enc;
    const float *g = t->et.grads;
    float *base = e->params;
    const AdamWConfig *c = &t->cfg.adamw;
    long step = t->step;
#define UPDATE(ptr, count, decay)                                                                            \
    do {                                                                                                     \
        size_t off = (size_t)((ptr) - base);                                                                 \
        adamw_step_cpu(base + off, g + off, t->m_enc + off, t->v_enc + off, (count), c, lr, step, (decay));  \
    } while (0)
    const BertConfig *cf = &e->cfg;
    size_t H = (size_t)cf->hidden_size, I = (size_t)cf->intermediate_size;
    UPDATE(e->word, (size_t)cf->vocab_size * H, true);
    UPDATE(e->pos, (size_t)cf->max_position_embeddings * H, true);
    UPDATE(e->type, (size_t)cf->type_vocab_size * H, true);
    UPDATE(e->emb_ln_g, 2 * H, false); /* gamma and beta are adjacent */
    for (int l = 0; l < cf->num_layers; l++) {
        EncoderLayer *L = &e->layers[l];
        UPDATE(L->qkv_w, 3 * H * H, true);
        UPDATE(L->qkv_b, 3 * H, false);
        UPDATE(L->o_w, H * H, true);
        UPDATE(L->o_b, H + 2 * H, false); /* o_b, ln1_g, ln1_b */
        UPDATE(L->ff1_w, I * H, true);
        UPDATE(L->ff1_b, I, false);
        UPDATE(L->ff2_w, H * I, true);
        UPDATE(L->ff2_b, H + 2 * H, false); /* ff2_b, ln2_g, ln2_b */
    }
#undef UPDATE
}

double trainer_step(Trainer *t, const char *const *texts, const size_t *lens, int rows, const double *labels)
{
    SentenceModel *m = t->m;
    const Ops *ops = m->ops;
    const int K = t->n_columns, N = K * rows, H = m->enc.cfg.hidden_size, D = m->out_dim;
    /* 1. tokenize and pack all columns: sequence c * rows + r */
    tok_encode_batch(&m->tok, &m->tb, texts, lens, NULL, NULL, (size_t)N, (size_t)m->max_seq_length, 0);
    PackedBatch *b = sm_pack(m, (size_t)N);
    /* 2. forward: encoder, pooling, Dense, Normalize */
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
    float *pre_norm = NULL;
    if (m->pipe.normalize) {
        pre_norm = t->pre_norm;
        memcpy(pre_norm, emb, (size_t)N * D * sizeof *pre_norm);
        ops->normalize(emb, N, D);
    }
    /* 3. loss in double */
    double *x = t->x, *dx = t->dx, loss = 0; /* every loss writes all of dx */
    for (size_t i = 0; i < (size_t)N * D; i++)
        x[i] = emb[i];
    const double *c0 = x, *c1 = x + (size_t)rows * D, *c2 = x + 2 * (size_t)rows * D;
    double *d0 = dx, *d1 = dx + (size_t)rows * D, *d2 = dx + 2 * (size_t)rows * D;
    const LossConfig *lc = &t->loss;
    if (lc->kind == LOSS_SOFTMAX) {
        int L = lc->num_labels, F = 3 * D, *y = t->class_ids;
        for (int r = 0; r < rows; r++)
            y[r] = (int)labels[r];
        double *gw = t->cls_gw_d, *gb = t->cls_gb_d;
        for (size_t i = 0; i < (size_t)L * F; i++)
            t->cls_w[i] = t->cls_wf[i];
        for (int l = 0; l < L; l++)
            t->cls_b[l] = t->cls_bf[l];
        loss = loss_softmax(c0, c1, y, rows, D, L, t->cls_w, t->cls_b, d0, d1, gw, gb);
        const int acc = t->cfg.accumulation > 1 ? t->cfg.accumulation : 1;
        for (size_t i = 0; i < (size_t)L * F; i++)
            t->cls_gw[i] += (float)(gw[i] / acc);
        for (int l = 0; l < L; l++)
            t->cls_gb[l] += (float)(gb[l] / acc);
    } else if (lc->kind == LOSS_MNRL) {
        loss = loss_mnrl(c0, c1, rows, K - 2, D, lc->scale, d0, d1);
    } else if (lc->kind == LOSS_TRIPLET) {
        loss = loss_triplet(c0, c1, c2, rows, D, lc->triplet_metric, lc->margin, d0, d1, d2);
    } else if (lc->kind == LOSS_COSINE_SIMILARITY) {
        loss = loss_cosine_similarity(c0, c1, labels, rows, D, d0, d1);
    } else if (lc->kind == LOSS_COSENT) {
        loss = loss_cosent(c0, c1, labels, rows, D, lc->scale, d0, d1);
    } else if (lc->kind == LOSS_ONLINE_CONTRASTIVE) {
        loss = loss_online_contrastive(c0, c1, labels, rows, D, lc->margin, d0, d1);
    } else if (lc->kind == LOSS_BATCH_HARD_TRIPLET) {
        loss = loss_batch_hard_triplet(c0, labels, rows, D, lc->margin, d0);
    } else {
        loss = loss_contrastive(c0, c1, labels, rows, D, lc->margin, d0, d1);
    }
    /* 4. backward through Normalize, Dense, pooling and the encoder */
    const int accum = t->cfg.accumulation > 1 ? t->cfg.accumulation : 1;
    float *g = t->g, *g2 = t->g2;
    for (size_t i = 0; i < (size_t)N * D; i++)
        g[i] = (float)(dx[i] / accum);
    if (m->pipe.normalize)
        ops->normalize_backward(g, g, pre_norm, N, D);
    if (m->pipe.has_dense) {
        if (m->pipe.dense_act == DENSE_TANH) /* dense holds tanh's output (pre-normalization) */
            ops->tanh_backward(g, g, m->pipe.normalize ? pre_norm : dense, (size_t)N * D);
        ops->linear_f32_backward(g2, t->dense_gw, t->dense_gb, g, pooled, m->dense_w, N, D, H);
    } else {
        memcpy(g2, g, (size_t)N * H * sizeof *g2);
    }
    ops->pool_backward(t->dout, g2, t->et.out, m->enc.d_cu_seqlens, N, H, m->pipe.pooling);
    encoder_train_backward(&t->et, b, t->dout);
    if (++t->pending >= accum)
        trainer_flush(t);
    return loss;
}

int trainer_flush(Trainer *t)
{
    if (t->pending == 0)
        return 0;
    t->pending = 0;
    SentenceModel *m = t->m;
    const LossConfig *lc = &t->loss;
    const int H = m->enc.cfg.hidden_size, D = m->out_dim;

    /* clipping covers the model's parameters (model.parameters() in the reference), not the
     * SoftmaxLoss classifier, which belongs to the loss */
    float *grads[3] = {t->et.grads, t->dense_gw, t->dense_gb};
    size_t sizes[3] = {m->enc.n_params, m->pipe.has_dense ? (size_t)D * H : 0, m->pipe.has_dense ? (size_t)D : 0};
    t->last_grad_norm = t->cfg.max_grad_norm > 0 ? clip_grad_norm(grads, sizes, 3, t->cfg.max_grad_norm) : 0;
    t->step++;
    double lr = t->cfg.adamw.lr * schedule_factor(t->cfg.schedule, t->step - 1, t->cfg.warmup_steps, t->cfg.total_steps);
    t->last_lr = lr;
    update_encoder(t, lr);
    if (m->pipe.has_dense) {
        adamw_step_cpu(m->dense_w, t->dense_gw, t->dense_mw, t->dense_vw, (size_t)D * H, &t->cfg.adamw, lr, t->step,
                       true);
        adamw_step_cpu(m->dense_b, t->dense_gb, t->dense_mb, t->dense_vb, (size_t)D, &t->cfg.adamw, lr, t->step,
                       false);
        memset(t->dense_gw, 0, (size_t)D * H * sizeof(float));
        memset(t->dense_gb, 0, (size_t)D * sizeof(float));
    }
    if (lc->kind == LOSS_SOFTMAX) {
        size_t nw = (size_t)lc->num_labels * 3 * D;
        adamw_step_cpu(t->cls_wf, t->cls_gw, t->cls_m, t->cls_v, nw, &t->cfg.adamw, lr, t->step, true);
        adamw_step_cpu(t->cls_bf, t->cls_gb, t->cls_mb, t->cls_vb, (size_t)lc->num_labels, &t->cfg.adamw, lr, t->step,
                       false);
    }
    encoder_train_zero_grads(&t->et);
    if (lc->kind == LOSS_SOFTMAX) {
        memset(t->cls_gw, 0, (size_t)lc->num_labels * 3 * D * sizeof(float));
        memset(t->cls_gb, 0, (size_t)lc->num_labels * sizeof(float));
    }
    return 1;
}

void trainer_free(Trainer *t)
{
    encoder_train_free(&t->et);
    free(t->m_enc), free(t->v_enc);
    free(t->dense_gw), free(t->dense_gb), free(t->dense_mw), free(t->dense_vw), free(t->dense_mb), free(t->dense_vb);
    free(t->cls_w), free(t->cls_b), free(t->cls_wf), free(t->cls_bf), free(t->cls_gw), free(t->cls_gb);
    free(t->cls_m), free(t->cls_v), free(t->cls_mb), free(t->cls_vb), free(t->cls_gw_d), free(t->cls_gb_d);
    free(t->pre_norm), free(t->g), free(t->g2), free(t->x), free(t->dx), free(t->class_ids);
    if (t->dout)
        t->m->ops->free(t->dout);
    memset(t, 0, sizeof *t);
}
