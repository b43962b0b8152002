#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hash.h"
#include "host/json_util.h"
#include "trainer/train_config.h"

static const char *TOP_KEYS[] = {"model", "max_seq_length", "data", "loss", "batch_size", "epochs", "max_steps", "lr",
                                 "schedule", "warmup_steps", "warmup_ratio", "weight_decay", "max_grad_norm", "seed",
                                 "device", "output_dir", "log_every", "eval",
                                 "gradient_accumulation_steps", "init", "vocab", "pooling", "dense", "normalize",
                                 "dropout", "checkpoint", "on_nan", "sampling", "batch_sampler", "drop_last",
                                 "on_bad_row", "prefetch", NULL};
static const char *CHECKPOINT_KEYS[] = {"every", "keep", NULL};
static const char *DENSE_KEYS[] = {"out_features", "activation", NULL};
static const char *const EVAL_EXTRA_KEYS[] = {"every", NULL};
static const char *LOSS_KEYS[] = {"type", "metric", "margin", "scale", "num_labels", NULL};

cJSON *recipe_set_value(const char *text, SeError *err)
{
    size_t skip = strspn(text, " \t\r\n");
    JsonProblem why;
    cJSON *value = json_parse_strict(text, strlen(text), &why);
    if (value)
        return value;
    if (text[skip] == '{' || text[skip] == '[' || text[skip] == '"') { /* meant as JSON */
        se_fail(err, "%s (column %zu of the value)", why.what, why.offset + 1);
        return NULL;
    }
    return cJSON_CreateString(text);
}

/* --set a.b=value */
static int apply_override(cJSON *root, const char *kv, SeError *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return se_fail(err, "--set %s: expected KEY=VALUE", kv);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    SeError why;
    cJSON *value = recipe_set_value(eq + 1, &why);
    if (!value)
        return se_fail(err, "--set %s: %s", kv, why.msg);
    cJSON *obj = root;
    char *part = key, *dot;
    while ((dot = strchr(part, '.'))) {
        *dot = '\0';
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!child) {
            child = cJSON_CreateObject();
            cJSON_AddItemToObject(obj, part, child);
        }
        if (!cJSON_IsObject(child)) {
            cJSON_Delete(value);
            return se_fail(err, "--set %s: \"%s\" is not an object", kv, part);
        }
        obj = child;
        part = dot + 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, part))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, part, value);
    else
        cJSON_AddItemToObject(obj, part, value);
    return 0;
}

static int get_num(const cJSON *obj, const char *key, double *out, double dflt, double lo, double hi, const char *path,
                   const char *prefix, SeError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v))
        return se_fail(err, "%s: key \"%s%s\": expected a number from %.15g to %.15g, got the string \"%.40s\"", path,
                       prefix, key, lo, hi, v->valuestring);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return se_fail(err, "%s: key \"%s%s\": expected a number from %.15g to %.15g", path, prefix, key, lo,
                       hi);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *obj, const char *key, long *out, long dflt, long lo, long hi, const char *path,
                   SeError *err)
{
    double d;
    if (get_num(obj, key, &d, (double)dflt, (double)lo, (double)hi, path, "", err))
        return -1;
    if (d != floor(d))
        return se_fail(err, "%s: key \"%s\": expected an integer", path, key);
    *out = (long)d;
    return 0;
}

static int load_loss(TrainRecipe *r, const char *path, SeError *err)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(r->root, "loss");
    if (!cJSON_IsObject(l))
        return se_fail(err, "%s: key \"loss\": expected an object like {\"type\": \"mnrl\"}", path);
    if (json_check_keys(l, LOSS_KEYS, "loss.", path, err))
        return -1;
    const char *type = NULL, *metric = "euclidean";
    if (json_opt_string(l, "type", &type, path, err) != 1)
        return se_fail(err, "%s: key \"loss.type\": expected one of mnrl, triplet, cosine_similarity, cosent, "
                       "contrastive, softmax, online_contrastive, batch_hard_triplet", path);
    static const char *TYPES[] = {"mnrl",    "triplet", "cosine_similarity",  "cosent",
                                  "contrastive", "softmax", "online_contrastive", "batch_hard_triplet"};
    int kind = -1;
    for (int k = 0; k < 8; k++)
        if (!strcmp(type, TYPES[k]))
            kind = k;
    if (kind < 0)
        return se_fail(err, "%s: key \"loss.type\": \"%s\" is not one of mnrl, triplet, cosine_similarity, cosent, "
                       "contrastive, softmax, online_contrastive, batch_hard_triplet", path, type);
    LossConfig *lc = &r->loss;
    lc->kind = (LossKind)kind;
    if (json_opt_string(l, "metric", &metric, path, err) < 0)
        return -1;
    static const char *METRICS[] = {"euclidean", "cosine", "manhattan"};
    int m = -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(metric, METRICS[k]))
            m = k;
    if (m < 0)
        return se_fail(err, "%s: key \"loss.metric\": expected euclidean, cosine or manhattan", path);
    lc->triplet_metric = (TripletMetric)m;
    double margin_default = kind == LOSS_CONTRASTIVE || kind == LOSS_ONLINE_CONTRASTIVE ? 0.5 : 5.0, labels;
    if (get_num(l, "margin", &lc->margin, margin_default, 0, 1e6, path, "loss.", err) ||
        get_num(l, "scale", &lc->scale, 20.0, 1e-6, 1e6, path, "loss.", err) ||
        get_num(l, "num_labels", &labels, 3, 2, 1000, path, "loss.", err))
        return -1;
    lc->num_labels = (int)labels;
    return 0;
}

