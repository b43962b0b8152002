#include "trainer/prefetch.h"

#include <string.h>

#include "host/clock.h"

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY };

void prefetch_init(Prefetch *p, const TrainData *d, const SentenceModel *m, int max_rows, bool threaded)
{
    memset(p, 0, sizeof *p);
    p->data = d;
    p->model = m;
    p->threaded = threaded;
    const size_t seqs = (size_t)d->n_columns * (size_t)max_rows;
    for (int k = 0; k < 2; k++)
        packed_batch_alloc(&p->slots[k].pb, seqs, seqs * (size_t)m->max_seq_length, m->ops);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
}

/* Reads, tokenizes and packs batch k of the plan into s. */
static void fill(Prefetch *p, PrefetchSlot *s, size_t k)
{
    s->rc = data_batch_read(&s->batch, p->data, p->plan, k, 0, &s->err);
    if (s->rc)
        return;
    DataBatch *b = &s->batch;
    const size_t n = (size_t)b->n_columns * (size_t)b->rows, max_len = (size_t)p->model->max_seq_length;
    if (b->pretokenized) {
        packed_batch_from_seqs(&s->pb, b->ids, b->id_lens, n, max_len);
    } else {
        sm_tokenize_into(p->model, &s->tokens, b->texts, b->lens, n, 0);
        packed_batch_from_offsets(&s->pb, s->tokens.tb.ids, s->tokens.tb.offsets, n);
    }
}

static void *worker(void *arg)
{
    Prefetch *p = arg;
    for (size_t k = p->first; k < p->end; k++) {
        PrefetchSlot *s = &p->slots[k % 2];
        pthread_mutex_lock(&p->mu);
        while (s->state != SLOT_EMPTY && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        const bool stop = p->stop;
        if (!stop)
            s->state = SLOT_FILLING;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        fill(p, s, k);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (s->rc)
            break; /* the trainer reports it when it takes this slot */
    }
    return NULL;
}

void prefetch_begin(Prefetch *p, const EpochPlan *plan, size_t first)
{
    p->plan = plan;
    p->first = p->next = first;
    p->end = plan->n_batches;
    p->stop = false;
    for (int k = 0; k < 2; k++)
        p->slots[k].state = SLOT_EMPTY;
    if (p->threaded && first < p->end && pthread_create(&p->thread, NULL, worker, p) != 0)
        p->threaded = false; /* no thread to be had: prepare each batch in prefetch_take */
}

PrefetchSlot *prefetch_take(Prefetch *p)
{
    if (p->next >= p->end)
        return NULL;
    const size_t k = p->next++;
    PrefetchSlot *s = &p->slots[k % 2];
    if (!p->threaded) {
        fill(p, s, k);
        return s;
    }
    pthread_mutex_lock(&p->mu);
    if (s->state != SLOT_READY) {
        const double t0 = se_now_s();
        while (s->state != SLOT_READY)
            pthread_cond_wait(&p->cv, &p->mu);
        if (k != p->first) {
            p->waits++;
            p->wait_s += se_now_s() - t0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

void prefetch_release(Prefetch *p, PrefetchSlot *s)
{
    if (!p->threaded)
        return;
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_EMPTY;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void prefetch_end(Prefetch *p)
{
    if (!p->threaded || p->first >= p->end || p->plan == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->plan = NULL;
}

void prefetch_free(Prefetch *p)
{
    prefetch_end(p);
    for (int k = 0; k < 2; k++) {
        data_batch_free(&p->slots[k].batch);
        sm_tokens_free(&p->slots[k].tokens);
        packed_batch_free(&p->slots[k].pb);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}
