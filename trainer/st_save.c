#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "host/atomic_file.h"
#include "host/fileio.h"
#include "host/safetensors.h"
#include "trainer/manifest.h"
#include "trainer/model_publish.h"
#include "trainer/output_dir.h"
#include "trainer/st_save.h"

/* ---- small file-system helpers ---- */

static int make_dir(const char *dir, const char *name, char *out, SeError *err)
{
    if (path_join(out, ST_PATH_MAX, dir, name, err))
        return -1;
    if (mkdir(out, 0755) != 0)
        return se_fail(err, "%s: cannot create directory: %s", out, strerror(errno));
    return 0;
}

static int write_bytes(const char *path, const char *data, size_t len, SeError *err)
{
    AtomicFile a;
    if (atomic_open(&a, path, err))
        return -1;
    int failed = len && fwrite(data, 1, len, a.f) != len;
    return atomic_commit(&a, failed, err);
}

/* Writes the JSON (pretty-printed, newline at the end) and deletes it. */
static int write_json(const char *dir, const char *name, cJSON *root, SeError *err)
{
    char path[ST_PATH_MAX];
    int rc = path_join(path, sizeof path, dir, name, err);
    if (rc == 0) {
        char *text = cJSON_Print(root);
        if (!text)
            se_die("out of memory while formatting %s", path);
        size_t len = strlen(text);
        text = se_xrealloc(text, len + 2);
        text[len++] = '\n';
        text[len] = 0;
        rc = write_bytes(path, text, len, err);
        cJSON_free(text);
    }
    cJSON_Delete(root);
    return rc;
}

/* The shortest of %.6g .. %.9g that reads back as the same float (1e-12f -> "1e-12"). */
static void format_float(char *buf, size_t cap, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

static void add_float(cJSON *obj, const char *key, float v)
{
    char buf[48];
    format_float(buf, sizeof buf, v);
    cJSON_AddRawToObject(obj, key, buf);
}

/* ---- the files ---- */

static int write_config(const SentenceModel *m, const char *dir, SeError *err)
{
    const BertConfig *c = &m->enc.cfg;
    cJSON *root = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("BertModel"));
    cJSON_AddStringToObject(root, "model_type", "bert");
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->num_layers);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->num_heads);
    cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate_size);
    cJSON_AddStringToObject(root, "hidden_act", "gelu");
    add_float(root, "hidden_dropout_prob", c->hidden_dropout_prob);
    add_float(root, "attention_probs_dropout_prob", c->attention_probs_dropout_prob);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(root, "type_vocab_size", c->type_vocab_size);
    add_float(root, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddRawToObject(root, "initializer_range", "0.02");
    cJSON_AddNumberToObject(root, "pad_token_id", 0);
    cJSON_AddStringToObject(root, "position_embedding_type", "absolute");
    return write_json(dir, "config.json", root, err);
}

/* model.safetensors with BertModel names; Q, K and V are rows [0,H), [H,2H), [2H,3H) of
 * the fused matrix and bias, so each is a contiguous slice of the host copy. */
