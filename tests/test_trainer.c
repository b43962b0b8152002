/* Training steps end to end on the CPU: the tiny random BERT of tests/fixtures/encoder
 * (mean pooling + Dense(tanh)) fitted with MultipleNegativesRankingLoss and with
 * CosineSimilarityLoss and SoftmaxLoss on 8 real sentence pairs; the loss must fall well
 * below where it started (the step's gradients themselves are checked against torch in test_train_grad).
 * usage: test_trainer PAIRS_FIXTURE TINY_BERT_DIR */
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "trainer/trainer.h"

enum { PAIRS = 8 };

static void fit(const char *name, const char *model_dir, const LossConfig *loss, const char *const *texts,
                const size_t *lens, const double *labels, int steps, double want_ratio)
{
    SentenceModel m;
    Trainer t;
    SeError err;
    if (sm_load(&m, model_dir, ops_cpu(), 2 * PAIRS, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    TrainConfig cfg = {{2e-3, 0.9, 0.999, 1e-8, 0.01}, SCHED_WARMUP_CONSTANT, 3, steps, 1.0, 1};
    if (trainer_init(&t, &m, loss, &cfg, 2, PAIRS, &err)) {
        CHECK(0, "%s", err.msg);
        sm_free(&m);
        return;
    }
    double first = 0, last = 0;
    for (int s = 0; s < steps; s++) {
        last = trainer_step(&t, texts, lens, PAIRS, labels);
        if (s == 0)
            first = last;
    }
    printf("  %-18s loss %.4f -> %.4f after %d steps (grad norm %.3g, lr %.2g)\n", name, first, last, steps,
           t.last_grad_norm, t.last_lr);
    CHECK(last < want_ratio * first, "%s: loss went from %.4f to %.4f", name, first, last);
    trainer_free(&t);
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
    LossConfig softmax = {LOSS_SOFTMAX, TRIPLET_EUCLIDEAN, 0, 0, 2};
    fit("Softmax (2 labels)", argv[2], &softmax, (const char *const *)texts, lens, labels, 40, 0.5);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    return check_summary("test_trainer");
}
