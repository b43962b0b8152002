/* WordPiece vocabulary: token string <-> id.
 *
 * Two open-addressing hash tables answer the two questions WordPiece asks: "is this
 * substring a word-initial token?" (every token) and "is prefix+substring a token?"
 * (tokens that start with the continuing-subword prefix, keyed without it, so no string
 * is built per lookup). Strings live in one pool; nothing is allocated per lookup. */
#ifndef SENTEMBED_VOCAB_H
#define SENTEMBED_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "host/error.h"

typedef struct {
    uint64_t hash;
    uint32_t offset; /* into Vocab.pool */
    uint32_t len;
    int32_t id; /* -1: empty slot */
} VocabSlot;

typedef struct {
    VocabSlot *slots;
    size_t mask;    /* capacity - 1 (capacity is a power of two) */
    size_t count;
    size_t max_len; /* longest key in bytes: no longer substring can match */
} VocabTable;

typedef struct {
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *token_offset; /* by id: offset in pool of the NUL-terminated token (UINT32_MAX: none) */
    size_t size;            /* number of ids (max id + 1) */
    size_t offsets_cap;
    VocabTable all;         /* every token */
    VocabTable continuation;/* tokens starting with the prefix, keyed without it */
    char prefix[32];
    size_t prefix_len;
} Vocab;

/* An empty vocabulary whose continuing-subword prefix is `prefix` ("##" for BERT). */
void vocab_init(Vocab *v, const char *prefix);
/* Adds token -> id; a later duplicate overrides the id, as the reference does. */
void vocab_add(Vocab *v, const char *token, size_t len, int32_t id);
void vocab_free(Vocab *v);

/* vocab.txt: one token per line, id = line number; trailing whitespace is trimmed. */
int vocab_load_txt(Vocab *v, const char *path, const char *prefix, SeError *err);

/* -1 when absent. */
int32_t vocab_lookup(const VocabTable *t, const char *pool, const uint8_t *s, size_t len);
static inline int32_t vocab_find(const Vocab *v, const char *s, size_t len)
{
    return vocab_lookup(&v->all, v->pool, (const uint8_t *)s, len);
}
/* The token of an id, or NULL. */
const char *vocab_token(const Vocab *v, int32_t id);

#endif
