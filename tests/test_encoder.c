/* trainer/: the BERT encoder on packed batches against an independent padded
 * computation with an attention mask (the way Hugging Face runs BERT), pooling against
 * masked pooling, and the loader's errors on bad model directories.
 * The model is a tiny random BERT written to a temp directory with st_write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/safetensors.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/check.h"
#include "trainer/encoder.h"
#include "trainer/st_pipeline.h"

enum { V = 40, H = 16, HEADS = 4, I = 24, L = 2, P = 32 };

static char dir[] = "/tmp/sentembed_test_encoder_XXXXXX";
static unsigned rng = 12345;

static float frand(void) /* uniform in [-1, 1) */
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

typedef struct {
    char name[128];
    int rows, cols; /* cols 0: vector */
    float *data;
} Param;

static Param params[8 + 16 * L];
static int n_params;

static float *add_param(const char *name, int rows, int cols, float scale, float offset)
{
    Param *p = &params[n_params++];
    snprintf(p->name, sizeof p->name, "bert.%s", name);
    p->rows = rows;
    p->cols = cols;
    size_t n = (size_t)rows * (cols ? cols : 1);
    p->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p->data[i] = offset + scale * frand();
    return p->data;
}

/* The model, kept in these pointers for the padded reference. */
static float *word, *pos, *type, *eg, *eb;
static struct {
    float *q, *qb, *k, *kb, *v, *vb, *o, *ob, *g1, *b1, *f1, *f1b, *f2, *f2b, *g2, *b2;
} lay[L];

static void make_model(void)
{
    word = add_param("embeddings.word_embeddings.weight", V, H, 1, 0);
    pos = add_param("embeddings.position_embeddings.weight", P, H, 0.5f, 0);
    type = add_param("embeddings.token_type_embeddings.weight", 2, H, 0.5f, 0);
    eg = add_param("embeddings.LayerNorm.weight", H, 0, 0.3f, 1);
    eb = add_param("embeddings.LayerNorm.bias", H, 0, 0.3f, 0);
    for (int l = 0; l < L; l++) {
        char n[96];
#define P2(field, suffix, r, c, s, o)                                    \
    snprintf(n, sizeof n, "encoder.layer.%d.%s", l, suffix);            \
    lay[l].field = add_param(n, r, c, s, o)
        P2(q, "attention.self.query.weight", H, H, 0.4f, 0);
        P2(qb, "attention.self.query.bias", H, 0, 0.2f, 0);
        P2(k, "attention.self.key.weight", H, H, 0.4f, 0);
        P2(kb, "attention.self.key.bias", H, 0, 0.2f, 0);
        P2(v, "attention.self.value.weight", H, H, 0.4f, 0);
        P2(vb, "attention.self.value.bias", H, 0, 0.2f, 0);
        P2(o, "attention.output.dense.weight", H, H, 0.4f, 0);
        P2(ob, "attention.output.dense.bias", H, 0, 0.2f, 0);
        P2(g1, "attention.output.LayerNorm.weight", H, 0, 0.3f, 1);
        P2(b1, "attention.output.LayerNorm.bias", H, 0, 0.3f, 0);
        P2(f1, "intermediate.dense.weight", I, H, 0.4f, 0);
        P2(f1b, "intermediate.dense.bias", I, 0, 0.2f, 0);
        P2(f2, "output.dense.weight", H, I, 0.4f, 0);
        P2(f2b, "output.dense.bias", H, 0, 0.2f, 0);
        P2(g2, "output.LayerNorm.weight", H, 0, 0.3f, 1);
        P2(b2, "output.LayerNorm.bias", H, 0, 0.3f, 0);
#undef P2
    }
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *CONFIG_FMT =
    "{\"model_type\": \"bert\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
    "\"num_attention_heads\": %d, \"intermediate_size\": %d, \"max_position_embeddings\": %d, "
    "\"type_vocab_size\": 2, \"hidden_act\": \"%s\", \"layer_norm_eps\": 1e-12}";

static void write_config(const char *act)
{
    char text[1024];
    snprintf(text, sizeof text, CONFIG_FMT, V, H, L, HEADS, I, P, act);
    write_text("config.json", text);
}

/* Writes the weights, leaving out tensor `skip` and giving tensor `bad_shape` a wrong shape. */
static void write_weights(int skip, int bad_shape)
{
    StWriteTensor t[8 + 16 * L];
    int n = 0;
    for (int i = 0; i < n_params; i++) {
        if (i == skip)
            continue;
        Param *p = &params[i];
        t[n] = (StWriteTensor){p->name, p->data, p->cols ? 2 : 1, {p->rows, p->cols}};
        if (i == bad_shape) /* same element count, transposed-looking shape */
            t[n].shape[0] = p->cols ? p->cols : p->rows, t[n].shape[1] = p->rows;
        n++;
    }
    char path[512];
    SeError err;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_write(path, t, n, NULL, &err))
        fprintf(stderr, "st_write: %s\n", err.msg);
}

