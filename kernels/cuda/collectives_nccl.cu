/* The CUDA backend's collectives: NCCL on device buffers, queued on the backend's stream
 * behind the ops that produced them. The communicator spans every rank of the job (a world
 * of one too, so that one GPU runs the same path); its unique id travels from rank 0 over
 * MPI (dist_broadcast).
 *
 * The communicator is nonblocking, and every wait polls instead of blocking: NCCL reports
 * a peer or network failure as an asynchronous error, and a blocking wait would never see
 * it. Each collective returns once it is done on this GPU, which keeps the trainer's host
 * code simple; overlapping the gradient all-reduce with backward will need a second stream. */
#include <nccl.h>
#include <sched.h>
#include <stdio.h>

#include "host/dist.h"
#include "host/error.h"
#include "kernels/collectives.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/device.h"

static ncclComm_t comm;

/* Aborting the communicator releases its kernels and tells the peers; then the job ends.
 * library: "NCCL", or "CUDA" for an error the stream reports while NCCL works on it. */
static void nccl_fail(const char *library, const char *cause, const char *call, const char *file, int line)
{
    char detail[512] = "";
    if (comm) {
        const char *last = ncclGetLastError(comm);
        if (last && *last)
            snprintf(detail, sizeof detail, " (%s)", last);
        ncclCommAbort(comm);
        comm = NULL;
    }
    se_die("%s error at %s:%d: %s: %s%s", library, file, line, call, cause, detail);
}

/* A nonblocking communicator answers ncclInProgress while a call goes on in the
 * background: poll its state until the call has ended, well or badly. */
static void nccl_check(ncclResult_t status, const char *call, const char *file, int line)
{
    while (status == ncclInProgress) {
        sched_yield();
        if (ncclCommGetAsyncError(comm, &status) != ncclSuccess)
            status = ncclInternalError;
    }
    if (status != ncclSuccess)
        nccl_fail("NCCL", ncclGetErrorString(status), call, file, line);
}

/* Until the stream has run everything queued, with NCCL's asynchronous error looked at on
 * every round. */
static void nccl_wait(const char *call, const char *file, int line)
{
    for (;;) {
        const cudaError_t done = cudaStreamQuery(cuda_ctx.stream);
        if (done == cudaSuccess)
            return;
        if (done != cudaErrorNotReady)
            nccl_fail("CUDA", cudaGetErrorString(done), call, file, line);
        ncclResult_t async = ncclSuccess;
        if (ncclCommGetAsyncError(comm, &async) != ncclSuccess)
            async = ncclInternalError;
        if (async != ncclSuccess && async != ncclInProgress)
            nccl_fail("NCCL", ncclGetErrorString(async), call, file, line);
        sched_yield();
    }
}

/* The one check of every NCCL call: the call, where, NCCL's words (se_die adds the rank).
 * A collective (NCCL_COLLECTIVE) is then waited for. */
#define NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)
#define NCCL_COLLECTIVE(call)                      \
    do {                                           \
        NCCL_CHECK(call);                          \
        nccl_wait(#call, __FILE__, __LINE__);      \
    } while (0)

static void nccl_all_reduce_sum(float *x, size_t n)
{
    NCCL_COLLECTIVE(ncclAllReduce(x, x, n, ncclFloat, ncclSum, comm, cuda_ctx.stream));
}

static void nccl_all_gather(void *out, const void *in, size_t bytes)
{
    NCCL_COLLECTIVE(ncclAllGather(in, out, bytes, ncclUint8, comm, cuda_ctx.stream));
}

static void nccl_reduce_scatter_sum(float *out, const float *in, size_t n)
{
    NCCL_COLLECTIVE(ncclReduceScatter(in, out, n, ncclFloat, ncclSum, comm, cuda_ctx.stream));
}

static void nccl_broadcast(void *buf, size_t bytes, int root)
{
    NCCL_COLLECTIVE(ncclBroadcast(buf, buf, bytes, ncclUint8, root, comm, cuda_ctx.stream));
}

/* The stream's work done here, then every rank's: MPI's barrier (nothing in a world of one). */
static void nccl_barrier(void)
{
    nccl_wait("barrier", __FILE__, __LINE__);
    dist_barrier();
}

static const Collectives NCCL_COLLECTIVES = {
    "nccl", nccl_all_reduce_sum, nccl_all_gather, nccl_reduce_scatter_sum, nccl_broadcast, nccl_barrier,
};

extern "C" const Collectives *collectives_cuda(char *why, size_t why_cap)
{
    if (comm)
        return &NCCL_COLLECTIVES;
    const int visible = cuda_device_count(NULL, 0);
    if (visible == 0) {
        ops_cuda(why, why_cap); /* fails, and says why in the backend's words */
        return NULL;
    }
    if (dist_local_world() > visible) {
        /* NCCL refuses two ranks on one GPU */
        if (why && why_cap)
            snprintf(why, why_cap, "%d ranks run on this node but it has %d visible GPU%s: start one rank per GPU",
                     dist_local_world(), visible, visible == 1 ? "" : "s");
        return NULL;
    }
    const int device = dist_local_rank() % visible;
    int current = 0;
    CUDA_CHECK(cudaGetDevice(&current));
    if (cuda_ctx.stream && current != device) {
        if (why && why_cap)
            snprintf(why, why_cap, "the CUDA backend was set up on GPU %d before the collectives chose GPU %d for "
                                   "local rank %d: make the collectives first", current, device, dist_local_rank());
        return NULL;
    }
    CUDA_CHECK(cudaSetDevice(device));
    if (!ops_cuda(why, why_cap))
        return NULL;

    ncclUniqueId id;
    if (dist_rank() == 0)
        NCCL_CHECK(ncclGetUniqueId(&id));
    dist_broadcast(&id, sizeof id, 0);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    NCCL_CHECK(ncclCommInitRankConfig(&comm, dist_world(), id, dist_rank(), &config));
    return &NCCL_COLLECTIVES;
}
