/* One optimization step of a sentence-transformers model on a batch of text columns:
 * tokenize -> encoder (training graph) -> pooling -> [Dense] -> [Normalize] -> loss ->
 * backward -> global-norm clipping -> AdamW with the learning-rate schedule.
 * Weight decay follows transformers' Trainer (what sentence-transformers' fit uses): none
 * on biases and LayerNorm parameters. Written against the op table: every parameter,
 * gradient and moment lives in backend memory. The loss runs fused on the backend where it
 * has a kernel for it (CUDA: triplet, MNRL, softmax) and otherwise on the host in double
 * on the downloaded embeddings (the batch's embeddings are small). */
#ifndef SENTEMBED_TRAINER_H
#define SENTEMBED_TRAINER_H

#include "kernels/collectives.h"
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
    unsigned seed;        /* SoftmaxLoss classifier init and dropout masks */
    int accumulation;     /* micro-batches per optimizer step (gradient accumulation), >= 1 */
    float hidden_dropout, attention_dropout; /* 0: off (BERT's config says 0.1 for both) */
} TrainConfig;

typedef struct {
    SentenceModel *m;
    LossConfig loss;
    TrainConfig cfg;
    EncoderTrainer et;
    /* backend f32 */
    float *m_enc, *v_enc;            /* AdamW moments of the encoder arena */
    float *dense_gw, *dense_gb;      /* Dense gradients and moments */
    float *dense_mw, *dense_vw, *dense_mb, *dense_vb;
    float *cls_w, *cls_b;            /* SoftmaxLoss classifier [L, 3D], [L] (trained with the model) */
    float *cls_gw, *cls_gb, *cls_mw, *cls_vw, *cls_mb, *cls_vb;
    float *pre_norm, *g, *g_norm, *g_pool; /* [N, D], [N, D], [N, D], [N, H] */
    int32_t *d_labels;               /* class ids for a fused SoftmaxLoss [max_rows] */
    long step;                       /* optimizer steps done */
    long micro_steps;                /* micro-batches done */
    int pending;                     /* micro-batches accumulated since the last update */
    int max_rows;                    /* rows per batch the buffers hold */
    /* host scratch for the losses computed in double, allocated once */
    float *emb_host, *g_host, *cls_host;
    double *x, *dx, *cls_wd, *cls_bd, *cls_gwd, *cls_gbd;
    int *class_ids;
    int n_columns;
    double last_grad_norm, last_lr;
    int last_update; /* what the last trainer_step's update did: trainer_flush's result */
    /* Data parallelism (trainer_init sets a world of one): the gradients are summed over the
     * ranks before clipping, each rank's weighted by its rows / global_rows (below), so
     * that the sum is the gradient of the global batch's mean loss. */
    const Collectives *coll; /* NULL: a world of one */
    int rank, world;
    /* Dropout masks are keyed by (optimizer step, a row's place among all the rows of that
     * step: every rank's, every micro-batch's), so that N ranks x b, one process accumulating
     * N micro-batches of b, and one process x N*b draw the same masks for the same examples
     * (kernels/dropout_hash.h). The caller sets, before each micro-batch, first_row: the
     * index of this rank's first row in the global micro-batch (0 in a world of one), and
     * global_rows: that micro-batch's rows over all ranks (0: this rank's rows). */
    int64_t first_row, global_rows;
    int64_t rows_before; /* rows of the step's earlier micro-batches, all ranks */
} Trainer;

int trainer_init(Trainer *t, SentenceModel *m, const LossConfig *loss, const TrainConfig *cfg, int n_columns,
                 int max_rows, SeError *err);
/* One micro-batch of rows x n_columns texts (column-major: texts[c * rows + r]) with
 * per-row labels (floats; class ids for softmax; NULL for losses without labels): forward
 * and backward, gradients scaled by 1 / accumulation and summed; every accumulation-th
 * call also clips and updates (as transformers' Trainer does; last_update says how that
 * went). Returns the batch loss. */
double trainer_step(Trainer *t, const char *const *texts, const size_t *lens, int rows, const double *labels);
/* trainer_step on sequences already tokenized and packed (sequence c * rows + r of b),
 * e.g. by the input pipeline's worker (trainer/prefetch.h). */
double trainer_step_packed(Trainer *t, PackedBatch *b, int rows, const double *labels);
/* Replaces the SoftmaxLoss classifier (host W [L, 3D], b [L]), e.g. with the reference's initial weights. */
void trainer_set_classifier(Trainer *t, const float *W, const float *b);
/* Applies what was accumulated (called by trainer_step, and at the end of an epoch for a
 * partial accumulation): 1 when it updated, 0 when nothing was pending, -1 when the
 * gradient norm was NaN or inf (last_grad_norm): then nothing was updated and the
 * gradients were dropped. */
int trainer_flush(Trainer *t);
/* Data parallelism: the collectives of the job (on the model's backend), this rank and
 * the world size. The caller sets first_row and global_rows before each micro-batch. */
void trainer_set_collectives(Trainer *t, const Collectives *coll, int rank, int world);
/* Every rank takes rank 0's weights (the encoder, the Dense layer, the SoftmaxLoss
 * classifier): one starting point, whatever each rank initialised or loaded. */
void trainer_broadcast_weights(Trainer *t);
/* Drops the accumulated gradients (a skipped step). */
void trainer_discard(Trainer *t);
void trainer_free(Trainer *t);

#endif
