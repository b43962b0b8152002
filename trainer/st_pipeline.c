#include <stdio.h>
#include <string.h>

#include "host/fileio.h"
#include "host/json_util.h"
#include "trainer/bert_config.h"
#include "trainer/st_pipeline.h"

const char *pool_mode_name(PoolMode m)
{
    switch (m) {
    case POOL_MEAN: return "mean";
    case POOL_CLS: return "cls";
    case POOL_MAX: return "max";
    case POOL_MEAN_SQRT_LEN: return "mean_sqrt_len";
    }
    return "?";
}

/* The class name after the last '.', e.g. "Pooling" for sentence_transformers.models.Pooling. */
static const char *short_type(const char *type)
{
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

static int module_dir(char *out, const char *dir, const char *sub, SeError *err)
{
    if (!sub[0]) {
        snprintf(out, ST_PATH_MAX, "%s", dir);
        return 0;
    }
    return path_join(out, ST_PATH_MAX, dir, sub, err);
}

static int load_pooling(StPipeline *p, const char *mdir, SeError *err)
{
    char path[ST_PATH_MAX];
    if (path_join(path, sizeof path, mdir, "config.json", err))
        return -1;
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1;
    long long dim = 0;
    const char *mode_str = NULL;
    if (json_opt_int(root, "word_embedding_dimension", &dim, path, err) < 0 ||
        json_opt_string(root, "pooling_mode", &mode_str, path, err) < 0)
        goto done;
    p->pooling_dim = (int)dim;
    static const struct {
        const char *key, *name;
        int mode; /* -1: not supported */
    } MODES[] = {
        {"pooling_mode_mean_tokens", "mean", POOL_MEAN},
        {"pooling_mode_cls_token", "cls", POOL_CLS},
        {"pooling_mode_max_tokens", "max", POOL_MAX},
        {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens", POOL_MEAN_SQRT_LEN},
        {"pooling_mode_weightedmean_tokens", "weightedmean", -1},
        {"pooling_mode_lasttoken", "lasttoken", -1},
    };
    int chosen = -2, count = 0;
    const char *chosen_key = NULL;
    for (size_t k = 0; k < sizeof MODES / sizeof *MODES; k++) {
        bool on = false;
        if (json_opt_bool(root, MODES[k].key, &on, path, err) < 0)
            goto done;
        if (mode_str && !strcmp(mode_str, MODES[k].name))
            on = true;
        if (on) {
            count++;
            chosen = MODES[k].mode;
            chosen_key = MODES[k].key;
        }
    }
    if (count == 0) {
        se_fail(err, "%s: no pooling mode is set (expected one of pooling_mode_mean_tokens, "
                "pooling_mode_cls_token, pooling_mode_max_tokens, pooling_mode_mean_sqrt_len_tokens)", path);
        goto done;
    }
    if (count > 1) {
        se_fail(err, "%s: several pooling modes are set; concatenated poolings are not supported", path);
        goto done;
    }
    if (chosen < 0) {
        se_fail(err, "%s: key \"%s\": this pooling mode is not supported yet", path, chosen_key);
        goto done;
    }
    p->pooling = (PoolMode)chosen;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

static int load_dense(StPipeline *p, const char *mdir, SeError *err)
{
    char path[ST_PATH_MAX];
    if (path_join(path, sizeof path, mdir, "config.json", err))
        return -1;
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1;
    long long in = 0, out = 0;
    bool bias = true;
    const char *act = "torch.nn.modules.activation.Tanh";
    if (json_opt_int(root, "in_features", &in, path, err) != 1 || json_opt_int(root, "out_features", &out, path, err) != 1 ||
        in <= 0 || out <= 0) {
        se_fail(err, "%s: keys \"in_features\" and \"out_features\": expected positive integers", path);
        goto done;
    }
    if (in > DENSE_MAX_FEATURES || out > DENSE_MAX_FEATURES) {
        se_fail(err, "%s: key \"%s\": %lld is more than sentembed supports (at most %d)", path,
                in > DENSE_MAX_FEATURES ? "in_features" : "out_features", in > DENSE_MAX_FEATURES ? in : out,
                DENSE_MAX_FEATURES);
        goto done;
    }
    if (json_opt_bool(root, "bias", &bias, path, err) < 0 ||
        json_opt_string(root, "activation_function", &act, path, err) < 0)
        goto done;
    if (!strcmp(short_type(act), "Tanh")) {
        p->dense_act = DENSE_TANH;
    } else if (!strcmp(short_type(act), "Identity")) {
        p->dense_act = DENSE_IDENTITY;
    } else {
        se_fail(err, "%s: key \"activation_function\": \"%s\" is not supported (expected Tanh or Identity)", path, act);
        goto done;
    }
    p->has_dense = true;
    p->dense_in = (int)in;
    p->dense_out = (int)out;
    p->dense_bias = bias;
    snprintf(p->dense_dir, sizeof p->dense_dir, "%s", mdir);
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* sentence_bert_config.json in the Transformer module directory. */
static int load_sbert_config(StPipeline *p, SeError *err)
{
    char path[ST_PATH_MAX];
    if (path_join(path, sizeof path, p->transformer_dir, "sentence_bert_config.json", err))
        return -1;
    if (!file_exists(path))
        return 0;
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    long long len = 0;
    int rc = 0;
    int has_len = json_opt_int(root, "max_seq_length", &len, path, err);
    if (has_len < 0 ||
        json_opt_bool(root, "do_lower_case", &p->do_lower_case, path, err) < 0)
        rc = -1;
    else if (has_len && len <= 0)
        rc = se_fail(err, "%s: key \"max_seq_length\": expected a positive integer, got %lld", path, len);
    else if (len > BERT_MAX_POSITIONS)
        rc = se_fail(err, "%s: key \"max_seq_length\": %lld is more than sentembed supports (at most %d)", path,
                     len, BERT_MAX_POSITIONS);
    else
        p->max_seq_length = (int)len;
    cJSON_Delete(root);
    return rc;
}

int st_pipeline_load(StPipeline *p, const char *dir, SeError *err)
{
    memset(p, 0, sizeof *p);
    p->pooling = POOL_MEAN;
    if (!dir_exists(dir))
        return se_fail(err, "%s: not a directory (expected a sentence-transformers or Hugging Face model directory)",
                       dir);
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    char path[ST_PATH_MAX];
    if (path_join(path, sizeof path, dir, "modules.json", err))
        return -1;
    if (!file_exists(path)) {
        snprintf(p->transformer_dir, sizeof p->transformer_dir, "%s", dir);
        return load_sbert_config(p, err);
    }
    p->from_modules_json = true;
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1, stage = 0; /* modules must come in pipeline order */
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        se_fail(err, "%s: expected a non-empty JSON array of modules", path);
        goto done;
    }
    for (const cJSON *m = root->child; m; m = m->next) {
        const char *type = NULL, *sub = "";
        if (json_opt_string(m, "type", &type, path, err) != 1 || json_opt_string(m, "path", &sub, path, err) < 0) {
            se_fail(err, "%s: each module needs a \"type\" string and a \"path\" string", path);
            goto done;
        }
        if (strstr(sub, "..")) {
            se_fail(err, "%s: module path \"%s\" leaves the model directory", path, sub);
            goto done;
        }
        const char *kind = short_type(type);
        char mdir[ST_PATH_MAX];
        if (module_dir(mdir, dir, sub, err))
            goto done;
        int want = !strcmp(kind, "Transformer") ? 1 : !strcmp(kind, "Pooling") ? 2 : !strcmp(kind, "Dense") ? 3
                   : !strcmp(kind, "Normalize")                                   ? 4
                                                                                  : 0;
        if (!want) {
            se_fail(err, "%s: module type \"%s\" is not supported (expected Transformer, Pooling, Dense, Normalize)",
                    path, type);
            goto done;
        }
        if (want <= stage || (want > 1 && stage == 0)) {
            se_fail(err, "%s: module \"%s\" is out of order (expected Transformer, Pooling, [Dense], [Normalize])",
                    path, type);
            goto done;
        }
        stage = want;
        if (want == 1) {
            snprintf(p->transformer_dir, sizeof p->transformer_dir, "%s", mdir);
            if (load_sbert_config(p, err))
                goto done;
        } else if (want == 2) {
            if (load_pooling(p, mdir, err))
                goto done;
        } else if (want == 3) {
            if (load_dense(p, mdir, err))
                goto done;
        } else {
            p->normalize = true;
        }
    }
    if (stage < 2) {
        se_fail(err, "%s: expected at least a Transformer and a Pooling module", path);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}
