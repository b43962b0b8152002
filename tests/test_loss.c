/* Losses (trainer/loss_*.c) against sentence-transformers / torch float64 autograd
 * (tests/fixtures/loss/losses.txt, scripts/gen_loss_golden.py): loss values and every
 * input gradient; plus central finite differences in double of our own losses, and a
 * check that the triplet fixture tells the right sign from the 5.x euclidean bug.
 * usage: test_loss FIXTURE_FILE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "trainer/loss.h"

#define MAX_T 12

typedef struct {
    char name[32];
    double *v;
    int n;
} Tensor;

typedef struct {
    char name[64];
    int B, D;
    double params[4];
    int n_params;
    Tensor t[MAX_T];
    int n_t;
} Case;

static const Tensor *get(const Case *c, const char *name)
{
    for (int k = 0; k < c->n_t; k++)
        if (!strcmp(c->t[k].name, name))
            return &c->t[k];
    fprintf(stderr, "fixture case %s has no tensor %s\n", c->name, name);
    exit(1);
}

/* Runs a case's loss on (possibly perturbed) inputs; grads (may be NULL) in fixed slots. */
static double run(const Case *c, double **in, double **grads)
{
    int B = c->B, D = c->D;
    const char *n = c->name;
    if (!strncmp(n, "triplet_", 8))
        return loss_triplet(in[0], in[1], in[2], B, D, (TripletMetric)c->params[0], c->params[1], grads[0], grads[1],
                            grads[2]);
    if (!strcmp(n, "mnrl"))
        return loss_mnrl(in[0], in[1], B, (int)c->params[0], D, c->params[1], grads[0], grads[1]);
    if (!strcmp(n, "cosine_similarity"))
        return loss_cosine_similarity(in[0], in[1], get(c, "labels")->v, B, D, grads[0], grads[1]);
    if (!strcmp(n, "cosent"))
        return loss_cosent(in[0], in[1], get(c, "labels")->v, B, D, c->params[0], grads[0], grads[1]);
    if (!strcmp(n, "contrastive"))
        return loss_contrastive(in[0], in[1], get(c, "labels")->v, B, D, c->params[0], grads[0], grads[1]);
    if (!strcmp(n, "online_contrastive"))
        return loss_online_contrastive(in[0], in[1], get(c, "labels")->v, B, D, c->params[0], grads[0], grads[1]);
    if (!strcmp(n, "batch_hard_triplet"))
        return loss_batch_hard_triplet(in[0], get(c, "labels")->v, B, D, c->params[0], grads[0]);
    if (!strcmp(n, "softmax")) {
        int labels[64];
        for (int i = 0; i < B; i++)
            labels[i] = (int)get(c, "labels")->v[i];
        return loss_softmax(in[0], in[1], labels, B, D, (int)c->params[0], in[2], in[3], grads[0], grads[1], grads[2],
                            grads[3]);
    }
    fprintf(stderr, "unknown case %s\n", n);
    exit(1);
}

/* The differentiable inputs of each case, in run()'s slot order. */
static int inputs_of(const Case *c, const char *names[4])
{
    const char *n = c->name;
    if (!strncmp(n, "triplet_", 8)) {
        names[0] = "a", names[1] = "p", names[2] = "n";
        return 3;
    }
    if (!strcmp(n, "mnrl")) {
        names[0] = "a", names[1] = "cand";
        return 2;
    }
    if (!strcmp(n, "softmax")) {
        names[0] = "u", names[1] = "v", names[2] = "W", names[3] = "b";
        return 4;
    }
    if (!strcmp(n, "batch_hard_triplet")) {
        names[0] = "e";
        return 1;
    }
    names[0] = "u", names[1] = "v";
    return 2;
}

