#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/fileio.h"
#include "host/utf8.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/vocab.h"

/* A fast non-cryptographic hash over 8-byte words (tokens are short). */
static uint64_t hash_bytes(const uint8_t *s, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

static void table_alloc(VocabTable *t, size_t capacity)
{
    t->slots = se_xmalloc(capacity * sizeof *t->slots);
    for (size_t i = 0; i < capacity; i++)
        t->slots[i].id = -1;
    t->mask = capacity - 1;
    t->count = 0;
}

/* Inserts or overrides; the table must have a free slot. */
static void table_insert(VocabTable *t, const char *pool, VocabSlot entry)
{
    size_t i = entry.hash & t->mask;
    for (;;) {
        VocabSlot *s = &t->slots[i];
        if (s->id < 0) {
            *s = entry;
            t->count++;
            break;
        }
        if (s->hash == entry.hash && s->len == entry.len &&
            memcmp(pool + s->offset, pool + entry.offset, entry.len) == 0) {
            s->id = entry.id;
            break;
        }
        i = (i + 1) & t->mask;
    }
    if (entry.len > t->max_len)
        t->max_len = entry.len;
}

static void table_put(VocabTable *t, const char *pool, uint32_t offset, uint32_t len, int32_t id)
{
    if ((t->count + 1) * 2 > t->mask + 1) { /* keep the load factor at most 1/2 */
        VocabTable old = *t;
        table_alloc(t, (old.mask + 1) * 2);
        t->max_len = old.max_len;
        for (size_t i = 0; i <= old.mask; i++)
            if (old.slots[i].id >= 0)
                table_insert(t, pool, old.slots[i]);
        free(old.slots);
    }
    VocabSlot entry = {hash_bytes((const uint8_t *)pool + offset, len), offset, len, id};
    table_insert(t, pool, entry);
}

int32_t vocab_lookup(const VocabTable *t, const char *pool, const uint8_t *s, size_t len)
{
    uint64_t h = hash_bytes(s, len);
    size_t i = h & t->mask;
    for (;;) {
        const VocabSlot *slot = &t->slots[i];
        if (slot->id < 0)
            return -1;
        if (slot->hash == h && slot->len == len && memcmp(pool + slot->offset, s, len) == 0)
            return slot->id;
        i = (i + 1) & t->mask;
    }
}

void vocab_init(Vocab *v, const char *prefix)
{
    memset(v, 0, sizeof *v);
    v->pool_cap = 1 << 16;
    v->pool = se_xmalloc(v->pool_cap);
    table_alloc(&v->all, 1 << 10);
    table_alloc(&v->continuation, 1 << 10);
    snprintf(v->prefix, sizeof v->prefix, "%s", prefix);
    v->prefix_len = strlen(v->prefix);
}

void vocab_add(Vocab *v, const char *token, size_t len, int32_t id)
{
    while (v->pool_len + len + 1 > v->pool_cap) {
        v->pool_cap *= 2;
        v->pool = se_xrealloc(v->pool, v->pool_cap);
    }
    uint32_t offset = (uint32_t)v->pool_len;
    memcpy(v->pool + offset, token, len);
    v->pool[offset + len] = '\0';
    v->pool_len += len + 1;

    if ((size_t)id >= v->size) {
        size_t new_size = (size_t)id + 1, cap = v->offsets_cap ? v->offsets_cap : 1024;
        while (cap < new_size)
            cap *= 2;
        if (cap > v->offsets_cap) {
            v->token_offset = se_xrealloc(v->token_offset, cap * sizeof *v->token_offset);
            for (size_t i = v->offsets_cap; i < cap; i++)
                v->token_offset[i] = UINT32_MAX;
            v->offsets_cap = cap;
        }
        v->size = new_size;
    }
    v->token_offset[id] = offset;
    table_put(&v->all, v->pool, offset, (uint32_t)len, id);
    if (v->prefix_len && len >= v->prefix_len && memcmp(token, v->prefix, v->prefix_len) == 0)
        table_put(&v->continuation, v->pool, offset + (uint32_t)v->prefix_len,
                  (uint32_t)(len - v->prefix_len), id);
}

void vocab_free(Vocab *v)
{
    free(v->pool);
    free(v->token_offset);
    free(v->all.slots);
    free(v->continuation.slots);
    memset(v, 0, sizeof *v);
}

const char *vocab_token(const Vocab *v, int32_t id)
{
    if (id < 0 || (size_t)id >= v->size || v->token_offset[id] == UINT32_MAX)
        return NULL;
    return v->pool + v->token_offset[id];
}

/* Length of s without trailing White_Space (Rust's str::trim_end). */
static size_t trim_end(const char *s, size_t len)
{
    while (len > 0) {
        size_t start = len - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
            start--;
        size_t i = start;
        uint32_t cp = utf8_decode_valid((const uint8_t *)s, &i);
        if (!uni_is_whitespace(cp))
            break;
        len = start;
    }
    return len;
}

static int load_txt(Vocab *v, const char *path, const char *prefix, SeError *err)
{
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err))
        return -1;
    size_t bad = utf8_valid_prefix((const uint8_t *)text, len);
    if (bad < len) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += text[i] == '\n';
        free(text);
        return se_fail(err, "%s:%zu: invalid UTF-8 in vocabulary", path, line);
    }
    vocab_init(v, prefix);
    int32_t id = 0;
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (id == INT32_MAX) {
            free(text);
            vocab_free(v);
            return se_fail(err, "%s: too many lines for a vocabulary", path);
        }
        vocab_add(v, text + start, trim_end(text + start, end - start), id++);
        start = end + 1;
    }
    free(text);
    if (id == 0) {
        vocab_free(v);
        return se_fail(err, "%s: empty vocabulary (expected one token per line)", path);
    }
    return 0;
}

int vocab_load_txt(Vocab *v, const char *path, const char *prefix, SeError *err)
{
    SeContext ctx;
    se_context_push(&ctx, "building the vocabulary of", path, NULL);
    int rc = load_txt(v, path, prefix, err);
    se_context_pop(&ctx);
    return rc;
}
