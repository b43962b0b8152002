/* Training steps end to end on the CPU: the tiny random BERT of tests/fixtures/encoder
 * (mean pooling + Dense(tanh)) fitted with MultipleNegativesRankingLoss and with
 * CosineSimilarityLoss and SoftmaxLoss on 8 real sentence pairs; the loss must fall well
 * below where it started (the step's gradients themselves are checked against torch in test_train_grad).
 * usage: test_trainer PAIRS_FIXTURE TINY_BERT_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "trainer/trainer.h"

enum { PAIRS = 8 };

/* The tiny BERT loaded and a trainer on it for PAIRS pairs; 0, or -1 after a failed CHECK. */
static int start(SentenceModel *m, Trainer *t, const char *model_dir, const LossConfig *loss, const TrainConfig *cfg)
{
    SeError err;
    if (sm_load(m, model_dir, ops_cpu(), 2 * PAIRS, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    if (trainer_init(t, m, loss, cfg, 2, PAIRS, &err)) {
        CHECK(0, "%s", err.msg);
        sm_free(m);
        return -1;
    }
    return 0;
}

static void fit(const char *name, const char *model_dir, const LossConfig *loss, const char *const *texts,
                const size_t *lens, const double *labels, int steps, double want_ratio)
{
    SentenceModel m;
    Trainer t;
    TrainConfig cfg = {{2e-3, 0.9, 0.999, 1e-8, 0.01}, SCHED_WARMUP_CONSTANT, 3, steps, 1.0, 1, 1, 0, 0};
    if (start(&m, &t, model_dir, loss, &cfg))
        return;
    double first = 0, last = 0;
    for (int s = 0; s < steps; s++) {
        last = trainer_step(&t, texts, lens, PAIRS, labels);
        if (s == 0)
            first = last;
    }
    printf("  %-18s loss %.4f -> %.4f after %d steps (grad norm %.3g, lr %.2g)\n", name, first, last, steps,
           t.last_grad_norm, t.last_lr);
    CHECK(last < want_ratio * first, "%s: loss went from %.4f to %.4f", name, first, last);
    /* the activation arena follows the batch's tokens (a quarter of headroom), not
     * rows x max_seq_length */
    CHECK(t.et.cap_tokens >= m.pb.n_tokens && t.et.cap_tokens <= m.pb.n_tokens + m.pb.n_tokens / 4 + 1 &&
              t.et.cap_tokens < t.et.max_tokens,
          "%s: arena for %d tokens after batches of %d (at most %d)", name, t.et.cap_tokens, m.pb.n_tokens,
          t.et.max_tokens);
    trainer_free(&t);
    sm_free(&m);
}

/* Gradient accumulation: two micro-batches of 4 pairs with accumulation 2 must give the
 * gradient of one batch of 8 (CosineSimilarityLoss is a mean over pairs): the same global
 * gradient norm (a missing 1/accumulation would double it), and nearly the same weights
 * after the step (Adam's first step is about lr * sign(g), so entries whose gradient is
 * near 0 may move differently by a fraction of lr). */
static void check_accumulation(const char *model_dir, const char *const *texts, const size_t *lens,
                               const double *labels)
{
    float *after[2] = {NULL, NULL};
    double norm[2] = {0, 0};
    size_t n = 0;
    for (int accum = 1; accum <= 2; accum++) {
        SentenceModel m;
        Trainer t;
        TrainConfig cfg = {{1e-3, 0.9, 0.999, 1e-8, 0.01}, SCHED_CONSTANT, 0, 1, 1.0, 1, accum, 0, 0};
        LossConfig cosine = {LOSS_COSINE_SIMILARITY, TRIPLET_EUCLIDEAN, 0, 0, 0};
        if (start(&m, &t, model_dir, &cosine, &cfg))
            return;
        if (accum == 1) {
            trainer_step(&t, texts, lens, PAIRS, labels);
        } else { /* the same 8 pairs as two halves, each column-major */
            const int h = PAIRS / 2;
            for (int half = 0; half < 2; half++) {
                const char *tx[PAIRS];
                size_t ln[PAIRS];
                for (int c = 0; c < 2; c++)
                    for (int r = 0; r < h; r++) {
                        tx[c * h + r] = texts[c * PAIRS + half * h + r];
                        ln[c * h + r] = lens[c * PAIRS + half * h + r];
                    }
                trainer_step(&t, tx, ln, h, labels + half * h);
            }
        }
        CHECK(t.step == 1, "accumulation %d: %ld optimizer steps after one batch", accum, t.step);
        norm[accum - 1] = t.last_grad_norm;
        n = m.enc.n_params;
        after[accum - 1] = malloc(n * sizeof(float));
        memcpy(after[accum - 1], m.enc.params, n * sizeof(float));
        trainer_free(&t);
        sm_free(&m);
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)after[0][i] - after[1][i]));
    CHECK(fabs(norm[0] - norm[1]) <= 1e-4 * norm[0], "gradient norm %.8g (batch 8) vs %.8g (2 x 4)", norm[0],
          norm[1]);
    CHECK(worst <= 1e-4, "accumulating 2 x 4 pairs differs from one batch of 8 by %.3g", worst);
    printf("  accumulation 2 x 4 vs batch 8: gradient norm %.6f vs %.6f, max |weight diff| %.2g (lr 1e-3)\n",
           norm[0], norm[1], worst);
    free(after[0]);
    free(after[1]);
}