/* init, vocab, pooling, dense, normalize, dropout: how the model is built for training. */
static int load_model_build(TrainRecipe *r, const char *path, SeError *err)
{
    const cJSON *root = r->root;
    SmBuild *b = &r->build;
    b->normalize = -1;
    b->seed = r->train.seed;
    const char *init = "pretrained", *act = "tanh";
    if (json_opt_string(root, "init", &init, path, err) < 0 || json_opt_string(root, "vocab", &b->vocab_path, path, err) < 0 ||
        json_opt_string(root, "pooling", &b->pooling, path, err) < 0)
        return -1;
    if (strcmp(init, "pretrained") && strcmp(init, "random"))
        return se_fail(err, "%s: key \"init\": \"%s\" is not one of pretrained (the model's weights) or random "
                       "(BERT initialization from the model's config.json)", path, init);
    b->random_init = !strcmp(init, "random");
    const cJSON *normalize = cJSON_GetObjectItemCaseSensitive(root, "normalize");
    if (normalize && !cJSON_IsNull(normalize)) {
        if (!cJSON_IsBool(normalize))
            return se_fail(err, "%s: key \"normalize\": expected true or false", path);
        b->normalize = cJSON_IsTrue(normalize);
    }
    const cJSON *dense = cJSON_GetObjectItemCaseSensitive(root, "dense");
    if (dense && !cJSON_IsNull(dense)) {
        if (!cJSON_IsObject(dense))
            return se_fail(err, "%s: key \"dense\": expected an object like {\"out_features\": 256, "
                           "\"activation\": \"tanh\"}", path);
        if (json_check_keys(dense, DENSE_KEYS, "dense.", path, err))
            return -1;
        double out;
        if (get_num(dense, "out_features", &out, 0, 0, DENSE_MAX_FEATURES, path, "dense.", err))
            return -1;
        if (out == 0 || out != floor(out))
            return se_fail(err, "%s: key \"dense.out_features\": expected a positive integer", path);
        b->dense_out = (int)out;
        if (json_opt_string(dense, "activation", &act, path, err) < 0)
            return -1;
        if (strcmp(act, "tanh") && strcmp(act, "identity"))
            return se_fail(err, "%s: key \"dense.activation\": \"%s\" is not one of tanh, identity", path, act);
        b->dense_act = strcmp(act, "tanh") ? DENSE_IDENTITY : DENSE_TANH;
    }
    return get_num(root, "dropout", &r->dropout, -1, 0, 0.95, path, "", err);
}

/* checkpoint {every, keep}, on_nan */
static int load_run_control(TrainRecipe *r, const char *path, SeError *err)
{
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(r->root, "checkpoint");
    r->checkpoint_keep = 3;
    if (ck && !cJSON_IsNull(ck)) {
        if (!cJSON_IsObject(ck))
            return se_fail(err, "%s: key \"checkpoint\": expected an object like {\"every\": 500, \"keep\": 3}", path);
        if (json_check_keys(ck, CHECKPOINT_KEYS, "checkpoint.", path, err))
            return -1;
        double every, keep;
        if (get_num(ck, "every", &every, 0, 0, 1e15, path, "checkpoint.", err) ||
            get_num(ck, "keep", &keep, 3, 0, 1e6, path, "checkpoint.", err))
            return -1;
        if (every != floor(every) || keep != floor(keep))
            return se_fail(err, "%s: keys \"checkpoint.every\" and \"checkpoint.keep\": expected integers", path);
        r->checkpoint_every = (long)every;
        r->checkpoint_keep = (int)keep;
    }
    const char *on_nan = "stop";
    if (json_opt_string(r->root, "on_nan", &on_nan, path, err) < 0)
        return -1;
    if (strcmp(on_nan, "stop") && strcmp(on_nan, "skip"))
        return se_fail(err, "%s: key \"on_nan\": \"%s\" is not one of stop, skip", path, on_nan);
    r->skip_nan = !strcmp(on_nan, "skip");
    return 0;
}

