/* AdamW, learning-rate schedules and gradient clipping, with torch's semantics
 * (torch.optim.AdamW, transformers' get_*_schedule_with_warmup as sentence-transformers
 * names them, torch.nn.utils.clip_grad_norm_). CPU reference in fp32 parameters with fp32
 * moments; the fused CUDA AdamW is tested against it. */
#ifndef SENTEMBED_OPTIMIZER_H
#define SENTEMBED_OPTIMIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/ops.h"

typedef struct {
    double lr, beta1, beta2, eps, weight_decay; /* defaults: 2e-5, 0.9, 0.999, 1e-8, 0.01 */
} AdamWConfig;

/* One AdamW step on n parameters (step counts from 1):
 *   p -= lr * weight_decay * p              (decoupled; skipped when decay is false:
 *                                            biases and LayerNorm weights)
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * lr is the scheduled rate of this step. */
/* The fp32 constants of that step for the backend's adamw op (kernels/ops.h). */
AdamWArgs adamw_args(const AdamWConfig *c, double lr, long step, bool decay);
void adamw_step_cpu(float *p, const float *g, float *m, float *v, size_t n, const AdamWConfig *c, double lr,
                    long step, bool decay);

typedef enum {
    SCHED_CONSTANT,              /* constantlr */
    SCHED_WARMUP_CONSTANT,       /* warmupconstant */
    SCHED_WARMUP_LINEAR,         /* warmuplinear */
    SCHED_WARMUP_COSINE,         /* warmupcosine */
    SCHED_WARMUP_COSINE_RESTARTS /* warmupcosinewithhardrestarts */
} ScheduleKind;

/* sentence-transformers' names for the schedules; -1 for an unknown name. */
int schedule_from_name(const char *name);
/* The factor the base lr is multiplied by at `step` (0-based, as LambdaLR counts). */
double schedule_factor(ScheduleKind kind, long step, long warmup_steps, long total_steps);

/* Scales the gradients (k arrays) so their global L2 norm is at most max_norm, as
 * clip_grad_norm_ does (coefficient max_norm / (norm + 1e-6) when below 1). Returns the
 * norm before clipping. */
double clip_grad_norm(float *const *grads, const size_t *sizes, int k, double max_norm);

#endif
