#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/batch_plan.h"

#define LCG_MUL 6364136223846793005ull
#define LCG_ADD 1442695040888963407ull

/* Fisher-Yates driven by an LCG seeded from (seed, epoch, set); for one dataset this is the
 * permutation earlier versions drew, so a recipe keeps its batches. */
void plan_shuffle(uint32_t *order, size_t n, uint64_t seed, long epoch, int set)
{
    uint64_t s = seed * LCG_MUL + (uint64_t)epoch + 1 + (uint64_t)set * 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        s = s * LCG_MUL + LCG_ADD;
        size_t j = i <= (1ull << 31) ? (size_t)((s >> 33) % i) : (size_t)((s >> 1) % i);
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

static void add_batch(EpochPlan *p, size_t *cap, uint32_t set, size_t first, size_t rows)
{
    if (p->n_batches == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        p->batches = se_xrealloc(p->batches, *cap * sizeof *p->batches);
    }
    p->batches[p->n_batches++] = (PlanBatch){set, (uint32_t)rows, first};
}

/* NoDuplicatesBatchSampler over order[0..n) into out; the batches into p. */
static void no_duplicate_batches(EpochPlan *p, size_t *cap, uint32_t set, const PlanSet *ps, const uint32_t *order,
                                 uint32_t *out, size_t out_base, const PlanConfig *c)
{
    const size_t n = ps->n, K = (size_t)ps->per_example, B = (size_t)c->batch_size, END = n;
    size_t *next = se_xmalloc((n + 1) * sizeof *next);
    for (size_t i = 0; i < n; i++)
        next[i] = i + 1;
    /* the texts of the batch being filled: open addressing, cleared by a new stamp */
    size_t slots = 16;
    while (slots < 2 * B * K)
        slots *= 2;
    uint64_t *keys = se_xmalloc(slots * sizeof *keys);
    uint32_t *stamp = se_xcalloc(slots, sizeof *stamp), batch = 0;
    size_t head = 0, o = 0;
    while (head != END) {
        batch++;
        size_t start = o, rows = 0, prev = END, cur = head;
        while (cur != END && rows < B) {
            const uint64_t *h = ps->hashes + (size_t)order[cur] * K;
            bool clash = false;
            for (size_t k = 0; k < K && !clash; k++)
                for (size_t sl = h[k] & (slots - 1); stamp[sl] == batch; sl = (sl + 1) & (slots - 1))
                    if (keys[sl] == h[k]) {
                        clash = true;
                        break;
                    }
            if (clash) { /* deferred: it stays in the list for a later batch */
                prev = cur;
                cur = next[cur];
                continue;
            }
            out[o++] = order[cur];
            rows++;
            for (size_t k = 0; k < K; k++) {
                size_t sl = h[k] & (slots - 1);
                while (stamp[sl] == batch && keys[sl] != h[k])
                    sl = (sl + 1) & (slots - 1);
                stamp[sl] = batch, keys[sl] = h[k];
            }
            if (prev == END)
                head = next[cur];
            else
                next[prev] = next[cur];
            cur = next[cur];
        }
        if (rows == B || !c->drop_last)
            add_batch(p, cap, set, out_base + start, rows);
        else
            o = start; /* a batch that is not full, left out (its examples too, as the reference does) */
    }
    free(next);
    free(keys);
    free(stamp);
}

static size_t set_batches(size_t n, const PlanConfig *c)
{
    size_t B = (size_t)c->batch_size;
    return c->drop_last ? n / B : (n + B - 1) / B;
}

size_t plan_nominal_batches(const PlanSet *sets, int n_sets, const PlanConfig *c)
{
    size_t sum = 0, min = SIZE_MAX;
    for (int d = 0; d < n_sets; d++) {
        size_t b = set_batches(sets[d].n, c);
        sum += b;
        min = b < min ? b : min;
    }
    return n_sets > 1 && c->sampling == SAMPLING_ROUND_ROBIN ? min * (size_t)n_sets : sum;
}

void plan_build(EpochPlan *p, const PlanSet *sets, int n_sets, const PlanConfig *c, long epoch)
{
    SeContext ctx;
    se_context_push(&ctx, "building the batch plan of an epoch", NULL, NULL);
    memset(p, 0, sizeof *p);
    size_t total = 0, cap = 0;
    for (int d = 0; d < n_sets; d++)
        total += sets[d].n;
    p->examples = se_xmalloc((total ? total : 1) * sizeof *p->examples);
    p->n_examples = total;
    /* each dataset's batches, in its own order */
    EpochPlan *per = se_xcalloc((size_t)n_sets, sizeof *per);
    size_t base = 0;
    for (int d = 0; d < n_sets; d++) {
        const PlanSet *ps = &sets[d];
        size_t per_cap = 0;
        uint32_t *region = p->examples + base;
        if (c->sampler == SAMPLER_NO_DUPLICATES) {
            uint32_t *order = se_xmalloc((ps->n ? ps->n : 1) * sizeof *order);
            plan_shuffle(order, ps->n, c->seed, epoch, d);
            no_duplicate_batches(&per[d], &per_cap, (uint32_t)d, ps, order, region, base, c);
            free(order);
        } else {
            plan_shuffle(region, ps->n, c->seed, epoch, d);
            size_t B = (size_t)c->batch_size;
            for (size_t b0 = 0; b0 < ps->n; b0 += B) {
                size_t rows = ps->n - b0 < B ? ps->n - b0 : B;
                if (rows == B || !c->drop_last)
                    add_batch(&per[d], &per_cap, (uint32_t)d, base + b0, rows);
            }
        }
        base += ps->n;
    }
    /* interleave them */
    size_t *taken = se_xcalloc((size_t)n_sets, sizeof *taken);
    if (n_sets == 1 || c->sampling == SAMPLING_ROUND_ROBIN) {
        for (int d = 0;; d = (d + 1) % n_sets) {
            if (taken[d] == per[d].n_batches)
                break;
            PlanBatch b = per[d].batches[taken[d]++];
            add_batch(p, &cap, b.set, b.first, b.rows);
        }
    } else {
        size_t n_ids = 0;
        for (int d = 0; d < n_sets; d++)
            n_ids += per[d].n_batches;
        uint32_t *perm = se_xmalloc((n_ids ? n_ids : 1) * sizeof *perm), *ids = se_xmalloc((n_ids ? n_ids : 1) * sizeof *ids);
        for (int d = 0, k = 0; d < n_sets; d++)
            for (size_t i = 0; i < per[d].n_batches; i++)
                ids[k++] = (uint32_t)d;
        plan_shuffle(perm, n_ids, c->seed, epoch, n_sets); /* a stream of its own */
        for (size_t i = 0; i < n_ids; i++) {
            int d = (int)ids[perm[i]];
            PlanBatch b = per[d].batches[taken[d]++];
            add_batch(p, &cap, b.set, b.first, b.rows);
        }
        free(perm);
        free(ids);
    }
    for (int d = 0; d < n_sets; d++)
        free(per[d].batches);
    free(per);
    free(taken);
    se_context_pop(&ctx);
}

uint32_t plan_share_first(uint32_t rows, int rank, int world)
{
    return (uint32_t)((uint64_t)rows * (uint64_t)rank / (uint64_t)world);
}

size_t plan_take_share(EpochPlan *p, int rank, int world, uint32_t *global_rows)
{
    size_t kept = 0;
    for (size_t b = 0; b < p->n_batches; b++) {
        const PlanBatch g = p->batches[b];
        if (g.rows < (uint32_t)world)
            continue; /* a rank would have no row of it */
        const uint32_t lo = plan_share_first(g.rows, rank, world), hi = plan_share_first(g.rows, rank + 1, world);
        global_rows[kept] = g.rows;
        p->batches[kept++] = (PlanBatch){g.set, hi - lo, g.first + lo};
    }
    size_t left_out = p->n_batches - kept;
    p->n_batches = kept;
    return left_out;
}

void plan_free(EpochPlan *p)
{
    free(p->batches);
    free(p->examples);
    memset(p, 0, sizeof *p);
}
