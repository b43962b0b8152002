/* The host collectives (host/dist.h) and the collectives tables, run as a plain process
 * (a world of one) and under `mpirun -np N`. Each rank fills its inputs from its rank and
 * computes what every collective must give from the same formulas: small integers and
 * halves, whose float sums are exact in any order, so results compare exactly.
 *
 * usage: test_collectives WORLD [cpu|cuda|die|kill|mismatch|mpi-error]
 *   WORLD      the world size the launcher was asked for (a plain run: 1)
 *   cpu        (the default) every collective of the CPU table, on host memory
 *   cuda       every collective of the CUDA table (NCCL), on device memory; skips without a GPU
 *   die        rank 1 ends in se_die while the others wait in a collective
 *   kill       rank 1 is killed (SIGKILL) while the others wait in a collective
 *   mismatch   odd ranks pass dist_check_same another value
 *   mpi-error  a broadcast from a rank that does not exist (MPI's own error) */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "host/clock.h"
#include "host/dist.h"
#include "host/error.h"
#include "kernels/collectives.h"
#include "kernels/ops.h"

static const size_t SIZES[] = {1, 7, 1001, 4099};

/* The backend whose memory the collectives work on (host for cpu, device for cuda). */
static const Ops *mem;

static void *upload(const void *host, size_t bytes)
{
    void *p = mem->alloc(bytes);
    mem->copy_to_device(p, host, bytes);
    return p;
}

static void check_topology(int world)
{
    const int rank = dist_rank();
    CHECK(dist_world() == world, "rank %d sees a world of %d, launched with %d", rank, dist_world(), world);
    CHECK(rank >= 0 && rank < world, "rank %d of %d", rank, world);
    /* mpirun here starts every rank on this one machine */
    CHECK(dist_local_world() == world, "local world %d of %d", dist_local_world(), world);
    CHECK(dist_local_rank() == rank, "local rank %d, rank %d", dist_local_rank(), rank);
    char label[48] = "";
    if (world > 1)
        snprintf(label, sizeof label, "rank %d/%d: ", rank, world);
    CHECK(!strcmp(dist_rank_label(), label), "label '%s', wanted '%s'", dist_rank_label(), label);
}

static float reduce_input(int rank, size_t i) { return (float)((rank + 1) * (int)(i % 13)) + 0.5f * (float)rank; }

static void check_all_reduce(const Collectives *c, int world)
{
    const int rank = dist_rank();
    for (size_t k = 0; k < sizeof SIZES / sizeof *SIZES; k++) {
        const size_t n = SIZES[k];
        float *x = se_xmalloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = reduce_input(rank, i);
        float *buf = upload(x, n * sizeof *x);
        c->all_reduce_sum(buf, n);
        mem->copy_to_host(x, buf, n * sizeof *x);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) {
            float want = 0;
            for (int r = 0; r < world; r++)
                want += reduce_input(r, i);
            wrong += x[i] != want;
        }
        CHECK(wrong == 0, "%s all_reduce_sum of %zu floats: %zu wrong on rank %d", c->name, n, wrong, rank);
        mem->free(buf);
        free(x);
    }
}

/* The host-only sums of counters (dist.h), in double and in 64-bit integers. */
static void check_host_sums(int world)
{
    const int rank = dist_rank();
    double d[3] = {0.25 * rank, 1e300 / 8, -(double)rank};
    dist_all_reduce_sum_f64(d, 3);
    const double ranks = world * (world - 1) / 2.0;
    CHECK(d[0] == 0.25 * ranks && d[1] == world * (1e300 / 8) && d[2] == -ranks, "f64 sums %g %g %g", d[0], d[1],
          d[2]);
    /* beyond 32 bits, so a 32-bit sum would show */
    int64_t l[2] = {((int64_t)rank << 40) + 3, -1};
    dist_all_reduce_sum_i64(l, 2);
    CHECK(l[0] == ((int64_t)ranks << 40) + 3 * world && l[1] == -world, "i64 sums %lld %lld", (long long)l[0],
          (long long)l[1]);
    dist_check_same(0x5eedull << 32, "model shape hash"); /* equal everywhere: returns */
}

static unsigned char gather_byte(int rank, size_t j) { return (unsigned char)(rank * 31 + (int)j * 7 + 1); }

static void check_all_gather(const Collectives *c, int world)
{
    const int rank = dist_rank();
    /* an odd byte count per rank; then in place, from out + rank * bytes */
    for (int in_place = 0; in_place <= 1; in_place++) {
        const size_t bytes = 13, total = (size_t)world * bytes;
        unsigned char *out = se_xcalloc(total, 1), in[13];
        for (size_t j = 0; j < bytes; j++)
            in[j] = gather_byte(rank, j);
        unsigned char *dev_out = upload(out, total), *dev_in = NULL;
        if (in_place)
            mem->copy_to_device(dev_out + (size_t)rank * bytes, in, bytes);
        else
            dev_in = upload(in, bytes);
        c->all_gather(dev_out, in_place ? dev_out + (size_t)rank * bytes : dev_in, bytes);
        mem->copy_to_host(out, dev_out, total);
        size_t wrong = 0;
        for (int r = 0; r < world; r++)
            for (size_t j = 0; j < bytes; j++)
                wrong += out[(size_t)r * bytes + j] != gather_byte(r, j);
        CHECK(wrong == 0, "%s all_gather%s of %zu bytes per rank: %zu wrong on rank %d", c->name,
              in_place ? " in place" : "", bytes, wrong, rank);
        mem->free(dev_out);
        if (dev_in)
            mem->free(dev_in);
        free(out);
    }
}