/* data (one spec or a list of them), eval */
static int load_data_specs(TrainRecipe *r, const char *path, SeError *err)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(r->root, "data");
    if (!cJSON_IsObject(data) && !(cJSON_IsArray(data) && cJSON_GetArraySize(data) > 0))
        return se_fail(err, "%s: key \"data\": expected a data spec like {\"path\": ..., \"columns\": [...]} or a "
                       "list of them", path);
    const bool list = cJSON_IsArray(data);
    const int n = list ? cJSON_GetArraySize(data) : 1;
    r->data = se_xcalloc((size_t)n, sizeof *r->data);
    r->data_keys = se_xmalloc((size_t)n * 16);
    for (const cJSON *e = list ? data->child : data; r->n_data < n; e = e->next) {
        char *key = r->data_keys + 16 * r->n_data;
        snprintf(key, 16, list ? "data[%d]" : "data", r->n_data);
        if (data_spec_parse(&r->data[r->n_data++], e, path, key, NULL, err))
            return -1;
    }
    r->eval = cJSON_GetObjectItemCaseSensitive(r->root, "eval");
    if (r->eval && cJSON_IsNull(r->eval))
        r->eval = NULL;
    if (!r->eval)
        return 0;
    if (data_spec_parse(&r->eval_spec, r->eval, path, "eval", EVAL_EXTRA_KEYS, err))
        return -1;
    return get_int(r->eval, "every", &r->eval_every, 0, 0, 1L << 40, path, err);
}

/* sampling, batch_sampler, drop_last, on_bad_row, prefetch */
static int load_batching(TrainRecipe *r, const char *path, SeError *err)
{
    const char *sampling = "proportional", *sampler = "default", *on_bad_row = "error";
    bool prefetch = false;
    int has_prefetch = json_opt_bool(r->root, "prefetch", &prefetch, path, err);
    if (has_prefetch < 0)
        return -1;
    r->prefetch = has_prefetch ? prefetch : -1;
    if (json_opt_string(r->root, "sampling", &sampling, path, err) < 0 ||
        json_opt_string(r->root, "batch_sampler", &sampler, path, err) < 0 ||
        json_opt_string(r->root, "on_bad_row", &on_bad_row, path, err) < 0 ||
        json_opt_bool(r->root, "drop_last", &r->drop_last, path, err) < 0)
        return -1;
    if (strcmp(sampling, "proportional") && strcmp(sampling, "round_robin"))
        return se_fail(err, "%s: key \"sampling\": \"%s\" is not one of proportional, round_robin", path, sampling);
    if (strcmp(sampler, "default") && strcmp(sampler, "no_duplicates"))
        return se_fail(err, "%s: key \"batch_sampler\": \"%s\" is not one of default, no_duplicates", path, sampler);
    if (strcmp(on_bad_row, "error") && strcmp(on_bad_row, "skip"))
        return se_fail(err, "%s: key \"on_bad_row\": \"%s\" is not one of error, skip", path, on_bad_row);
    r->sampling = strcmp(sampling, "round_robin") ? SAMPLING_PROPORTIONAL : SAMPLING_ROUND_ROBIN;
    r->sampler = strcmp(sampler, "no_duplicates") ? SAMPLER_DEFAULT : SAMPLER_NO_DUPLICATES;
    r->skip_bad_rows = !strcmp(on_bad_row, "skip");
    return 0;
}

