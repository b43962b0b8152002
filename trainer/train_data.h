/* The training data of a run: one or more datasets (text files or pre-tokenized shards)
 * that give the same number of text columns, with labels or without, and the reading of a
 * planned batch (trainer/batch_plan.h) from them: the examples of a text file are read
 * back by pread on `threads` threads, a shard's ids are used in place. */
#ifndef SENTEMBED_TRAIN_DATA_H
#define SENTEMBED_TRAIN_DATA_H

#include "trainer/batch_plan.h"
#include "trainer/data_source.h"
#include "trainer/shard.h"

typedef struct {
    const DataSpec *spec;
    const char *name;  /* the file or the shard */
    bool is_shard;
    DataSource text;
    Shard shard;
    uint64_t *shard_hashes; /* no_duplicates: a hash of each sequence's ids */
    size_t n;
} TrainSet;

typedef struct {
    TrainSet *sets;
    int n_sets;
    int n_columns;
    bool has_label;
    size_t n_examples, dropped, skipped;
} TrainData;

int train_data_open(TrainData *d, const DataSpec *specs, int n_specs, const DataOptions *opt, SeError *err);
/* Shards must come from the model's tokenizer and hold the ids training would make. */
int train_data_check_tokenizer(const TrainData *d, const Tokenizer *t, int max_seq_length, SeError *err);
/* The datasets as the plan sees them (out[n_sets]). */
void train_data_plan_sets(const TrainData *d, PlanSet *out);
void train_data_close(TrainData *d);

/* One planned batch: rows examples of one dataset, column-major as trainer_step takes
 * them (sequence c * rows + r). */
typedef struct {
    int rows, n_columns;
    int set;
    bool pretokenized;      /* ids (a shard) instead of texts */
    const char **texts;     /* [K * rows] */
    size_t *lens;
    const int32_t **ids;    /* [K * rows] */
    size_t *id_lens;
    double *labels;         /* [rows] */
    size_t *where;          /* [rows]: the line of each example (a shard: its number, from 1) */
    /* buffers, kept between batches */
    int cap_rows, n_threads;
    RowParser *parsers;     /* [n_sets * n_threads] */
    int parsers_for;        /* n_sets they were made for */
    char **arena;           /* one per thread */
    size_t *arena_cap;
    size_t *text_at;        /* [K * rows] */
    int *owner;             /* [rows]: the thread that read it */
} DataBatch;

/* Reads batch `batch` of plan p (threads <= 0: all cores). */
int data_batch_read(DataBatch *b, const TrainData *d, const EpochPlan *p, size_t batch, int threads, SeError *err);
void data_batch_free(DataBatch *b);

#endif
