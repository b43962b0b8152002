/* A whole training step's gradients against torch float64 autograd through
 * sentence-transformers (tests/fixtures/train/mnrl_tiny_mean.txt, made by
 * scripts/gen_train_golden.py): the tiny random BERT with mean pooling and
 * MultipleNegativesRankingLoss on 8 sentence pairs. Forward with the training graph,
 * pooling, the loss, then pooling and encoder backward; every parameter's gradient norm
 * and sampled entries are compared.
 * usage: test_train_grad FIXTURE TINY_BERT_DIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "tests/bert_tensors.h"
#include "tests/check.h"
#include "tokenizer/tokenizer.h"
#include "trainer/encoder_train.h"
#include "trainer/loss.h"

enum { PAIRS = 8, N = 2 * PAIRS };

/* The gradient array of a BertModel parameter name, and its length. */
static float *grad_of(const EncoderTrainer *tr, const char *name, size_t *n) { return bert_tensor(&tr->gview, name, n); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_train_grad FIXTURE TINY_BERT_DIR\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static char line[1 << 16];
    char *texts[N];
    size_t lens[N];
    int nt = 0;
    double want_loss = 0;
    long grads_at = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "text ", 5) && nt < N) {
            line[strcspn(line, "\n")] = 0;
            texts[nt] = strdup(line + 5);
            lens[nt] = strlen(texts[nt]);
            nt++;
        } else if (!strncmp(line, "loss ", 5)) {
            want_loss = atof(line + 5);
            grads_at = ftell(f);
            break;
        }
    }
    Tokenizer tok;
    Encoder enc;
    SeError err;
    if (tok_load_dir(&tok, argv[2], &err) || encoder_load(&enc, ops_cpu(), argv[2], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* as sentence-transformers tokenizes: truncation at the model's max_seq_length */
    size_t max_len = tok.model_max_length > 0 && tok.model_max_length < 512 ? (size_t)tok.model_max_length : 128;
    TokBatch tb = {0};
    tok_encode_batch(&tok, &tb, (const char *const *)texts, lens, NULL, NULL, N, max_len, 1);
    int T = (int)tb.offsets[N];
    int32_t *positions = malloc((size_t)T * 4), *types = calloc((size_t)T, 4), cu[N + 1];
    int max_seqlen = 0;
    for (int s = 0; s < N; s++) {
        cu[s] = (int)tb.offsets[s];
        int len = (int)(tb.offsets[s + 1] - tb.offsets[s]);
        max_seqlen = len > max_seqlen ? len : max_seqlen;
        for (int t = 0; t < len; t++)
            positions[cu[s] + t] = t;
    }
    cu[N] = T;
    PackedBatch b = {N, T, max_seqlen, tb.ids, positions, types, cu, NULL};

    EncoderTrainer tr;
    CHECK(encoder_train_init(&tr, &enc, T, N, &err) == 0, "%s", err.msg);
    encoder_train_forward(&tr, &b);
    const int H = enc.cfg.hidden_size;
    float *pooled = malloc((size_t)N * H * sizeof *pooled), *dpooled = malloc((size_t)N * H * sizeof *dpooled);
    pool_forward_cpu(pooled, tr.out, cu, N, H, POOL_MEAN);
    double *emb = malloc((size_t)N * H * sizeof *emb), *demb = malloc((size_t)N * H * sizeof *demb);
    for (int i = 0; i < N * H; i++)
        emb[i] = pooled[i];
    double loss = loss_mnrl(emb, emb + PAIRS * H, PAIRS, 0, H, 20.0, demb, demb + PAIRS * H);
    CHECK(fabs(loss - want_loss) <= 1e-4 * want_loss, "loss %.8f, sentence-transformers %.8f", loss, want_loss);
    for (int i = 0; i < N * H; i++)
        dpooled[i] = (float)demb[i];
    float *dout = malloc((size_t)T * H * sizeof *dout);
    pool_backward_cpu(dout, dpooled, tr.out, cu, N, H, POOL_MEAN);
    encoder_train_backward(&tr, &b, dout);

    /* fp32 forward and backward vs float64: 2e-3 of the tensor's scale (measured worst:
     * printed below) */
    fseek(f, grads_at, SEEK_SET);
    int tensors = 0, bad_tensors = 0;
    double worst_rel = 0;
    while (fgets(line, sizeof line, f)) {
        char name[128];
        size_t numel, n = 0;
        double norm;
        int off = 0;
        if (sscanf(line, "grad %127s %zu %lf%n", name, &numel, &norm, &off) != 3)
            continue;
        float *g = grad_of(&tr, name, &n);
        CHECK(g && n == numel, "%s: no such gradient (or size %zu, expected %zu)", name, n, numel);
        if (!g || n != numel)
            continue;
        double ss = 0, scale = 0, worst = 0;
        for (size_t i = 0; i < n; i++)
            ss += (double)g[i] * g[i];
        char *p = line + off;
        long idx;
        double v;
        int used;
        while (sscanf(p, " %ld:%lf%n", &idx, &v, &used) == 2) {
            scale = fmax(scale, fabs(v));
            worst = fmax(worst, fabs(g[idx] - v));
            p += used;
        }
        /* The key bias's gradient is zero in exact arithmetic (softmax ignores a constant
         * added to a row): the absolute floor 1e-8 covers fp32 rounding there. */
        double rel_norm = fabs(sqrt(ss) - norm) / fmax(norm, 1e-30);
        int ok = fabs(sqrt(ss) - norm) <= 2e-3 * norm + 1e-8 && worst <= 2e-3 * scale + 1e-8;
        if (norm > 1e-8)
            worst_rel = fmax(worst_rel, rel_norm);
        CHECK(ok, "%s: gradient norm %.6g vs %.6g (rel %.2g), sampled entries off by %.3g (scale %.3g)", name,
              sqrt(ss), norm, rel_norm, worst, scale);
        tensors++;
        bad_tensors += !ok;
    }
    fclose(f);
    printf("MNRL step on %d pairs: loss %.8f (sentence-transformers %.8f); %d parameter gradients, worst norm "
           "rel. diff %.2g, %d off\n",
           PAIRS, loss, want_loss, tensors, worst_rel, bad_tensors);
    CHECK(tensors == 5 + 16 * enc.cfg.num_layers, "%d gradients compared", tensors);
    encoder_train_free(&tr);
    encoder_free(&enc);
    tok_batch_free(&tb);
    tok_free(&tok);
    for (int i = 0; i < N; i++)
        free(texts[i]);
    free(positions), free(types), free(pooled), free(dpooled), free(emb), free(demb), free(dout);
    return check_summary("test_train_grad");
}
