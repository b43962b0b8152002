/* Collectives behind the backend interface, beside the op table (ops.h): one table of
 * function pointers per backend, on that backend's memory. Every rank calls the same
 * collective with the same sizes in the same order; each returns when its result may be
 * read (see the tables for what that costs).
 *   cpu:  MPI on host buffers (host/dist.h)
 *   cuda: NCCL on device buffers, on the backend's stream, in a build with MPI and NCCL;
 *         without NCCL, a world of one only (copies on the device)
 * In a world of one every collective is a no-op or a copy. Counts are per rank and equal on
 * every rank, as in NCCL: a caller with uneven shares pads them. */
#ifndef SENTEMBED_COLLECTIVES_H
#define SENTEMBED_COLLECTIVES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Collectives {
    const char *name; /* "mpi", "nccl" or "local" (a world of one) */
    /* x[0..n) = its sum over the ranks, in place on every rank */
    void (*all_reduce_sum)(float *x, size_t n);
    /* out[r*bytes .. (r+1)*bytes) = in of rank r, on every rank; in may be out + rank*bytes */
    void (*all_gather)(void *out, const void *in, size_t bytes);
    /* out[0..n) = sum over ranks of their in[rank*n .. (rank+1)*n); in holds world*n floats,
     * out does not overlap it */
    void (*reduce_scatter_sum)(float *out, const float *in, size_t n);
    /* buf[0..bytes) of rank root replaces it on every rank */
    void (*broadcast)(void *buf, size_t bytes, int root);
    /* returns on a rank once every rank has called it, with all earlier collectives done */
    void (*barrier)(void);
} Collectives;

/* MPI on host memory (a world of one without MPI); never NULL. */
const Collectives *collectives_cpu(void);

/* NCCL over every rank of the job, on device memory of the GPU local_rank % visible GPUs
 * (CUDA_VISIBLE_DEVICES honoured), which it makes the current device: call it before
 * ops_cuda, which works on the current device. NULL, with the reason in why, when the build
 * or the machine cannot do it. Made once; later calls return the same table. */
const Collectives *collectives_cuda(char *why, size_t why_cap);

#ifdef __cplusplus
}
#endif

#endif
