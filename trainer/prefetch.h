/* The input pipeline of `sentembed train`: each planned batch is read (trainer/train_data.h),
 * tokenized with the model's tokenizer and packed (ids, positions, cu_seqlens) into one of two
 * slots. With a worker thread, batch k+1 is prepared while the trainer runs batch k, so a GPU
 * step does not wait on input while the pipeline keeps up; without one (the CPU backend, whose
 * step uses every core), prefetch_take prepares the batch itself. Both give the same batches,
 * bit for bit: the thread changes when the work is done, never what it computes.
 *
 * The slots' packed buffers come from the backend's host_alloc (pinned memory on a GPU), and
 * the step queues their copies to the device without waiting (copy_to_device_async), so the
 * copies overlap the previous step's tail. The trainer takes a slot, steps on it, and
 * releases it once the step has read its loss back (which waits for those copies); the
 * worker refills a released slot with the batch after next. `waits` counts the takes that found their batch not ready
 * (the first batch of a run of the plan is not counted: nothing can be ahead of it), and
 * `wait_s` the time they waited. */
#ifndef SENTEMBED_PREFETCH_H
#define SENTEMBED_PREFETCH_H

#include <pthread.h>
#include <stdbool.h>

#include "host/error.h"
#include "trainer/sentence_model.h"
#include "trainer/train_data.h"

typedef struct {
    DataBatch batch;  /* rows, labels, source lines (texts point into it) */
    SmTokens tokens;
    PackedBatch pb;   /* the batch's n_columns * rows sequences, sequence c * rows + r */
    int state;        /* empty, filling, ready */
    int rc;           /* a failed read: err says why */
    SeError err;
} PrefetchSlot;

typedef struct {
    const TrainData *data;
    const EpochPlan *plan;
    const SentenceModel *model;
    size_t next, first, end; /* batches [first, end) of the plan; next: the next to take */
    bool threaded, stop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    PrefetchSlot slots[2];
    long waits;
    double wait_s;
} Prefetch;

/* Slots for batches of up to max_rows rows. */
void prefetch_init(Prefetch *p, const TrainData *d, const SentenceModel *m, int max_rows, bool threaded);
/* Starts on batches first .. plan->n_batches - 1 of plan (which must outlive prefetch_end). */
void prefetch_begin(Prefetch *p, const EpochPlan *plan, size_t first);
/* The next batch, in plan order; NULL after the last. A slot with rc != 0 failed to read. */
PrefetchSlot *prefetch_take(Prefetch *p);
void prefetch_release(Prefetch *p, PrefetchSlot *s);
/* Stops the worker (a run can end before its plan does). */
void prefetch_end(Prefetch *p);
void prefetch_free(Prefetch *p);

#endif
