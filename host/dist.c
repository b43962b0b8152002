/* Process topology and host collectives over MPI (see dist.h). Every function starts with
 * the world-of-one case, which is all a build without MPI has; the MPI calls below it run
 * only in a job of several ranks. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/dist.h"
#include "host/error.h"

#ifdef SENTEMBED_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    int rank, world, local_rank, local_world;
    int mpi; /* MPI_Init ran and MPI_Finalize did not */
    char label[48];
} dist = {0, 1, 0, 1, 0, ""};

int dist_rank(void) { return dist.rank; }
int dist_world(void) { return dist.world; }
int dist_local_rank(void) { return dist.local_rank; }
int dist_local_world(void) { return dist.local_world; }
const char *dist_rank_label(void) { return dist.label; }

#ifdef SENTEMBED_HAVE_MPI
static void mpi_fail(int status, const char *call, const char *file, int line)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(status, text, &len);
    se_die("MPI error at %s:%d: %s: %s", file, line, call, text);
}

/* The one check of every MPI call: the call, where, and MPI's own words (se_die adds the rank). */
#define MPI_CHECK(call)                                             \
    do {                                                            \
        const int mpi_check_status_ = (call);                       \
        if (mpi_check_status_ != MPI_SUCCESS)                       \
            mpi_fail(mpi_check_status_, #call, __FILE__, __LINE__); \
    } while (0)

/* MPI counts are ints; the gradient and weight buffers that all_reduce and broadcast move
 * may be larger, so those two go in chunks of this many elements. */
#define MPI_CHUNK ((size_t)1 << 30)

static int mpi_count(size_t n, const char *what)
{
    if (n > INT_MAX)
        se_die("%s of %zu elements per rank is more than MPI's int count allows (%d)", what, n, INT_MAX);
    return (int)n;
}

/* A launcher that starts MPI processes says so in their environment: Open MPI's mpirun,
 * hydra (MPICH, Intel MPI) and Slurm's PMI, PMIx (srun --mpi=pmix, prterun), any srun step
 * (SLURM_STEP_NUM_TASKS; not SLURM_PROCID, which an sbatch script's own shell has too).
 * Anything else is a plain run: MPI_Init there would start a singleton runtime, which
 * costs ~0.4 s (measured: Open MPI 4.1) for a world of one that needs none of it. */
static int launched(void)
{
    static const char *const VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"};
    for (size_t k = 0; k < sizeof VARS / sizeof *VARS; k++)
        if (getenv(VARS[k]))
            return 1;
    return 0;
}

/* The launcher's process count, where it says one: srun without an MPI plugin that this
 * MPI understands starts N singletons, each a world of one, that would all train alone. */
static void check_launcher_world(void)
{
    static const char *const VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t k = 0; k < sizeof VARS / sizeof *VARS; k++) {
        const char *value = getenv(VARS[k]);
        if (!value)
            continue;
        char *end;
        const long expected = strtol(value, &end, 10);
        if (*end == '\0' && expected != dist.world)
            se_die("the launcher started %ld processes (%s=%s) but MPI sees a world of %d: this MPI did not "
                   "get the launcher's process-management interface; under Slurm launch with "
                   "srun --mpi=pmix (or pmi2, whichever `srun --mpi=list` offers and this MPI was built with), "
                   "or with mpirun",
                   expected, VARS[k], value, dist.world);
        return;
    }
}
#endif

void dist_init(int *argc, char ***argv)
{
#ifdef SENTEMBED_HAVE_MPI
    if (dist.mpi || !launched())
        return;
    /* Collectives come from the main thread only (FUNNELED). The one exception, an
     * MPI_Abort from a helper thread's fatal error, goes through the launcher's runtime in
     * Open MPI and MPICH. */
    int provided;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    dist.mpi = 1;
    /* Errors come back to MPI_CHECK, which names the call, instead of MPI's own abort. */
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &dist.world));
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, &dist.local_rank));
    MPI_CHECK(MPI_Comm_size(node, &dist.local_world));
    MPI_CHECK(MPI_Comm_free(&node));
    if (dist.world > 1)
        snprintf(dist.label, sizeof dist.label, "rank %d/%d: ", dist.rank, dist.world);
    check_launcher_world();
#endif
}

void dist_finalize(void)
{
#ifdef SENTEMBED_HAVE_MPI
    if (!dist.mpi)
        return;
    MPI_CHECK(MPI_Finalize());
    dist.mpi = 0;
#endif
}

void dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
#ifdef SENTEMBED_HAVE_MPI
    if (dist.mpi)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

void dist_barrier(void)
{
    if (dist.world == 1)
        return;
#ifdef SENTEMBED_HAVE_MPI
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
#endif
}

