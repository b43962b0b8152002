/* libFuzzer target over the strict JSON parser (json_parse_strict, with its duplicate-key
 * finder) and the --set value reader (recipe_set_value). The input is the JSON text.
 * Checks, besides the sanitizers, each answer against a slower, independent account:
 *   - accepted: cJSON accepts the text too, it holds no NUL, no object has a key twice
 *     (every pair of keys compared), and the printed tree parses strictly to an equal one;
 *   - refused: the offset lies in the text and shows what the kind says: a zero byte or
 *     \u0000 (NUL), a non-blank byte after a value cJSON accepts (text after it), the
 *     opening quote of a key when some object really has a key twice (duplicate), the
 *     start of a number (one too large for a double);
 *   - a --set value is the strict parse when there is one, else the text as a string, or
 *     an error with a message when the text starts like JSON. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "trainer/train_config.h"

/* Whether some object in v holds a key twice, by comparing every pair. */
static int has_duplicate(const cJSON *v)
{
    for (const cJSON *a = v->child; a; a = a->next) {
        if (cJSON_IsObject(v))
            for (const cJSON *b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string))
                    return 1;
        if (has_duplicate(a))
            return 1;
    }
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void check_strict(const char *text, size_t len)
{
    JsonProblem why;
    cJSON *root = json_parse_strict(text, len, &why);
    const char *end = NULL;
    cJSON *lenient = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root) {
        if (!lenient || memchr(text, '\0', len) || has_duplicate(root))
            abort();
        char *printed = cJSON_PrintUnformatted(root);
        cJSON *again = json_parse_strict(printed, strlen(printed), &why);
        if (!again || !cJSON_Compare(root, again, 1))
            abort();
        cJSON_Delete(again);
        cJSON_free(printed);
    } else {
        if (!why.what[0] || why.offset > len)
            abort();
        switch (why.kind) {
        case JSON_NUL:
            if (why.offset == len || (text[why.offset] != '\0' &&
                                      (why.offset + 6 > len || memcmp(text + why.offset, "\\u0000", 6))))
                abort();
            break;
        case JSON_TRAILING_TEXT:
            if (!lenient || why.offset >= len || is_blank(text[why.offset]))
                abort();
            break;
        case JSON_DUPLICATE_KEY: {
            if (!lenient || !has_duplicate(lenient) || why.offset >= len || text[why.offset] != '"')
                abort();
            /* the key at the offset is the one the message names (its path ends with it) */
            cJSON *key = cJSON_ParseWithLengthOpts(text + why.offset, len - why.offset, NULL, 0);
            char ending[160];
            if (!cJSON_IsString(key))
                abort();
            snprintf(ending, sizeof ending, "%s\": a key may appear once", key->valuestring);
            if (strlen(key->valuestring) < 100 && strlen(why.what) < 300 && !strstr(why.what, ending))
                abort();
            cJSON_Delete(key);
            break;
        }
        case JSON_INVALID:
            if (lenient)
                abort();
            break;
        case JSON_NUMBER_RANGE: /* cJSON took the text, and a number at the offset overflows */
            if (!lenient || why.offset >= len || !(text[why.offset] == '-' || (text[why.offset] >= '0' && text[why.offset] <= '9')))
                abort();
            break;
        }
    }
    cJSON_Delete(lenient);
    cJSON_Delete(root);
}

static void check_set_value(const char *text)
{
    SeError err = {{0}};
    JsonProblem why;
    cJSON *value = recipe_set_value(text, &err);
    cJSON *strict = json_parse_strict(text, strlen(text), &why);
    size_t skip = strspn(text, " \t\r\n");
    int json_like = text[skip] == '{' || text[skip] == '[' || text[skip] == '"';
    if (strict) {
        if (!value || !cJSON_Compare(value, strict, 1))
            abort();
    } else if (json_like) {
        if (value || !err.msg[0])
            abort();
    } else if (!value || !cJSON_IsString(value) || strcmp(value->valuestring, text)) {
        abort();
    }
    cJSON_Delete(strict);
    cJSON_Delete(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_strict((const char *)data, size);
    char *text = malloc(size + 1); /* a --set value is a C string: up to its first zero byte */
    memcpy(text, data, size);
    text[size] = '\0';
    check_set_value(text);
    free(text);
    return 0;
}
