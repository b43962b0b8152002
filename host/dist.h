/* The processes of one job: rank, world size and local rank from MPI, and the host-side
 * collectives the trainer needs (broadcast, sums of a few counters, a same-value check,
 * barrier). Under mpirun or srun every rank calls the same functions in the same order.
 *
 * A process that no launcher started (a plain `sentembed ...`), or a build without MPI
 * (-DSENTEMBED_MPI=OFF), is a world of one: no MPI call is made, collectives return at
 * once (copies where output and input differ), and a fatal error is a plain exit(1).
 *
 * Every failure, of MPI or of the caller, ends in se_die: with more than one rank the
 * message starts with "rank R/N: " and MPI_Abort takes the whole job down, so no rank
 * waits forever for one that died. */
#ifndef SENTEMBED_DIST_H
#define SENTEMBED_DIST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Joins the job when a launcher started this process (mpirun, srun, hydra: it says so
 * in the environment); otherwise, and without MPI, a world of one. Call once, first thing
 * in main; argc/argv as MPI_Init takes them. */
void dist_init(int *argc, char ***argv);
/* The successful end of a rank: MPI_Finalize waits for every rank, so a failing rank must
 * end through se_die / dist_abort instead. */
void dist_finalize(void);
/* Ends this process, and with MPI the whole job, with the given exit code. */
void dist_abort(int code) __attribute__((noreturn));

int dist_rank(void);
int dist_world(void);
/* Rank among the processes of this node (MPI_COMM_TYPE_SHARED), and their number: the
 * GPU a rank drives is local_rank % visible GPUs. */
int dist_local_rank(void);
int dist_local_world(void);
/* "rank R/N: " when the world has more than one rank, "" otherwise: the prefix of every
 * message a rank prints about itself. */
const char *dist_rank_label(void);

void dist_barrier(void);
/* buf[0..bytes) of rank root replaces it on every rank. */
void dist_broadcast(void *buf, size_t bytes, int root);
/* Element-wise sums over the ranks, in place, on every rank. */
void dist_all_reduce_sum_f32(float *x, size_t n);
void dist_all_reduce_sum_f64(double *x, size_t n);
void dist_all_reduce_sum_i64(int64_t *x, size_t n);
/* out[r*bytes .. (r+1)*bytes) = in of rank r, on every rank. Every rank gives the same
 * byte count (the caller pads); in may be out + rank*bytes (in place). */
void dist_all_gather(void *out, const void *in, size_t bytes);
/* out[0..n) = sum over ranks of their in[rank*n .. (rank+1)*n): in holds world*n floats,
 * the same n on every rank; out must not overlap in. */
void dist_reduce_scatter_sum_f32(float *out, const float *in, size_t n);
/* Returns when every rank passed the same value; otherwise the job ends with a message
 * naming what differs (what, e.g. "recipe hash") and which ranks hold which values. */
void dist_check_same(uint64_t value, const char *what);

#ifdef __cplusplus
}
#endif

#endif
