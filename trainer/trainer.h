/* One optimization step of a sentence-transformers model on a batch of text columns:
 * tokenize -> encoder (training graph) -> pooling -> [Dense] -> [Normalize] -> loss ->
 * backward -> global-norm clipping -> AdamW with the learning-rate schedule.
 * Weight decay follows transformers' Trainer (what sentence-transformers' fit uses): none
 * on biases and LayerNorm parameters. CPU only for now (the CUDA backward ops are next). */
#ifndef SENTEMBED_TRAINER_H
#define SENTEMBED_TRAINER_H

#include "trainer/encoder_train.h"
#include "trainer/loss.h"
#include "trainer/optimizer.h"
#include "trainer/sentence_model.h"

typedef enum {
    LOSS_MNRL,
    LOSS_TRIPLET,
    LOSS_COSINE_SIMILARITY,
    LOSS_COSENT,
    LOSS_CONTRASTIVE,
    LOSS_SOFTMAX,
    LOSS_ONLINE_CONTRASTIVE,
    LOSS_BATCH_HARD_TRIPLET
} LossKind;

typedef struct {
    LossKind kind;
    TripletMetric triplet_metric; /* triplet */
    double margin;                /* triplet (5), contrastive (0.5) */
    double scale;                 /* mnrl, cosent (20) */
    int num_labels;               /* softmax */
} LossConfig;

typedef struct {
    AdamWConfig adamw;
    ScheduleKind schedule;
    long warmup_steps, total_steps;
    double max_grad_norm; /* 0: no clipping */
    unsigned seed;        /* SoftmaxLoss classifier init */
    int accumulation;     /* micro-batches per optimizer step (gradient accumulation), >= 1 */
} TrainConfig;

typedef struct {
    SentenceModel *m;
    LossConfig loss;
    TrainConfig cfg;
    EncoderTrainer et;
    float *m_enc, *v_enc;            /* AdamW moments of the encoder arena (backend) */
    float *dense_gw, *dense_gb;      /* Dense gradients and moments (host: the layer is small) */
    float *dense_mw, *dense_vw, *dense_mb, *dense_vb;
    double *cls_w, *cls_b;           /* SoftmaxLoss classifier [L, 3D] and its moments */
    float *cls_wf, *cls_bf, *cls_gw, *cls_gb, *cls_m, *cls_v, *cls_mb, *cls_vb;
    long step;                       /* optimizer steps done */
    int pending;                     /* micro-batches accumulated since the last update */
    int max_rows;                    /* rows per batch the buffers hold */
    /* per-step buffers, allocated once (nothing is allocated inside a step) */
    float *pre_norm, *g, *g2;        /* [N, D], [N, max(D, H)], [N, H] */
    double *x, *dx;                  /* embeddings and their gradient, [N, D] */
    double *cls_gw_d, *cls_gb_d;     /* SoftmaxLoss classifier gradient in double */
    int *class_ids;                  /* [max_rows] */
    void *dout;                      /* backend act [max tokens, H] */
    int n_columns;
    double last_grad_norm, last_lr;
} Trainer;

int trainer_init(Trainer *t, SentenceModel *m, const LossConfig *loss, const TrainConfig *cfg, int n_columns,
                 int max_rows, SeError *err);
/* One micro-batch of rows x n_columns texts (column-major: texts[c * rows + r]) with
 * per-row labels (floats; class ids for softmax; NULL for losses without labels): forward
 * and backward, gradients scaled by 1 / accumulation and summed; every accumulation-th
 * call also clips and updates (as transformers' Trainer does). Returns the batch loss. */
double trainer_step(Trainer *t, const char *const *texts, const size_t *lens, int rows, const double *labels);
/* Applies a partial accumulation (the end of an epoch); returns 1 if it updated. */
int trainer_flush(Trainer *t);
void trainer_free(Trainer *t);

#endif