static float scatter_input(int rank, int part, size_t j) { return (float)(rank * 100 + part * 10 + (int)j); }

static void check_reduce_scatter(const Collectives *c, int world)
{
    const int rank = dist_rank();
    const size_t n = 5;
    float *in = se_xmalloc((size_t)world * n * sizeof *in), out[5];
    for (int part = 0; part < world; part++)
        for (size_t j = 0; j < n; j++)
            in[(size_t)part * n + j] = scatter_input(rank, part, j);
    float *dev_in = upload(in, (size_t)world * n * sizeof *in), *dev_out = mem->alloc(sizeof out);
    c->reduce_scatter_sum(dev_out, dev_in, n);
    mem->copy_to_host(out, dev_out, sizeof out);
    size_t wrong = 0;
    for (size_t j = 0; j < n; j++) {
        float want = 0;
        for (int r = 0; r < world; r++)
            want += scatter_input(r, rank, j);
        wrong += out[j] != want;
    }
    CHECK(wrong == 0, "%s reduce_scatter_sum of %zu floats per rank: %zu wrong on rank %d", c->name, n, wrong, rank);
    mem->free(dev_in);
    mem->free(dev_out);
    free(in);
}

static void check_broadcast(const Collectives *c, int world)
{
    const int rank = dist_rank();
    for (int root = 0; root < world; root++) {
        unsigned char buf[37];
        for (size_t j = 0; j < sizeof buf; j++)
            buf[j] = gather_byte(rank, j);
        unsigned char *dev = upload(buf, sizeof buf);
        c->broadcast(dev, sizeof buf, root);
        mem->copy_to_host(buf, dev, sizeof buf);
        size_t wrong = 0;
        for (size_t j = 0; j < sizeof buf; j++)
            wrong += buf[j] != gather_byte(root, j);
        CHECK(wrong == 0, "%s broadcast of %zu bytes from rank %d: %zu wrong on rank %d", c->name, sizeof buf, root,
              wrong, rank);
        mem->free(dev);
    }
}

/* Rank 0 comes late: nobody may leave the barrier before it arrives. */
static void check_barrier(const Collectives *c, int world)
{
    const double late = 0.3;
    const double start = se_now_s();
    if (dist_rank() == 0)
        nanosleep(&(struct timespec){0, (long)(late * 1e9)}, NULL);
    c->barrier();
    const double waited = se_now_s() - start;
    if (world > 1)
        CHECK(waited >= late * 0.9, "%s: rank %d left the barrier after %.3f s, before rank 0 arrived (%.1f s)",
              c->name, dist_rank(), waited, late);
}

/* The collectives of the backend named (cpu or cuda) with its memory; a GPU test skips
 * where there is no GPU (or no CUDA in the build), and fails for any other refusal. */
static const Collectives *pick(const char *backend)
{
    if (!strcmp(backend, "cpu")) {
        mem = ops_cpu();
        return collectives_cpu();
    }
    char why[512] = "";
    const Collectives *c = collectives_cuda(why, sizeof why);
    mem = c ? ops_cuda(NULL, 0) : NULL;
    if (!c) {
        char no_gpu[512] = "";
        if (!ops_cuda(no_gpu, sizeof no_gpu)) {
            printf("test_collectives: skipped (%s)\n", no_gpu);
            dist_finalize();
            exit(CHECK_SKIP);
        }
        fprintf(stderr, "%scollectives_cuda refused a machine with a GPU: %s\n", dist_rank_label(), why);
        dist_abort(1);
    }
    return c;
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    if (argc < 2) {
        fprintf(stderr, "usage: test_collectives WORLD [cpu|cuda|die|kill|mismatch|mpi-error]\n");
        dist_abort(2);
    }
    const int world = atoi(argv[1]);
    const char *mode = argc > 2 ? argv[2] : "cpu";
    const int rank = dist_rank();
    float one = 1;

    if (!strcmp(mode, "cpu") || !strcmp(mode, "cuda")) {
        const Collectives *c = pick(mode);
        check_topology(world);
        check_host_sums(world);
        check_all_reduce(c, world);
        check_all_gather(c, world);
        check_reduce_scatter(c, world);
        check_broadcast(c, world);
        check_barrier(c, world);
        int status = check_summary("test_collectives");
        /* every rank's verdict, so that the job's exit status speaks for all of them */
        int64_t failed = status != 0;
        dist_all_reduce_sum_i64(&failed, 1);
        dist_finalize();
        return failed ? 1 : 0;
    } else if (!strcmp(mode, "die")) {
        if (rank == 1)
            se_die("deliberate failure of rank 1 (test_collectives die)");
        dist_barrier(); /* never passed: rank 1 does not come */
    } else if (!strcmp(mode, "kill")) {
        if (rank == 1)
            raise(SIGKILL);
        dist_all_reduce_sum_f32(&one, 1);
    } else if (!strcmp(mode, "mismatch")) {
        dist_check_same(rank % 2 ? 0xbad0000000000000ull + (uint64_t)rank : 0x5eed, "recipe hash");
    } else if (!strcmp(mode, "mpi-error")) {
        unsigned char byte = 0;
        dist_broadcast(&byte, 1, world);
    } else {
        fprintf(stderr, "test_collectives: unknown mode '%s'\n", mode);
        dist_abort(2);
    }
    fprintf(stderr, "rank %d: test_collectives %s: still running, but the job should have ended\n", rank, mode);
    dist_finalize();
    return 3;
}