void dist_broadcast(void *buf, size_t bytes, int root)
{
    if (dist.world == 1) {
        if (root != 0)
            se_die("broadcast from rank %d in a world of one rank", root);
        return;
    }
#ifdef SENTEMBED_HAVE_MPI
    for (size_t at = 0; at < bytes; at += MPI_CHUNK) {
        const size_t n = bytes - at < MPI_CHUNK ? bytes - at : MPI_CHUNK;
        MPI_CHECK(MPI_Bcast((char *)buf + at, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
    }
#endif
}

/* The element types of the sums; MPI's names for them exist only in a build with MPI. */
typedef enum { SUM_F32, SUM_F64, SUM_I64 } SumType;

static void all_reduce_sum(void *x, size_t n, size_t size, SumType type)
{
    if (dist.world == 1)
        return;
#ifdef SENTEMBED_HAVE_MPI
    const MPI_Datatype mpi_type = type == SUM_F32 ? MPI_FLOAT : type == SUM_F64 ? MPI_DOUBLE : MPI_INT64_T;
    for (size_t at = 0; at < n; at += MPI_CHUNK) {
        const size_t count = n - at < MPI_CHUNK ? n - at : MPI_CHUNK;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)x + at * size, (int)count, mpi_type, MPI_SUM, MPI_COMM_WORLD));
    }
#endif
}

void dist_all_reduce_sum_f32(float *x, size_t n) { all_reduce_sum(x, n, sizeof *x, SUM_F32); }
void dist_all_reduce_sum_f64(double *x, size_t n) { all_reduce_sum(x, n, sizeof *x, SUM_F64); }
void dist_all_reduce_sum_i64(int64_t *x, size_t n) { all_reduce_sum(x, n, sizeof *x, SUM_I64); }

void dist_all_gather(void *out, const void *in, size_t bytes)
{
    if (dist.world == 1) {
        if (out != in)
            memmove(out, in, bytes);
        return;
    }
#ifdef SENTEMBED_HAVE_MPI
    const int count = mpi_count(bytes, "all_gather");
    const void *send = in == (char *)out + (size_t)dist.rank * bytes ? MPI_IN_PLACE : in;
    MPI_CHECK(MPI_Allgather(send, count, MPI_BYTE, out, count, MPI_BYTE, MPI_COMM_WORLD));
#endif
}

void dist_reduce_scatter_sum_f32(float *out, const float *in, size_t n)
{
    if (dist.world == 1) {
        memcpy(out, in, n * sizeof *out);
        return;
    }
#ifdef SENTEMBED_HAVE_MPI
    MPI_CHECK(MPI_Reduce_scatter_block(in, out, mpi_count(n, "reduce_scatter"), MPI_FLOAT, MPI_SUM,
                                       MPI_COMM_WORLD));
#endif
}

#ifdef SENTEMBED_HAVE_MPI
/* A difference names at most this many ranks, so that a large job gives a readable line. */
#define CHECK_SAME_NAMED 8

static void die_different(const uint64_t *values, const char *what)
{
    char list[CHECK_SAME_NAMED * 48 + 64] = "";
    size_t used = 0;
    int named = 0, others = 0;
    for (int r = 1; r < dist.world; r++) {
        if (values[r] == values[0])
            continue;
        if (named++ < CHECK_SAME_NAMED)
            used += (size_t)snprintf(list + used, sizeof list - used, ", rank %d has %016" PRIx64, r, values[r]);
        else
            others++;
    }
    if (others)
        snprintf(list + used, sizeof list - used, " (and %d more ranks)", others);
    se_die("the %s differs across ranks: rank 0 has %016" PRIx64 "%s; every rank must start the same job", what,
           values[0], list);
}
#endif

void dist_check_same(uint64_t value, const char *what)
{
    if (dist.world == 1)
        return;
#ifdef SENTEMBED_HAVE_MPI
    uint64_t *values = se_xmalloc((size_t)dist.world * sizeof *values);
    MPI_CHECK(MPI_Allgather(&value, 1, MPI_UINT64_T, values, 1, MPI_UINT64_T, MPI_COMM_WORLD));
    int same = 1;
    for (int r = 1; r < dist.world; r++)
        same &= values[r] == values[0];
    if (!same) {
        /* Every rank saw the same values: rank 0 alone reports them, and the others wait in a
         * barrier that rank 0 never joins, so its message is not cut short by their aborts. */
        if (dist.rank == 0)
            die_different(values, what);
        MPI_Barrier(MPI_COMM_WORLD); /* unchecked: it ends only by rank 0's abort */
        dist_abort(1);
    }
    free(values);
#endif
}
