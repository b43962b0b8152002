/* Loading a tokenizer from a model directory or a bare vocab.txt.
 *
 * Precedence follows transformers' BertTokenizerFast: tokenizer.json (the fast
 * tokenizer's own file) gives vocabulary, normalizer and added tokens; keys present in
 * tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars) override
 * the normalizer; special token names come from special_tokens_map.json or
 * tokenizer_config.json. Without tokenizer.json the vocabulary is vocab.txt. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "host/fileio.h"
#include "host/json_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_tables.h"

enum { ASCII_DROP, ASCII_SPACE, ASCII_PUNCT, ASCII_WORD }; /* as in tokenizer.c */

typedef struct {
    const char *unk, *cls, *sep, *pad, *mask; /* token names */
} SpecialNames;

static const char *ROLE_KEYS[5] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};

static const char **role_slot(SpecialNames *names, int role)
{
    const char **slots[5] = {&names->unk, &names->cls, &names->sep, &names->pad, &names->mask};
    return slots[role];
}

void tok_set_normalizer(Tokenizer *t, TokNormalizer norm)
{
    t->norm = norm;
    t->strip = norm.strip_accents < 0 ? norm.lowercase : norm.strip_accents != 0;
    for (uint32_t c = 0; c < 128; c++) {
        uint8_t cls;
        if (norm.clean_text && uni_is_control(c))
            cls = ASCII_DROP;
        else if (uni_is_whitespace(c))
            cls = ASCII_SPACE;
        else if (uni_is_punct(c))
            cls = ASCII_PUNCT;
        else
            cls = ASCII_WORD;
        t->ascii_class[c] = cls;
    }
}

static int add_special(Tokenizer *t, const char *content, int32_t id, const char *where, SeError *err)
{
    size_t len = strlen(content);
    if (len == 0)
        return se_fail(err, "%s: empty special token", where);
    for (int k = 0; k < t->n_specials; k++)
        if (t->specials[k].len == len && memcmp(t->specials[k].content, content, len) == 0) {
            t->specials[k].id = id;
            return 0;
        }
    if (t->n_specials == TOK_MAX_SPECIALS)
        return se_fail(err, "%s: more than %d added tokens are not supported", where, TOK_MAX_SPECIALS);
    TokSpecial *sp = &t->specials[t->n_specials++];
    sp->content = se_xmalloc(len + 1);
    memcpy(sp->content, content, len + 1);
    sp->len = len;
    sp->id = id;
    t->special_first_byte[(uint8_t)content[0]] = 1;
    return 0;
}

static void free_names(SpecialNames *names)
{
    for (int role = 0; role < 5; role++) {
        const char **slot = role_slot(names, role);
        free((void *)*slot);
        *slot = NULL;
    }
}

static void set_name(SpecialNames *names, int role, const char *value)
{
    const char **slot = role_slot(names, role);
    free((void *)*slot);
    *slot = strdup(value);
}

/* A special token in tokenizer_config.json / special_tokens_map.json is a string or an
 * object with "content". */