/* ---- the padded reference: every sequence padded to Lmax, additive mask on keys ---- */

static void ref_linear(float *out, const float *x, const float *w, const float *b, int rows, int n_out, int n_in)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < n_out; o++) {
            double s = b[o];
            for (int k = 0; k < n_in; k++)
                s += (double)x[r * n_in + k] * w[o * n_in + k];
            out[r * n_out + o] = (float)s;
        }
}

static void ref_layernorm(float *x, const float *g, const float *b, int rows)
{
    for (int r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int h = 0; h < H; h++)
            m += x[r * H + h];
        m /= H;
        for (int h = 0; h < H; h++)
            v += (x[r * H + h] - m) * (x[r * H + h] - m);
        v /= H;
        for (int h = 0; h < H; h++)
            x[r * H + h] = (float)((x[r * H + h] - m) / sqrt(v + 1e-12) * g[h] + b[h]);
    }
}

/* BERT on one padded sequence of Lmax tokens of which the first len are real. */
static void ref_forward(const int *ids, int len, int Lmax, float *out /* [Lmax, H] */)
{
    float x[64 * H], q[64 * H], k[64 * H], v[64 * H], ctx[64 * H], t[64 * H], f[64 * I];
    for (int i = 0; i < Lmax; i++)
        for (int h = 0; h < H; h++)
            x[i * H + h] = word[ids[i] * H + h] + pos[i * H + h] + type[h];
    ref_layernorm(x, eg, eb, Lmax);
    const int hd = H / HEADS;
    for (int l = 0; l < L; l++) {
        ref_linear(q, x, lay[l].q, lay[l].qb, Lmax, H, H);
        ref_linear(k, x, lay[l].k, lay[l].kb, Lmax, H, H);
        ref_linear(v, x, lay[l].v, lay[l].vb, Lmax, H, H);
        for (int hh = 0; hh < HEADS; hh++)
            for (int i = 0; i < Lmax; i++) {
                double s[64], mx = -1e300, sum = 0;
                for (int j = 0; j < Lmax; j++) {
                    double dot = 0;
                    for (int d = 0; d < hd; d++)
                        dot += (double)q[i * H + hh * hd + d] * k[j * H + hh * hd + d];
                    s[j] = dot / sqrt((double)hd) + (j < len ? 0.0 : -3.4e38); /* the attention mask */
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < Lmax; j++)
                    sum += s[j] = exp(s[j] - mx);
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j < Lmax; j++)
                        o += s[j] / sum * v[j * H + hh * hd + d];
                    ctx[i * H + hh * hd + d] = (float)o;
                }
            }
        ref_linear(t, ctx, lay[l].o, lay[l].ob, Lmax, H, H);
        for (int i = 0; i < Lmax * H; i++)
            x[i] += t[i];
        ref_layernorm(x, lay[l].g1, lay[l].b1, Lmax);
        ref_linear(f, x, lay[l].f1, lay[l].f1b, Lmax, I, H);
        for (int i = 0; i < Lmax * I; i++)
            f[i] = (float)(0.5 * f[i] * (1 + erf(f[i] / sqrt(2.0))));
        ref_linear(t, f, lay[l].f2, lay[l].f2b, Lmax, H, I);
        for (int i = 0; i < Lmax * H; i++)
            x[i] += t[i];
        ref_layernorm(x, lay[l].g2, lay[l].b2, Lmax);
    }
    memcpy(out, x, (size_t)Lmax * H * sizeof(float));
}

