/* An epoch as a plan of batches, a pure function of the data's sizes (and, for
 * no_duplicates, its text hashes), the seed and the epoch, so that a run's position is
 * (epoch, batch index) and a resumed run rebuilds exactly the plan it left.
 *
 * Each dataset's examples are shuffled (seed + epoch) and cut into batches:
 *   default        consecutive batch_size examples of the permutation;
 *   no_duplicates  as sentence-transformers' NoDuplicatesBatchSampler, for in-batch-
 *                  negative losses: walking the permutation, an example that would put a
 *                  text into a batch twice is deferred to a later batch;
 *   drop_last      a batch that is not full is left out (no_duplicates: every such batch).
 * Every batch comes from one dataset; with several, as sentence-transformers'
 * MultiDatasetBatchSampler:
 *   round_robin    one batch of each dataset in turn, until the first dataset that has
 *                  none left (the smallest decides the epoch's length);
 *   proportional   all batches of all datasets, in an order shuffled from the seed, so
 *                  each dataset is sampled in proportion to its size. */
#ifndef SENTEMBED_BATCH_PLAN_H
#define SENTEMBED_BATCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SAMPLER_DEFAULT, SAMPLER_NO_DUPLICATES } BatchSamplerKind;
typedef enum { SAMPLING_PROPORTIONAL, SAMPLING_ROUND_ROBIN } MultiSampling;

typedef struct {
    int batch_size;
    bool drop_last;
    BatchSamplerKind sampler;
    MultiSampling sampling;
    uint64_t seed;
} PlanConfig;

/* One dataset as the plan sees it. */
typedef struct {
    size_t n;                 /* examples (< 2^32) */
    const uint64_t *hashes;   /* no_duplicates: [n * per_example] text hashes */
    int per_example;
} PlanSet;

typedef struct {
    uint32_t set;   /* the dataset it comes from */
    uint32_t rows;
    size_t first;   /* its examples are examples[first .. first + rows) */
} PlanBatch;

typedef struct {
    PlanBatch *batches;
    size_t n_batches;
    uint32_t *examples; /* example indices within their dataset */
    size_t n_examples;
} EpochPlan;

void plan_build(EpochPlan *p, const PlanSet *sets, int n_sets, const PlanConfig *c, long epoch);
/* Batches per epoch as sentence-transformers counts them (len() of its samplers): the
 * length of the learning-rate schedule. A no_duplicates plan may hold a few more. */
size_t plan_nominal_batches(const PlanSet *sets, int n_sets, const PlanConfig *c);
/* The permutation of n examples for (seed, epoch) of dataset `set` (order[n]). */
void plan_shuffle(uint32_t *order, size_t n, uint64_t seed, long epoch, int set);
/* Data parallelism: every rank builds the same plan of global batches (batch_size x world
 * rows) and keeps its share of each: rank r of `world` takes rows [R*r/world, R*(r+1)/world)
 * of a batch of R rows, so shares differ by at most one row and put together in rank
 * order are the global batch. global_rows[k] (capacity n_batches) gets the global size of
 * the k-th batch kept. A batch of fewer rows than ranks (a last, short one) is left out on
 * every rank; returns how many were. */
size_t plan_take_share(EpochPlan *p, int rank, int world, uint32_t *global_rows);
/* The first row of rank r's share of a global batch of `rows` rows, R*r/world: where its
 * rows sit in the global batch (the dropout masks are keyed by it). */
uint32_t plan_share_first(uint32_t rows, int rank, int world);
void plan_free(EpochPlan *p);

#endif
