/* The CUDA training-support ops (train_support.cu) and fused losses (loss.cu) that
 * register_training.cu puts into the op table, and the two helpers the losses share with
 * sum_squares. The math of each op is in kernels/ops.h and at the top of its file. */
#ifndef SENTEMBED_CUDA_TRAIN_SUPPORT_H
#define SENTEMBED_CUDA_TRAIN_SUPPORT_H

#include "kernels/cuda/common.cuh"

void dropout_cuda(void *x, int T, int H, const int32_t *cu_seqlens, int n_seqs, DropoutKeys keys, float p,
                  uint64_t seed);
void zero_cuda(void *p, size_t bytes);
double sum_squares_cuda(const float *x, size_t n);
void scale_f32_cuda(float *x, size_t n, float s);
void f32_to_act_cuda(void *dst, const float *src, size_t n);
void adamw_cuda(float *p, const float *g, float *m, float *v, size_t n, const AdamWArgs *args);

double loss_triplet_cuda(float *grad, const float *emb, int rows, int D, int metric, float margin,
                         float grad_scale);
double loss_mnrl_cuda(float *grad, const float *emb, int rows, int columns, int D, float scale, float grad_scale);
double loss_softmax_cuda(float *grad, float *dW, float *db, const float *emb, const int32_t *labels,
                         const float *W, const float *b, int rows, int D, int L, float grad_scale);

/* A device buffer of at least `bytes` for the intermediates of one op, allocated once and
 * grown when an op needs more (after the stream has drained, so no queued kernel still
 * uses the old one). Its contents belong to the op that asked last. */
void *train_scratch_cuda(size_t bytes);

/* Waits for the stream and returns the sum, in double, of the n f32 values at `values`
 * (device memory): the host end of every reduction that returns a number. */
double sum_to_host_cuda(const float *values, size_t n);

#endif