/* Losses of 5 MNRL steps with the given dropout and seed. */
static void dropout_run(const char *model_dir, const char *const *texts, const size_t *lens, float p, unsigned seed,
                        double *losses)
{
    SentenceModel m;
    Trainer t;
    TrainConfig cfg = {{1e-3, 0.9, 0.999, 1e-8, 0.01}, SCHED_CONSTANT, 0, 5, 1.0, seed, 1, p, p};
    LossConfig mnrl = {LOSS_MNRL, TRIPLET_EUCLIDEAN, 0, 20.0, 0};
    if (start(&m, &t, model_dir, &mnrl, &cfg))
        return;
    for (int s = 0; s < 5; s++)
        losses[s] = trainer_step(&t, texts, lens, PAIRS, NULL);
    trainer_free(&t);
    sm_free(&m);
}

/* Dropout in training: a run is reproducible from its seed, another seed draws other
 * masks, and dropout changes the losses (so it is applied at all). */
static void check_dropout(const char *model_dir, const char *const *texts, const size_t *lens)
{
    double off[5], a[5], b[5], c[5];
    dropout_run(model_dir, texts, lens, 0.0f, 1, off);
    dropout_run(model_dir, texts, lens, 0.1f, 1, a);
    dropout_run(model_dir, texts, lens, 0.1f, 1, b);
    dropout_run(model_dir, texts, lens, 0.1f, 2, c);
    int same_ab = 1, same_ac = 1, same_off = 1;
    for (int s = 0; s < 5; s++) {
        same_ab &= a[s] == b[s];
        same_ac &= a[s] == c[s];
        same_off &= a[s] == off[s];
    }
    CHECK(same_ab, "dropout 0.1, seed 1 twice: losses differ (%.9g vs %.9g at step 1)", a[0], b[0]);
    CHECK(!same_ac, "dropout 0.1: seeds 1 and 2 give the same losses");
    CHECK(!same_off, "dropout 0.1 gives the losses of dropout 0");
    printf("  dropout 0.1: step-1 loss %.6f (seed 1, twice identical), %.6f (seed 2), %.6f without dropout\n", a[0],
           c[0], off[0]);
}

/* The last hidden states of the encoder's training forward, with dropout 0.1 (hidden and
 * attention) and a fixed seed, on rows [first, first + rows) of the PAIRS x 2 batch
 * `texts` (column-major), keyed as global rows key_first .. : out[s] gets sequence s's
 * rows (s = c * rows + r, as packed), len[s] their count. */
static void keyed_forward(SentenceModel *m, const char *const *texts, const size_t *lens, int first, int rows,
                          int64_t key_first, float **out, int *len)
{
    const char *part[2 * PAIRS];
    size_t part_lens[2 * PAIRS];
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < rows; r++) {
            part[c * rows + r] = texts[c * PAIRS + first + r];
            part_lens[c * rows + r] = lens[c * PAIRS + first + r];
        }
    const int N = 2 * rows, H = m->enc.cfg.hidden_size;
    sm_tokenize(m, part, part_lens, (size_t)N);
    PackedBatch *b = sm_pack(m, (size_t)N);
    EncoderTrainer et;
    SeError err;
    CHECK(encoder_train_init(&et, &m->enc, b->n_tokens, N, &err) == 0, "%s", err.msg);
    et.hidden_dropout = et.attention_dropout = 0.1f;
    et.dropout_seed = 12345;
    et.dropout_keys = (DropoutKeys){rows, 2, key_first};
    encoder_train_forward(&et, b);
    for (int s = 0; s < N; s++) {
        len[s] = b->cu_seqlens[s + 1] - b->cu_seqlens[s];
        out[s] = malloc((size_t)len[s] * H * sizeof **out);
        memcpy(out[s], (const float *)et.out + (size_t)b->cu_seqlens[s] * H, (size_t)len[s] * H * sizeof **out);
    }
    encoder_train_free(&et);
}

