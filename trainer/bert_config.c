#include <stdbool.h>
#include <string.h>

#include "host/json_util.h"
#include "trainer/bert_config.h"

/* dflt < 0: the key is required. */
static int get_dim(const cJSON *root, const char *key, int *out, long long dflt, long long max, const char *path,
                   SeError *err)
{
    long long v = dflt;
    int rc = json_opt_int(root, key, &v, path, err);
    if (rc < 0)
        return -1;
    if (rc == 0 && dflt < 0)
        return se_fail(err, "%s: missing key \"%s\" (a positive integer)", path, key);
    if (v <= 0)
        return se_fail(err, "%s: key \"%s\": expected a positive integer, got %lld", path, key, v);
    if (v > max)
        return se_fail(err, "%s: key \"%s\": %lld is more than sentembed supports (at most %lld)", path, key, v,
                       max);
    *out = (int)v;
    return 0;
}

static int get_prob(const cJSON *root, const char *key, float *out, const char *path, SeError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = 0.1f;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= 1)
        return se_fail(err, "%s: key \"%s\": expected a probability in [0, 1)", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

int bert_config_load(BertConfig *c, const char *path, SeError *err)
{
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1;
    const char *model_type = NULL, *act = NULL, *pos_type = NULL;
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(root)) {
        se_fail(err, "%s: expected a JSON object", path);
        goto done;
    }
    if (json_opt_string(root, "model_type", &model_type, path, err) < 0 ||
        json_opt_string(root, "hidden_act", &act, path, err) < 0 ||
        json_opt_string(root, "position_embedding_type", &pos_type, path, err) < 0)
        goto done;
    /* Encoders with BERT's exact architecture and tensor names. */
    if (model_type && strcmp(model_type, "bert") != 0) {
        se_fail(err, "%s: key \"model_type\": \"%s\" is not supported (expected \"bert\")", path, model_type);
        goto done;
    }
    if (act && strcmp(act, "gelu") != 0) {
        se_fail(err, "%s: key \"hidden_act\": \"%s\" is not supported (expected \"gelu\", the exact erf form)",
                path, act);
        goto done;
    }
    if (pos_type && strcmp(pos_type, "absolute") != 0) {
        se_fail(err, "%s: key \"position_embedding_type\": \"%s\" is not supported (expected \"absolute\")", path,
                pos_type);
        goto done;
    }
    bool decoder = false;
    if (json_opt_bool(root, "is_decoder", &decoder, path, err) < 0)
        goto done;
    if (decoder) {
        se_fail(err, "%s: key \"is_decoder\": true is not supported (a decoder attends only to earlier tokens; "
                "sentembed's encoder attends both ways, so its embeddings would differ)", path);
        goto done;
    }
    if (get_dim(root, "vocab_size", &c->vocab_size, -1, BERT_MAX_VOCAB, path, err) ||
        get_dim(root, "hidden_size", &c->hidden_size, -1, BERT_MAX_HIDDEN, path, err) ||
        get_dim(root, "num_hidden_layers", &c->num_layers, -1, BERT_MAX_LAYERS, path, err) ||
        get_dim(root, "num_attention_heads", &c->num_heads, -1, BERT_MAX_HEADS, path, err) ||
        get_dim(root, "intermediate_size", &c->intermediate_size, -1, BERT_MAX_INTERMEDIATE, path, err) ||
        get_dim(root, "max_position_embeddings", &c->max_position_embeddings, 512, BERT_MAX_POSITIONS, path, err) ||
        get_dim(root, "type_vocab_size", &c->type_vocab_size, 2, BERT_MAX_TYPES, path, err) ||
        get_prob(root, "hidden_dropout_prob", &c->hidden_dropout_prob, path, err) ||
        get_prob(root, "attention_probs_dropout_prob", &c->attention_probs_dropout_prob, path, err))
        goto done;
    if (c->hidden_size % c->num_heads) {
        se_fail(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c->hidden_size,
                c->num_heads);
        goto done;
    }
    c->initializer_range = 0.02f;
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(root, "initializer_range");
    if (range && !cJSON_IsNull(range)) {
        if (!cJSON_IsNumber(range) || range->valuedouble <= 0 || range->valuedouble > 1) {
            se_fail(err, "%s: key \"initializer_range\": expected a positive number up to 1", path);
            goto done;
        }
        c->initializer_range = (float)range->valuedouble;
    }
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_token_id");
    if (pad && !cJSON_IsNull(pad)) {
        if (!cJSON_IsNumber(pad) || pad->valuedouble < 0 || pad->valuedouble >= c->vocab_size ||
            pad->valuedouble != (int)pad->valuedouble) {
            se_fail(err, "%s: key \"pad_token_id\": expected a token id below vocab_size %d", path, c->vocab_size);
            goto done;
        }
        c->pad_token_id = (int)pad->valuedouble;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    c->layer_norm_eps = 1e-12f;
    if (eps && !cJSON_IsNull(eps)) {
        if (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1) {
            se_fail(err, "%s: key \"layer_norm_eps\": expected a small positive number", path);
            goto done;
        }
        c->layer_norm_eps = (float)eps->valuedouble;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

long long bert_param_count(const BertConfig *c)
{
    long long H = c->hidden_size, I = c->intermediate_size;
    long long emb = ((long long)c->vocab_size + c->max_position_embeddings + c->type_vocab_size) * H + 2 * H;
    long long layer = 4 * (H * H + H) + 2 * (H * I) + I + H + 4 * H;
    return emb + c->num_layers * layer;
}