static int read_special_names(const char *path, SpecialNames *names, SeError *err)
{
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = se_fail(err, "%s: expected a JSON object", path);
    for (int role = 0; role < 5 && rc == 0; role++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, ROLE_KEYS[role]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (cJSON_IsObject(v))
            v = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (!cJSON_IsString(v)) {
            rc = se_fail(err, "%s: key \"%s\": expected a string or {\"content\": string}", path, ROLE_KEYS[role]);
            break;
        }
        set_name(names, role, v->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

/* Resolves the five roles to ids and makes sure every named special token is matched in
 * raw text, as the fast tokenizer's added vocabulary does. */
static int resolve_specials(Tokenizer *t, const SpecialNames *names, const char *where, SeError *err)
{
    int32_t *ids[5] = {&t->unk_id, &t->cls_id, &t->sep_id, &t->pad_id, &t->mask_id};
    for (int role = 0; role < 5; role++) {
        const char *name = *role_slot((SpecialNames *)names, role);
        *ids[role] = -1;
        if (!name)
            continue;
        int32_t id = vocab_find(&t->vocab, name, strlen(name));
        if (id < 0) {
            if (role <= 2)
                return se_fail(err, "%s: %s \"%s\" is not in the vocabulary", where, ROLE_KEYS[role], name);
            continue;
        }
        *ids[role] = id;
        if (add_special(t, name, id, where, err))
            return -1;
    }
    return 0;
}

static void tok_init(Tokenizer *t)
{
    memset(t, 0, sizeof *t);
    t->max_input_chars_per_word = 100;
    tok_set_normalizer(t, (TokNormalizer){true, true, true, -1});
}

static void default_names(SpecialNames *names)
{
    memset(names, 0, sizeof *names);
    set_name(names, 0, "[UNK]");
    set_name(names, 1, "[CLS]");
    set_name(names, 2, "[SEP]");
    set_name(names, 3, "[PAD]");
    set_name(names, 4, "[MASK]");
}

int tok_load_vocab(Tokenizer *t, const char *vocab_path, SeError *err)
{
    tok_init(t);
    if (vocab_load_txt(&t->vocab, vocab_path, "##", err))
        return -1;
    SpecialNames names;
    default_names(&names);
    int rc = resolve_specials(t, &names, vocab_path, err);
    free_names(&names);
    if (rc)
        tok_free(t);
    return rc;
}

/* tokenizer.json: the WordPiece model, BertNormalizer, BertPreTokenizer and added tokens. */
static int load_tokenizer_json(Tokenizer *t, const char *path, SpecialNames *names, SeError *err)
{
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = NULL;
    if (!cJSON_IsObject(model) || json_opt_string(model, "type", &type, path, err) != 1 ||
        strcmp(type, "WordPiece") != 0) {
        se_fail(err, "%s: key \"model.type\": expected \"WordPiece\" (a BERT tokenizer)%s%s", path,
                type ? ", found " : "", type ? type : "");
        goto done;
    }
    const char *prefix = "##", *unk = NULL;
    long long max_chars = 100;
    if (json_opt_string(model, "continuing_subword_prefix", &prefix, path, err) < 0 ||
        json_opt_string(model, "unk_token", &unk, path, err) < 0 ||
        json_opt_int(model, "max_input_chars_per_word", &max_chars, path, err) < 0)
        goto done;
    if (max_chars < 0 || max_chars > INT_MAX) {
        se_fail(err, "%s: key \"model.max_input_chars_per_word\": expected a non-negative integer", path);
        goto done;
    }
    if (strlen(prefix) >= sizeof t->vocab.prefix) {
        se_fail(err, "%s: key \"model.continuing_subword_prefix\": longer than %zu bytes", path,
                sizeof t->vocab.prefix - 1);
        goto done;
    }
    t->max_input_chars_per_word = (int)max_chars;
    if (unk)
        set_name(names, 0, unk);

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab) || !vocab->child) {
        se_fail(err, "%s: key \"model.vocab\": expected a non-empty object of token -> id", path);
        goto done;
    }
    vocab_init(&t->vocab, prefix);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double id = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (id < 0 || id > INT32_MAX - 1 || id != (double)(int32_t)id) {
            se_fail(err, "%s: key \"model.vocab\": token \"%s\": expected an id >= 0", path, e->string);
            goto done;
        }
        vocab_add(&t->vocab, e->string, strlen(e->string), (int32_t)id);
    }

    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    TokNormalizer nz = {false, false, false, 0};
    if (norm && !cJSON_IsNull(norm)) {
        const char *ntype = NULL;
        if (json_opt_string(norm, "type", &ntype, path, err) != 1 || strcmp(ntype, "BertNormalizer") != 0) {
            se_fail(err, "%s: key \"normalizer.type\": expected \"BertNormalizer\"", path);
            goto done;
        }
        bool strip = false;
        nz = (TokNormalizer){true, true, true, -1};
        int has_strip;
        if (json_opt_bool(norm, "clean_text", &nz.clean_text, path, err) < 0 ||
            json_opt_bool(norm, "handle_chinese_chars", &nz.handle_chinese_chars, path, err) < 0 ||
            json_opt_bool(norm, "lowercase", &nz.lowercase, path, err) < 0 ||
            (has_strip = json_opt_bool(norm, "strip_accents", &strip, path, err)) < 0)
            goto done;
        nz.strip_accents = has_strip ? strip : -1;
    }
    tok_set_normalizer(t, nz);

    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const char *ptype = NULL;
    if (!pre || json_opt_string(pre, "type", &ptype, path, err) != 1 || strcmp(ptype, "BertPreTokenizer") != 0) {
        se_fail(err, "%s: key \"pre_tokenizer.type\": expected \"BertPreTokenizer\"", path);
        goto done;
    }

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        const char *content = NULL;
        long long id = -1;
        bool normalized = false, lstrip = false, rstrip = false, single_word = false;
        if (json_opt_string(a, "content", &content, path, err) != 1 || json_opt_int(a, "id", &id, path, err) != 1 ||
            json_opt_bool(a, "normalized", &normalized, path, err) < 0 ||
            json_opt_bool(a, "lstrip", &lstrip, path, err) < 0 || json_opt_bool(a, "rstrip", &rstrip, path, err) < 0 ||
            json_opt_bool(a, "single_word", &single_word, path, err) < 0) {
            if (!content || id < 0)
                se_fail(err, "%s: key \"added_tokens\": each entry needs \"content\" and \"id\"", path);
            goto done;
        }
        if (normalized || lstrip || rstrip || single_word) {
            se_fail(err, "%s: added token \"%s\": normalized/lstrip/rstrip/single_word are not supported "
                    "(BERT models have none)", path, content);
            goto done;
        }
        if (id > INT32_MAX || add_special(t, content, (int32_t)id, path, err))
            goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* tokenizer_config.json: normalizer overrides, model_max_length, special token names. */
static int load_tokenizer_config(Tokenizer *t, const char *path, SeError *err)
{
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = -1;
    TokNormalizer nz = t->norm;
    bool strip = false;
    int has_strip, has_max;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(root, "strip_accents");
    if (json_opt_bool(root, "do_lower_case", &nz.lowercase, path, err) < 0 ||
        json_opt_bool(root, "tokenize_chinese_chars", &nz.handle_chinese_chars, path, err) < 0 ||
        (has_strip = json_opt_bool(root, "strip_accents", &strip, path, err)) < 0 ||
        (has_max = json_opt_int(root, "model_max_length", &t->model_max_length, path, err)) < 0)
        goto done;
    if (has_max && t->model_max_length <= 0) {
        se_fail(err, "%s: key \"model_max_length\": expected a positive integer, got %lld", path,
                t->model_max_length);
        goto done;
    }
    if (has_strip)
        nz.strip_accents = strip;
    else if (sv && cJSON_IsNull(sv))
        nz.strip_accents = -1;
    tok_set_normalizer(t, nz);
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int tok_load_dir(Tokenizer *t, const char *dir, SeError *err) { return tok_load_dir_with_vocab(t, dir, NULL, err); }

int tok_load_dir_with_vocab(Tokenizer *t, const char *dir, const char *vocab_path, SeError *err)
{
    char path[4096];
    SpecialNames names;
    tok_init(t);
    default_names(&names);
    int rc = -1;
    if (!dir_exists(dir)) {
        se_fail(err, "%s: not a directory (expected a model directory with tokenizer.json or vocab.txt)", dir);
        goto done;
    }
    if (path_join(path, sizeof path, dir, "tokenizer.json", err))
        goto done;
    if (vocab_path) {
        if (vocab_load_txt(&t->vocab, vocab_path, "##", err))
            goto done;
    } else if (file_exists(path)) {
        if (load_tokenizer_json(t, path, &names, err))
            goto done;
    } else {
        if (path_join(path, sizeof path, dir, "vocab.txt", err))
            goto done;
        if (!file_exists(path)) {
            se_fail(err, "%s: no tokenizer.json or vocab.txt in this directory", dir);
            goto done;
        }
        if (vocab_load_txt(&t->vocab, path, "##", err))
            goto done;
    }
    if (path_join(path, sizeof path, dir, "tokenizer_config.json", err))
        goto done;
    if (file_exists(path) && (load_tokenizer_config(t, path, err) || read_special_names(path, &names, err)))
        goto done;
    if (path_join(path, sizeof path, dir, "special_tokens_map.json", err))
        goto done;
    if (file_exists(path) && read_special_names(path, &names, err))
        goto done;
    rc = resolve_specials(t, &names, dir, err);
done:
    free_names(&names);
    if (rc)
        tok_free(t);
    return rc;
}

void tok_free(Tokenizer *t)
{
    vocab_free(&t->vocab);
    for (int k = 0; k < t->n_specials; k++)
        free(t->specials[k].content);
    memset(t, 0, sizeof *t);
}
