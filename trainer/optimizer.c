#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "trainer/optimizer.h"

AdamWArgs adamw_args(const AdamWConfig *c, double lr, long step, bool decay)
{
    const double b1 = c->beta1, b2 = c->beta2;
    const double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
    AdamWArgs a = {(float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2),
                   decay ? (float)(1.0 - lr * c->weight_decay) : 1.0f, (float)(lr / bc1), (float)(1.0 / sqrt(bc2)),
                   (float)c->eps};
    return a;
}

void adamw_step_cpu(float *p, const float *g, float *m, float *v, size_t n, const AdamWConfig *c, double lr,
                    long step, bool decay)
{
    AdamWArgs a = adamw_args(c, lr, step, decay);
    adamw_cpu(p, g, m, v, n, &a);
}

int schedule_from_name(const char *name)
{
    static const char *NAMES[] = {"constantlr", "warmupconstant", "warmuplinear", "warmupcosine",
                                  "warmupcosinewithhardrestarts"};
    for (int k = 0; k < 5; k++)
        if (!strcmp(name, NAMES[k]))
            return k;
    return -1;
}

double schedule_factor(ScheduleKind kind, long step, long warmup_steps, long total_steps)
{
    if (kind == SCHED_CONSTANT)
        return 1.0;
    if (step < warmup_steps)
        return (double)step / (double)(warmup_steps > 1 ? warmup_steps : 1);
    if (kind == SCHED_WARMUP_CONSTANT)
        return 1.0;
    long span = total_steps - warmup_steps > 1 ? total_steps - warmup_steps : 1;
    double progress = (double)(step - warmup_steps) / (double)span;
    if (kind == SCHED_WARMUP_LINEAR) {
        double f = (double)(total_steps - step) / (double)span;
        return f > 0 ? f : 0.0;
    }
    if (kind == SCHED_WARMUP_COSINE) { /* num_cycles 0.5: half a cosine from 1 to 0 */
        double f = 0.5 * (1.0 + cos(M_PI * 2.0 * 0.5 * progress));
        return f > 0 ? f : 0.0;
    }
    if (progress >= 1.0) /* hard restarts, num_cycles 1 */
        return 0.0;
    return 0.5 * (1.0 + cos(M_PI * fmod(1.0 * progress, 1.0)));
}

double clip_grad_norm(float *const *grads, const size_t *sizes, int k, double max_norm)
{
    double ss = 0;
    for (int j = 0; j < k; j++)
        for (size_t i = 0; i < sizes[j]; i++)
            ss += (double)grads[j][i] * grads[j][i];
    double norm = sqrt(ss), coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (int j = 0; j < k; j++)
            for (size_t i = 0; i < sizes[j]; i++)
                grads[j][i] = (float)(grads[j][i] * coef);
    return norm;
}