static void test_packed_equals_padded(void)
{
    Encoder e;
    SeError err;
    CHECK(encoder_load(&e, ops_cpu(), dir, &err) == 0, "%s", err.msg);
    if (!e.layers)
        return;
    enum { N = 5 };
    int lens[N] = {1, 6, 17, 3, 30}, Lmax = 30, T = 0;
    int cu[N + 1];
    for (int s = 0; s < N; s++)
        cu[s] = T, T += lens[s];
    cu[N] = T;
    int32_t ids[64], positions[64], types[64];
    int padded_ids[N][64];
    for (int s = 0; s < N; s++)
        for (int i = 0; i < Lmax; i++) {
            padded_ids[s][i] = (int)((unsigned)(frand() + 1.0f) * 1000u % V);
            if (i < lens[s]) {
                ids[cu[s] + i] = padded_ids[s][i];
                positions[cu[s] + i] = i;
                types[cu[s] + i] = 0;
            }
        }
    PackedBatch b = {N, T, Lmax, ids, positions, types, cu, NULL};
    encoder_reserve(&e, T, N);
    encoder_forward(&e, &b);
    const float *packed = e.x;
    double worst = 0, worst_pool = 0;
    float ref[64 * H], pooled[N * H];
    for (PoolMode mode = POOL_MEAN; mode <= POOL_MEAN_SQRT_LEN; mode++) {
        pool_forward_cpu(pooled, packed, cu, N, H, mode);
        for (int s = 0; s < N; s++) {
            ref_forward(padded_ids[s], lens[s], Lmax, ref);
            for (int i = 0; i < lens[s] && mode == POOL_MEAN; i++)
                for (int h = 0; h < H; h++) {
                    double d = fabs(ref[i * H + h] - packed[(size_t)(cu[s] + i) * H + h]);
                    worst = d > worst ? d : worst;
                }
            for (int h = 0; h < H; h++) { /* masked pooling over the padded rows */
                double acc = mode == POOL_MAX ? -1e30 : 0;
                for (int i = 0; i < lens[s]; i++)
                    acc = mode == POOL_MAX ? fmax(acc, ref[i * H + h]) : acc + ref[i * H + h];
                double want = mode == POOL_CLS    ? ref[h]
                              : mode == POOL_MAX  ? acc
                              : mode == POOL_MEAN ? acc / lens[s]
                                                  : acc / sqrt((double)lens[s]);
                double d = fabs(want - pooled[s * H + h]);
                worst_pool = d > worst_pool ? d : worst_pool;
            }
        }
    }
    /* fp32 packed vs double padded: activations are O(1) after LayerNorm */
    CHECK(worst < 1e-4, "packed hidden states differ from the padded computation by %g", worst);
    CHECK(worst_pool < 1e-4, "pooling differs from masked pooling by %g", worst_pool);
    printf("packed vs padded: max |diff| hidden %.3g, pooled %.3g\n", worst, worst_pool);
    encoder_free(&e);
}

static void expect_load_error(const char *what, const char *phrase)
{
    Encoder e;
    SeError err = {{0}};
    int rc = encoder_load(&e, ops_cpu(), dir, &err);
    CHECK(rc == -1 && strstr(err.msg, phrase), "%s: rc %d, message \"%s\"", what, rc, err.msg);
    if (rc == 0)
        encoder_free(&e);
}

static void test_load_errors(void)
{
    char path[512];
    write_config("relu");
    expect_load_error("hidden_act", "\"hidden_act\": \"relu\" is not supported");
    write_config("gelu");
    write_weights(7, -1);
    expect_load_error("missing tensor", "missing tensor \"bert.encoder.layer.0.attention.self.key.weight\"");
    write_weights(-1, 15);
    expect_load_error("wrong shape", "tensor \"bert.encoder.layer.0.intermediate.dense.weight\" has shape [16, 24]");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    truncate(path, 100);
    expect_load_error("truncated file", "model.safetensors");
    unlink(path);
    write_text("pytorch_model.bin", "PK\x03\x04 pickle");
    expect_load_error("pickle", "is a pickle");
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    unlink(path);
    expect_load_error("no weights", "not found");
    write_weights(-1, -1);
}

static void test_pipeline(void)
{
    StPipeline p;
    SeError err;
    write_text("modules.json", "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": "
                               "\"sentence_transformers.models.Transformer\"}, {\"idx\": 1, \"name\": \"1\", "
                               "\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/1_Pooling", dir);
    mkdir(sub, 0755);
    write_text("1_Pooling/config.json", "{\"word_embedding_dimension\": 16, \"pooling_mode_cls_token\": true}");
    CHECK(st_pipeline_load(&p, dir, &err) == 0 && p.pooling == POOL_CLS && !p.has_dense, "%s", err.msg);
    write_text("1_Pooling/config.json", "{\"pooling_mode_weightedmean_tokens\": true}");
    CHECK(st_pipeline_load(&p, dir, &err) == -1 && strstr(err.msg, "not supported"), "%s", err.msg);
    write_text("modules.json", "[{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}]");
    CHECK(st_pipeline_load(&p, dir, &err) == -1 && strstr(err.msg, "out of order"), "%s", err.msg);
    write_text("modules.json", "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                               "{\"path\": \"x\", \"type\": \"sentence_transformers.models.LSTM\"}]");
    CHECK(st_pipeline_load(&p, dir, &err) == -1 && strstr(err.msg, "LSTM"), "%s", err.msg);
    char path[700];
    snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
    unlink(path);
    rmdir(sub);
    snprintf(path, sizeof path, "%s/modules.json", dir);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_model();
    write_config("gelu");
    write_weights(-1, -1);
    test_packed_equals_padded();
    test_load_errors();
    test_pipeline();
    const char *files[] = {"config.json", "model.safetensors"};
    for (int k = 0; k < 2; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        unlink(path);
    }
    rmdir(dir);
    for (int i = 0; i < n_params; i++)
        free(params[i].data);
    return check_summary("test_encoder");
}