uint64_t recipe_hash(const TrainRecipe *r, int world)
{
    /* what may change between a run and its resumption: where it writes, how it logs,
     * evaluates and checkpoints, and the device */
    static const char *FREE_KEYS[] = {"output_dir", "log_every", "eval", "device", "checkpoint", "on_nan", "prefetch"};
    cJSON *copy = cJSON_Duplicate(r->root, 1);
    for (size_t k = 0; k < sizeof FREE_KEYS / sizeof *FREE_KEYS; k++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, FREE_KEYS[k]);
    /* the global batch, not its split over ranks: 2 ranks x 8 continue 1 x 16 and back */
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "batch_size");
    cJSON_AddNumberToObject(copy, "global_batch_size", (double)r->batch_size * world);
    char *text = cJSON_PrintUnformatted(copy);
    uint64_t h = fnv1a64(FNV64_START, text, text ? strlen(text) : 0);
    cJSON_free(text);
    cJSON_Delete(copy);
    return h;
}

int recipe_load(TrainRecipe *r, const char *path, const char *const *overrides, int n_overrides, SeError *err)
{
    memset(r, 0, sizeof *r);
    r->root = json_parse_file(path, err);
    if (!r->root)
        return -1;
    if (!cJSON_IsObject(r->root)) {
        recipe_free(r);
        return se_fail(err, "%s: expected a JSON object", path);
    }
    for (int i = 0; i < n_overrides; i++)
        if (apply_override(r->root, overrides[i], err)) {
            recipe_free(r);
            return -1;
        }
    cJSON *root = r->root;
    const char *schedule = "warmuplinear";
    long v;
    r->device = "cpu";
    if (json_check_keys(root, TOP_KEYS, "", path, err))
        goto fail;
    if (load_data_specs(r, path, err))
        goto fail;
    if (json_opt_string(root, "model", &r->model, path, err) != 1) {
        se_fail(err, "%s: key \"model\": expected a model directory", path);
        goto fail;
    }
    if (json_opt_string(root, "output_dir", &r->output_dir, path, err) != 1) {
        se_fail(err, "%s: key \"output_dir\": expected the directory to save the trained model in", path);
        goto fail;
    }
    if (json_opt_string(root, "device", &r->device, path, err) < 0 ||
        json_opt_string(root, "schedule", &schedule, path, err) < 0)
        goto fail;
    int kind = schedule_from_name(schedule);
    if (kind < 0) {
        se_fail(err, "%s: key \"schedule\": \"%s\" is not one of constantlr, warmupconstant, warmuplinear, "
                "warmupcosine, warmupcosinewithhardrestarts", path, schedule);
        goto fail;
    }
    r->train.schedule = (ScheduleKind)kind;
    if (get_int(root, "max_seq_length", &v, 0, 0, 1 << 20, path, err))
        goto fail;
    r->max_seq_length = (int)v;
    if (get_int(root, "batch_size", &v, 16, 1, 1 << 16, path, err))
        goto fail;
    r->batch_size = (int)v;
    if (get_int(root, "epochs", &v, 1, 1, 1 << 20, path, err))
        goto fail;
    r->epochs = (int)v;
    if (get_int(root, "max_steps", &r->max_steps, 0, 0, 1L << 40, path, err) ||
        get_int(root, "warmup_steps", &r->warmup_steps, 0, 0, 1L << 40, path, err) ||
        get_num(root, "warmup_ratio", &r->warmup_ratio, 0, 0, 1, path, "", err) ||
        get_num(root, "lr", &r->train.adamw.lr, 2e-5, 0, 10, path, "", err) ||
        get_num(root, "weight_decay", &r->train.adamw.weight_decay, 0.01, 0, 10, path, "", err) ||
        get_num(root, "max_grad_norm", &r->train.max_grad_norm, 1.0, 0, 1e9, path, "", err) ||
        get_int(root, "seed", &v, 42, 0, 1L << 31, path, err))
        goto fail;
    r->train.seed = (unsigned)v;
    if (get_int(root, "gradient_accumulation_steps", &v, 1, 1, 1 << 20, path, err))
        goto fail;
    r->train.accumulation = (int)v;
    if (get_int(root, "log_every", &v, 10, 1, 1L << 30, path, err))
        goto fail;
    r->log_every = (int)v;
    r->train.adamw.beta1 = 0.9, r->train.adamw.beta2 = 0.999, r->train.adamw.eps = 1e-8;
    if (load_loss(r, path, err) || load_model_build(r, path, err) || load_run_control(r, path, err) ||
        load_batching(r, path, err))
        goto fail;
    return 0;
fail:
    recipe_free(r);
    return -1;
}

void recipe_free(TrainRecipe *r)
{
    for (int k = 0; k < r->n_data; k++)
        data_spec_free(&r->data[k]);
    free(r->data);
    free(r->data_keys);
    data_spec_free(&r->eval_spec);
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}