static void check_case(const Case *c)
{
    const char *names[4];
    int k = inputs_of(c, names);
    double *in[4] = {0}, *grads[4] = {0};
    for (int i = 0; i < k; i++) {
        const Tensor *t = get(c, names[i]);
        in[i] = malloc((size_t)t->n * sizeof(double));
        memcpy(in[i], t->v, (size_t)t->n * sizeof(double));
        grads[i] = calloc((size_t)t->n, sizeof(double));
    }
    double want = get(c, "loss")->v[0], got = run(c, in, grads);
    CHECK(fabs(got - want) <= 1e-10 * fmax(1, fabs(want)), "%s: loss %.15g, reference %.15g", c->name, got, want);
    double worst_ref = 0, worst_fd = 0;
    for (int i = 0; i < k; i++) {
        char gname[40];
        snprintf(gname, sizeof gname, "grad_%s", names[i]);
        const Tensor *g = get(c, gname);
        double *none[4] = {0};
        for (int j = 0; j < g->n; j++) {
            worst_ref = fmax(worst_ref, fabs(grads[i][j] - g->v[j]));
            double x = in[i][j], h = 1e-6 * fmax(1, fabs(x));
            in[i][j] = x + h;
            double lp = run(c, in, none);
            in[i][j] = x - h;
            double lm = run(c, in, none);
            in[i][j] = x;
            worst_fd = fmax(worst_fd, fabs((lp - lm) / (2 * h) - grads[i][j]));
        }
    }
    /* double against double: only summation order differs */
    CHECK(worst_ref <= 1e-10, "%s: gradients differ from torch autograd by %.3g", c->name, worst_ref);
    /* central differences: O(h^2) + rounding/h, ~1e-9 here; kinks of relu/|.| are far */
    CHECK(worst_fd <= 1e-6, "%s: gradients differ from finite differences by %.3g", c->name, worst_fd);
    printf("  %-20s loss %.10f  max |grad - autograd| %.1e  max |grad - finite diff| %.1e\n", c->name, got, worst_ref,
           worst_fd);
    if (!strcmp(c->name, "triplet_euclidean")) {
        /* The sign bug computes relu(d(a, n) - d(a, p) + margin): it must not match. */
        double wrong = 0;
        for (int i = 0; i < c->B; i++) {
            double dp = 0, dn = 0;
            for (int d = 0; d < c->D; d++) {
                double x = in[0][i * c->D + d] - in[1][i * c->D + d] + 1e-6;
                double y = in[0][i * c->D + d] - in[2][i * c->D + d] + 1e-6;
                dp += x * x;
                dn += y * y;
            }
            double z = sqrt(dn) - sqrt(dp) + c->params[1];
            wrong += z > 0 ? z : 0;
        }
        wrong /= c->B;
        CHECK(fabs(wrong - want) > 1e-3, "the fixture cannot tell the euclidean sign bug (%.6f vs %.6f)", wrong, want);
    }
    for (int i = 0; i < k; i++) {
        free(in[i]);
        free(grads[i]);
    }
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/fixtures/loss/losses.txt";
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    static char line[1 << 16];
    Case c = {0};
    int cases = 0;
    printf("losses vs torch float64 autograd and finite differences:\n");
    for (;;) {
        char *got = fgets(line, sizeof line, f);
        if (!got || !strncmp(line, "case ", 5)) {
            if (c.name[0]) {
                check_case(&c);
                cases++;
                for (int k = 0; k < c.n_t; k++)
                    free(c.t[k].v);
            }
            if (!got)
                break;
            memset(&c, 0, sizeof c);
            int off = 0;
            sscanf(line, "case %63s %d %d%n", c.name, &c.B, &c.D, &off);
            char *p = line + off, *end;
            while (c.n_params < 4 && (c.params[c.n_params] = strtod(p, &end), end != p)) {
                c.n_params++;
                p = end;
            }
        } else if (!strncmp(line, "tensor ", 7) && c.n_t < MAX_T) {
            Tensor *t = &c.t[c.n_t++];
            int off = 0;
            sscanf(line, "tensor %31s %d%n", t->name, &t->n, &off);
            t->v = malloc((size_t)(t->n ? t->n : 1) * sizeof(double));
            char *p = line + off;
            for (int i = 0; i < t->n; i++)
                t->v[i] = strtod(p, &p);
        }
    }
    fclose(f);
    CHECK(cases == 10, "expected 10 loss cases in %s, found %d", path, cases);
    return check_summary("test_loss");
}
