/* Attention alone, forward and backward, through the op table: the time per call and the
 * rate of its nominal matrix products (forward 4 L^2 d per sequence and head: Q K^T and P V;
 * backward 8 L^2 d: dV, dP, dQ, dK), on fixed-length sequences with dropout. On a GPU,
 * SENTEMBED_ATTENTION picks the kernels (kernels/cuda/attention_tc.cu), so scripts/gpu_check.sh
 * runs it once per mode. Prints one JSON line.
 * usage: bench_attention [--device cpu|cuda] [--seqs 768] [--len 128] [--heads 12]
 *                        [--head-dim 64] [--dropout 0.1] [--reps 10] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/clock.h"
#include "kernels/dropout_hash.h"
#include "kernels/ops.h"

static int int_arg(const char *v, const char *name)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x <= 0 || x > (1L << 24)) {
        fprintf(stderr, "bench_attention: %s %s: expected a positive integer\n", name, v);
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    const char *device = "cuda";
    int seqs = 768, len = 128, heads = 12, hd = 64, reps = 10;
    float dropout = 0.1f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_attention: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--seqs"))
            seqs = int_arg(v, a);
        else if (!strcmp(a, "--len"))
            len = int_arg(v, a);
        else if (!strcmp(a, "--heads"))
            heads = int_arg(v, a);
        else if (!strcmp(a, "--head-dim"))
            hd = int_arg(v, a);
        else if (!strcmp(a, "--reps"))
            reps = int_arg(v, a);
        else if (!strcmp(a, "--dropout"))
            dropout = (float)atof(v);
        else {
            fprintf(stderr, "bench_attention: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    char why[256] = "";
    const Ops *ops = !strcmp(device, "cpu") ? ops_cpu() : ops_cuda(why, sizeof why);
    if (!ops) {
        printf("bench_attention: %s: skipped\n", why);
        return 0;
    }
    const size_t T = (size_t)seqs * len, D = (size_t)heads * hd;
    float *host = malloc(T * 3 * D * sizeof *host);
    int32_t *cu = malloc(((size_t)seqs + 1) * sizeof *cu);
    if (!host || !cu) {
        fprintf(stderr, "bench_attention: out of host memory\n");
        return 1;
    }
    for (size_t i = 0; i < T * 3 * D; i++) /* random data, never zeros */
        host[i] = 2.0f * se_dropout_uniform(12345, i) - 1.0f;
    for (int s = 0; s <= seqs; s++)
        cu[s] = s * len;
    void *qkv = ops->alloc(T * 3 * D * ops->act_size), *dqkv = ops->alloc(T * 3 * D * ops->act_size);
    void *out = ops->alloc(T * D * ops->act_size), *dout = ops->alloc(T * D * ops->act_size);
    int32_t *d_cu = ops->alloc(((size_t)seqs + 1) * sizeof *cu);
    ops->upload_act(qkv, host, T * 3 * D);
    ops->upload_act(dout, host, T * D);
    ops->copy_to_device(d_cu, cu, ((size_t)seqs + 1) * sizeof *cu);

    const DropoutKeys keys = {seqs, 1, 0};
    double t_fwd = 0, t_bwd = 0;
    for (int r = -2; r < reps; r++) { /* two warm-up calls: kernel loading, shared-memory setup */
        ops->synchronize();
        double t0 = se_now_s();
        ops->attention(out, qkv, d_cu, seqs, len, heads, hd, dropout, (uint64_t)r, keys);
        ops->synchronize();
        double t1 = se_now_s();
        ops->attention_backward(dqkv, dout, qkv, d_cu, seqs, len, heads, hd, dropout, (uint64_t)r, keys);
        ops->synchronize();
        double t2 = se_now_s();
        if (r >= 0)
            t_fwd += t1 - t0, t_bwd += t2 - t1;
    }
    t_fwd /= reps, t_bwd /= reps;
    const double flop = 4.0 * len * len * hd * heads * seqs;
    const char *mode = getenv("SENTEMBED_ATTENTION");
    if (!mode || !*mode)
        mode = "tc";
    printf("{\"device\": \"%s\", \"mode\": \"%s\", \"seqs\": %d, \"len\": %d, \"heads\": %d, \"head_dim\": %d, "
           "\"dropout\": %g, \"forward_ms\": %.3f, \"backward_ms\": %.3f, \"forward_tflops\": %.2f, "
           "\"backward_tflops\": %.2f}\n",
           ops->name, mode && *mode ? mode : "default", seqs, len, heads, hd, dropout, 1e3 * t_fwd, 1e3 * t_bwd,
           flop / t_fwd / 1e12, 2 * flop / t_bwd / 1e12);
    ops->free(qkv), ops->free(dqkv), ops->free(out), ops->free(dout), ops->free(d_cu);
    free(host), free(cu);
    return 0;
}