static int write_encoder_weights(const SentenceModel *m, const char *dir, SeError *err)
{
    const Encoder *e = &m->enc;
    const BertConfig *c = &e->cfg;
    int64_t H = c->hidden_size, I = c->intermediate_size;
    float *host = se_xmalloc(e->n_params * sizeof *host);
    m->ops->synchronize();
    m->ops->copy_to_host(host, e->params, e->n_params * sizeof(float));
#define HOST(p) (host + ((p) - e->params))
    int n_max = 7 + 16 * c->num_layers, n = 0;
    StWriteTensor *t = se_xcalloc((size_t)n_max, sizeof *t);
    char(*names)[96] = se_xcalloc((size_t)n_max, sizeof *names);
#define ADD(nm, ptr, rows, cols)                                                \
    do {                                                                        \
        snprintf(names[n], sizeof names[n], "%s", nm);                          \
        t[n].name = names[n];                                                   \
        t[n].data = (ptr);                                                      \
        t[n].ndim = (cols) ? 2 : 1;                                             \
        t[n].shape[0] = (rows);                                                 \
        t[n].shape[1] = (cols);                                                 \
        n++;                                                                    \
    } while (0)
    ADD("embeddings.word_embeddings.weight", HOST(e->word), c->vocab_size, H);
    ADD("embeddings.position_embeddings.weight", HOST(e->pos), c->max_position_embeddings, H);
    ADD("embeddings.token_type_embeddings.weight", HOST(e->type), c->type_vocab_size, H);
    ADD("embeddings.LayerNorm.weight", HOST(e->emb_ln_g), H, 0);
    ADD("embeddings.LayerNorm.bias", HOST(e->emb_ln_b), H, 0);
    for (int l = 0; l < c->num_layers; l++) {
        const EncoderLayer *L = &e->layers[l];
        char p[96];
#define LADD(suffix, ptr, rows, cols)                                           \
    do {                                                                        \
        snprintf(p, sizeof p, "encoder.layer.%d.%s", l, suffix);                \
        ADD(p, ptr, rows, cols);                                                \
    } while (0)
        LADD("attention.self.query.weight", HOST(L->qkv_w), H, H);
        LADD("attention.self.query.bias", HOST(L->qkv_b), H, 0);
        LADD("attention.self.key.weight", HOST(L->qkv_w) + H * H, H, H);
        LADD("attention.self.key.bias", HOST(L->qkv_b) + H, H, 0);
        LADD("attention.self.value.weight", HOST(L->qkv_w) + 2 * H * H, H, H);
        LADD("attention.self.value.bias", HOST(L->qkv_b) + 2 * H, H, 0);
        LADD("attention.output.dense.weight", HOST(L->o_w), H, H);
        LADD("attention.output.dense.bias", HOST(L->o_b), H, 0);
        LADD("attention.output.LayerNorm.weight", HOST(L->ln1_g), H, 0);
        LADD("attention.output.LayerNorm.bias", HOST(L->ln1_b), H, 0);
        LADD("intermediate.dense.weight", HOST(L->ff1_w), I, H);
        LADD("intermediate.dense.bias", HOST(L->ff1_b), I, 0);
        LADD("output.dense.weight", HOST(L->ff2_w), H, I);
        LADD("output.dense.bias", HOST(L->ff2_b), H, 0);
        LADD("output.LayerNorm.weight", HOST(L->ln2_g), H, 0);
        LADD("output.LayerNorm.bias", HOST(L->ln2_b), H, 0);
#undef LADD
    }
    /* BertModel's pooler is not part of the engine (sentence-transformers never uses it),
     * but transformers expects it: it is carried over from the source weights (read at
     * load time, m->pooler), so AutoModel loads the saved model without re-initializing
     * anything. */
    if (m->pooler) {
        ADD("pooler.dense.weight", m->pooler, H, H);
        ADD("pooler.dense.bias", m->pooler + H * H, H, 0);
    }
#undef ADD
#undef HOST
    char path[ST_PATH_MAX];
    static const char *const META[] = {"format", "pt", NULL};
    int rc = path_join(path, sizeof path, dir, "model.safetensors", err);
    if (rc == 0)
        rc = st_write(path, t, n, META, err);
    free(names);
    free(t);
    free(host);
    return rc;
}

static int write_dense(const SentenceModel *m, const char *dense_dir, SeError *err)
{
    const StPipeline *p = &m->pipe;
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddNumberToObject(cfg, "in_features", p->dense_in);
    cJSON_AddNumberToObject(cfg, "out_features", p->dense_out);
    cJSON_AddBoolToObject(cfg, "bias", p->dense_bias);
    cJSON_AddStringToObject(cfg, "activation_function", p->dense_act == DENSE_TANH
                                                            ? "torch.nn.modules.activation.Tanh"
                                                            : "torch.nn.modules.linear.Identity");
    if (write_json(dense_dir, "config.json", cfg, err))
        return -1;
    size_t nw = (size_t)p->dense_out * (size_t)p->dense_in;
    float *w = se_xmalloc(nw * sizeof *w), *b = se_xmalloc((size_t)p->dense_out * sizeof *b);
    m->ops->synchronize();
    m->ops->copy_to_host(w, m->dense_w, nw * sizeof(float));
    m->ops->copy_to_host(b, m->dense_b, (size_t)p->dense_out * sizeof(float));
    StWriteTensor t[2] = {
        {.name = "linear.weight", .data = w, .ndim = 2, .shape = {p->dense_out, p->dense_in}},
        {.name = "linear.bias", .data = b, .ndim = 1, .shape = {p->dense_out}},
    };
    char path[ST_PATH_MAX];
    static const char *const META[] = {"format", "pt", NULL};
    int rc = path_join(path, sizeof path, dense_dir, "model.safetensors", err);
    if (rc == 0)
        rc = st_write(path, t, p->dense_bias ? 2 : 1, META, err);
    free(w);
    free(b);
    return rc;
}

static void add_module(cJSON *arr, int idx, const char *path, const char *type)
{
    char name[16];
    snprintf(name, sizeof name, "%d", idx);
    cJSON *mod = cJSON_CreateObject();
    cJSON_AddNumberToObject(mod, "idx", idx);
    cJSON_AddStringToObject(mod, "name", name);
    cJSON_AddStringToObject(mod, "path", path);
    cJSON_AddStringToObject(mod, "type", type);
    cJSON_AddItemToArray(arr, mod);
}