/* Data parallelism draws the masks of the global batch: the two halves of a batch, each
 * keyed by its first global row, give every sequence the hidden states it has in the whole
 * batch (each sequence's forward is independent of the others in a packed batch: row-wise
 * ops, attention inside the sequence, GEMMs whose rows do not mix; they are equal bit for
 * bit here, but an sgemm may pick another kernel for another row count, so the check allows
 * 1e-5, far below what one mask bit changes); the second half keyed as if it started at
 * row 0 must differ by more than 1e-2. */
static void check_dropout_keys(const char *model_dir, const char *const *texts, const size_t *lens)
{
    SentenceModel m;
    SeError err;
    if (sm_load(&m, model_dir, ops_cpu(), 2 * PAIRS, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    const int H = m.enc.cfg.hidden_size, HALF = PAIRS / 2;
    float *whole[2 * PAIRS], *half[2][PAIRS], *unkeyed[PAIRS];
    int len_whole[2 * PAIRS], len_half[2][PAIRS], len_unkeyed[PAIRS];
    keyed_forward(&m, texts, lens, 0, PAIRS, 0, whole, len_whole);
    for (int h = 0; h < 2; h++)
        keyed_forward(&m, texts, lens, h * HALF, HALF, h * HALF, half[h], len_half[h]);
    keyed_forward(&m, texts, lens, HALF, HALF, 0, unkeyed, len_unkeyed);
    int same_lens = 1;
    double worst = 0, unkeyed_worst = 0;
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 2; c++)
            for (int r = 0; r < HALF; r++) {
                const int s = c * HALF + r, g = c * PAIRS + h * HALF + r;
                same_lens &= len_half[h][s] == len_whole[g];
                if (len_half[h][s] != len_whole[g])
                    continue;
                for (size_t i = 0; i < (size_t)len_whole[g] * H; i++) {
                    worst = fmax(worst, fabs((double)half[h][s][i] - whole[g][i]));
                    if (h == 1)
                        unkeyed_worst = fmax(unkeyed_worst, fabs((double)unkeyed[s][i] - whole[g][i]));
                }
            }
    CHECK(same_lens && worst <= 1e-5, "dropout keyed by the global row: the halves' hidden states differ from the "
          "whole batch's by %.3g", worst);
    CHECK(unkeyed_worst > 1e-2, "the second half keyed from row 0 is within %.3g of the whole batch's hidden states: "
          "the keys do nothing", unkeyed_worst);
    printf("  dropout 0.1 keyed by global row: 2 halves of %d rows vs the batch of %d: max |diff| %.3g (%.3g keyed "
           "from row 0)\n", HALF, PAIRS, worst, unkeyed_worst);
    for (int i = 0; i < 2 * PAIRS; i++)
        free(whole[i]);
    for (int i = 0; i < PAIRS; i++)
        free(half[0][i]), free(half[1][i]), free(unkeyed[i]);
    sm_free(&m);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_trainer PAIRS_FIXTURE TINY_BERT_DIR\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static char line[1 << 16];
    char *texts[2 * PAIRS];
    size_t lens[2 * PAIRS];
    int n = 0;
    while (n < 2 * PAIRS && fgets(line, sizeof line, f))
        if (!strncmp(line, "text ", 5)) {
            line[strcspn(line, "\n")] = 0;
            texts[n] = strdup(line + 5);
            lens[n] = strlen(texts[n]);
            n++;
        }
    fclose(f);
    CHECK(n == 2 * PAIRS, "read %d texts", n);
    printf("training the tiny BERT (mean pooling + Dense tanh) on %d SICK pairs:\n", PAIRS);
    /* SICK repeats sentences across pairs (identical anchors with different positives, one
     * positive shared by three anchors), so in-batch MNRL cannot approach 0 here */
    LossConfig mnrl = {LOSS_MNRL, TRIPLET_EUCLIDEAN, 0, 20.0, 0};
    fit("MNRL", argv[2], &mnrl, (const char *const *)texts, lens, NULL, 40, 0.7);
    /* target similarities: the true pair is similar (1) for even rows, unrelated (0) for odd ones */
    double labels[PAIRS];
    for (int r = 0; r < PAIRS; r++)
        labels[r] = r % 2 ? 0.0 : 1.0;
    LossConfig cosine = {LOSS_COSINE_SIMILARITY, TRIPLET_EUCLIDEAN, 0, 0, 0};
    fit("CosineSimilarity", argv[2], &cosine, (const char *const *)texts, lens, labels, 40, 0.5);
    check_accumulation(argv[2], (const char *const *)texts, lens, labels);
    check_dropout(argv[2], (const char *const *)texts, lens);
    check_dropout_keys(argv[2], (const char *const *)texts, lens);
    LossConfig softmax = {LOSS_SOFTMAX, TRIPLET_EUCLIDEAN, 0, 0, 2};
    fit("Softmax (2 labels)", argv[2], &softmax, (const char *const *)texts, lens, labels, 40, 0.5);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    return check_summary("test_trainer");
}
