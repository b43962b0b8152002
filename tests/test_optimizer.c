/* trainer/optimizer.c against the reference stack (tests/fixtures/optimizer/golden.json,
 * scripts/gen_optimizer_golden.py): the five learning-rate schedules, AdamW steps with
 * and without weight decay, and gradient clipping by global norm.
 * usage: test_optimizer GOLDEN_JSON */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "tests/check.h"
#include "trainer/optimizer.h"

static float *floats(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    float *v = malloc((*n ? *n : 1) * sizeof *v);
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next)
        v[i++] = (float)e->valuedouble;
    return v;
}

static void test_schedules(const cJSON *root)
{
    const cJSON *list = cJSON_GetObjectItem(root, "schedules");
    for (const cJSON *s = list->child; s; s = s->next) {
        const char *name = cJSON_GetObjectItem(s, "name")->valuestring;
        int kind = schedule_from_name(name);
        CHECK(kind >= 0, "unknown schedule %s", name);
        long warmup = (long)cJSON_GetObjectItem(s, "warmup")->valuedouble;
        long total = (long)cJSON_GetObjectItem(s, "total")->valuedouble;
        double worst = 0;
        long step = 0;
        for (const cJSON *f = cJSON_GetObjectItem(s, "factors")->child; f; f = f->next, step++)
            worst = fmax(worst, fabs(schedule_factor((ScheduleKind)kind, step, warmup, total) - f->valuedouble));
        CHECK(worst <= 1e-12, "%s: factor differs from transformers by %.3g", name, worst);
        printf("  schedule %-30s %ld steps, max |diff| %.1e\n", name, step, worst);
    }
    CHECK(schedule_from_name("warmupquadratic") == -1, "unknown names are refused");
}

static void test_adamw(const cJSON *root)
{
    const cJSON *a = cJSON_GetObjectItem(root, "adamw");
    const cJSON *betas = cJSON_GetObjectItem(a, "betas"), *wd = cJSON_GetObjectItem(a, "weight_decay");
    size_t n[2];
    float *p[2], *m[2], *v[2];
    const cJSON *init = cJSON_GetObjectItem(a, "init")->child;
    for (int k = 0; k < 2; k++, init = init->next) {
        p[k] = floats(init, &n[k]);
        m[k] = calloc(n[k], sizeof(float));
        v[k] = calloc(n[k], sizeof(float));
    }
    double worst = 0;
    long step = 1;
    for (const cJSON *s = cJSON_GetObjectItem(a, "steps")->child; s; s = s->next, step++) {
        double lr = cJSON_GetObjectItem(s, "lr")->valuedouble;
        const cJSON *g = cJSON_GetObjectItem(s, "grads")->child, *want = cJSON_GetObjectItem(s, "params")->child;
        for (int k = 0; k < 2; k++, g = g->next, want = want->next) {
            size_t ng, nw;
            float *grad = floats(g, &ng), *ref = floats(want, &nw);
            AdamWConfig c = {1e-3, cJSON_GetArrayItem(betas, 0)->valuedouble, cJSON_GetArrayItem(betas, 1)->valuedouble,
                             cJSON_GetObjectItem(a, "eps")->valuedouble, cJSON_GetArrayItem(wd, k)->valuedouble};
            adamw_step_cpu(p[k], grad, m[k], v[k], n[k], &c, lr, step, c.weight_decay > 0);
            for (size_t i = 0; i < n[k]; i++)
                worst = fmax(worst, fabs(p[k][i] - ref[i]));
            free(grad);
            free(ref);
        }
    }
    /* fp32 on both sides; the order of roundings differs slightly */
    CHECK(worst <= 2e-7, "AdamW parameters differ from torch.optim.AdamW by %.3g", worst);
    printf("  AdamW %ld steps (weight decay 0.01 and 0), max |diff| %.1e\n", step - 1, worst);
    for (int k = 0; k < 2; k++)
        free(p[k]), free(m[k]), free(v[k]);
}

static void test_clip(const cJSON *root)
{
    for (const cJSON *c = cJSON_GetObjectItem(root, "clip")->child; c; c = c->next) {
        size_t sizes[2], nw;
        float *g[2];
        const cJSON *ga = cJSON_GetObjectItem(c, "grads")->child, *want = cJSON_GetObjectItem(c, "clipped")->child;
        g[0] = floats(ga, &sizes[0]);
        g[1] = floats(ga->next, &sizes[1]);
        double norm = clip_grad_norm(g, sizes, 2, 1.0), worst = 0;
        for (int k = 0; k < 2; k++, want = want->next) {
            float *ref = floats(want, &nw);
            for (size_t i = 0; i < nw; i++)
                worst = fmax(worst, fabs(g[k][i] - ref[i]));
            free(ref);
        }
        double ref_norm = cJSON_GetObjectItem(c, "norm")->valuedouble;
        CHECK(fabs(norm - ref_norm) <= 1e-6 * ref_norm && worst <= 1e-6,
              "clip_grad_norm: norm %.7g vs %.7g, grads differ by %.3g", norm, ref_norm, worst);
        printf("  clip_grad_norm: norm %.6f, max |diff| %.1e\n", norm, worst);
        free(g[0]);
        free(g[1]);
    }
}

int main(int argc, char **argv)
{
    SeError err;
    cJSON *root = json_parse_file(argc > 1 ? argv[1] : "tests/fixtures/optimizer/golden.json", &err);
    if (!root) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_schedules(root);
    test_adamw(root);
    test_clip(root);
    cJSON_Delete(root);
    return check_summary("test_optimizer");
}