static int write_all(const SentenceModel *m, const char *dir, SeError *err)
{
    const StPipeline *p = &m->pipe;
    char sub[ST_PATH_MAX];
    if (write_config(m, dir, err) || write_encoder_weights(m, dir, err))
        return -1;
    /* the tokenizer files, byte for byte as they were read at load time */
    for (int k = 0; k < SM_TOKENIZER_FILES; k++) {
        char path[ST_PATH_MAX];
        if (m->tok_files[k].data &&
            (path_join(path, sizeof path, dir, SM_TOKENIZER_FILE_NAMES[k], err) ||
             write_bytes(path, m->tok_files[k].data, m->tok_files[k].len, err)))
            return -1;
    }

    cJSON *sb = cJSON_CreateObject();
    cJSON_AddNumberToObject(sb, "max_seq_length", m->max_seq_length);
    cJSON_AddBoolToObject(sb, "do_lower_case", p->do_lower_case);
    if (write_json(dir, "sentence_bert_config.json", sb, err))
        return -1;

    /* sentence-transformers 2.x-6.x all read this; later versions only warn when the
     * recorded version is newer than themselves, so record an old one. */
    cJSON *cst = cJSON_CreateObject(), *ver = cJSON_AddObjectToObject(cst, "__version__");
    cJSON_AddStringToObject(ver, "sentence_transformers", "2.2.2");
    cJSON_AddStringToObject(ver, "transformers", "4.30.0");
    cJSON_AddStringToObject(ver, "pytorch", "2.0.0");
    cJSON_AddStringToObject(cst, "model_type", "SentenceTransformer");
    cJSON_AddObjectToObject(cst, "prompts");
    cJSON_AddNullToObject(cst, "default_prompt_name");
    cJSON_AddStringToObject(cst, "similarity_fn_name", "cosine");
    if (write_json(dir, "config_sentence_transformers.json", cst, err))
        return -1;

    cJSON *mods = cJSON_CreateArray();
    int idx = 0;
    add_module(mods, idx++, "", "sentence_transformers.models.Transformer");
    add_module(mods, idx++, "1_Pooling", "sentence_transformers.models.Pooling");
    if (p->has_dense)
        add_module(mods, idx++, "2_Dense", "sentence_transformers.models.Dense");
    char norm_name[32];
    snprintf(norm_name, sizeof norm_name, "%d_Normalize", idx);
    if (p->normalize)
        add_module(mods, idx++, norm_name, "sentence_transformers.models.Normalize");
    if (write_json(dir, "modules.json", mods, err))
        return -1;

    /* The classic four booleans, as sentence-transformers 2.x writes them; exactly one is on. */
    cJSON *pool = cJSON_CreateObject();
    cJSON_AddNumberToObject(pool, "word_embedding_dimension", m->enc.cfg.hidden_size);
    cJSON_AddBoolToObject(pool, "pooling_mode_cls_token", p->pooling == POOL_CLS);
    cJSON_AddBoolToObject(pool, "pooling_mode_mean_tokens", p->pooling == POOL_MEAN);
    cJSON_AddBoolToObject(pool, "pooling_mode_max_tokens", p->pooling == POOL_MAX);
    cJSON_AddBoolToObject(pool, "pooling_mode_mean_sqrt_len_tokens", p->pooling == POOL_MEAN_SQRT_LEN);
    if (make_dir(dir, "1_Pooling", sub, err) || write_json(sub, "config.json", pool, err))
        return -1;
    fsync_dir(sub);

    if (p->has_dense) {
        if (make_dir(dir, "2_Dense", sub, err) || write_dense(m, sub, err))
            return -1;
        fsync_dir(sub);
    }
    if (p->normalize) {
        if (make_dir(dir, norm_name, sub, err))
            return -1;
        fsync_dir(sub);
    }
    fsync_dir(dir);
    return 0;
}

int st_save_into(const SentenceModel *m, const char *dir, SeError *err) { return write_all(m, dir, err); }

int st_save(const SentenceModel *m, const char *out_dir, const ModelSaveInfo *info, SeError *err)
{
    char out[ST_PATH_MAX], tmp[ST_PATH_MAX + 64], parent[ST_PATH_MAX], why[1024], path[ST_PATH_MAX + 128];
    size_t len = strlen(out_dir);
    while (len > 1 && out_dir[len - 1] == '/')
        len--;
    if (len == 0)
        return se_fail(err, "st_save: empty output directory name");
    if (len + 32 >= sizeof out)
        return se_fail(err, "%s: output path too long", out_dir);
    memcpy(out, out_dir, len);
    out[len] = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else
        slash[slash == parent ? 1 : 0] = 0;
    /* refused before anything is written */
    OutputState state = output_dir_state(out, why, sizeof why);
    if (state == OUTPUT_NOT_DIR)
        return se_fail(err, "%s: exists and is not a directory; refusing to replace it with a model directory", out);
    if (state == OUTPUT_FOREIGN)
        return se_fail(err, "%s: refusing to replace it: %s", out, why);
    if (!dir_exists(parent))
        return se_fail(err, "%s: cannot create the model directory: the parent directory %s does not exist", out,
                       parent);
    if (remove_tree(tmp) != 0)
        return se_fail(err, "%s: cannot remove a stale temporary directory: %s", tmp, strerror(errno));
    if (model_publish_begin(tmp, err))
        return -1;
    int rc = write_all(m, tmp, err);
    if (!rc && info && info->metrics_path && file_exists(info->metrics_path))
        rc = path_join(path, sizeof path, tmp, "metrics.jsonl", err) || file_copy(info->metrics_path, path, err);
    if (!rc)
        rc = manifest_write(tmp, MANIFEST_MODEL, info ? info->step : 0, info ? info->recipe_hash : 0, err);
    if (!rc)
        rc = model_publish(tmp, out, err);
    if (rc)
        remove_tree(tmp);
    return rc;
}
