/* Encoding: the one-pass normalizer, pre-tokenizer and WordPiece described in
 * tokenizer.h, the special-token splitter, BERT post-processing and truncation, and the
 * parallel batch encoder. Loading lives in tokenizer_load.c. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "host/utf8.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_tables.h"

enum { ASCII_DROP, ASCII_SPACE, ASCII_PUNCT, ASCII_WORD };

/* ---- buffers ------------------------------------------------------------------------ */

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    *p = se_xrealloc(*p, c * elem);
    *cap = c;
}

static inline void emit(TokScratch *s, int32_t id)
{
    if (s->len == s->cap)
        grow((void **)&s->ids, &s->cap, s->len + 1, sizeof *s->ids);
    s->ids[s->len++] = id;
}

/* ---- WordPiece -------------------------------------------------------------------------- */

/* Greedy longest-match-first over the current word; the whole word becomes [UNK] when
 * some position has no matching piece. */
static void wordpiece(const Tokenizer *t, TokScratch *s)
{
    const uint8_t *w = s->word;
    size_t n = s->word_len, start = 0, mark = s->len;
    const char *pool = t->vocab.pool;
    while (start < n) {
        const VocabTable *table = start == 0 ? &t->vocab.all : &t->vocab.continuation;
        size_t end = n - start > table->max_len ? start + table->max_len : n;
        while (end < n && (w[end] & 0xC0) == 0x80) /* a piece ends on a character boundary */
            end--;
        int32_t id = -1;
        while (end > start) {
            id = vocab_lookup(table, pool, w + start, end - start);
            if (id >= 0)
                break;
            do
                end--;
            while (end > start && (w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            s->len = mark;
            emit(s, t->unk_id);
            return;
        }
        emit(s, id);
        start = end;
    }
}

static inline void word_end(const Tokenizer *t, TokScratch *s)
{
    if (!s->word_chars)
        return;
    if (s->word_chars > (size_t)t->max_input_chars_per_word)
        emit(s, t->unk_id);
    else
        wordpiece(t, s);
    s->word_len = 0;
    s->word_chars = 0;
}

static inline void word_push_byte(const Tokenizer *t, TokScratch *s, uint8_t byte)
{
    /* Past the character limit the word is [UNK] whatever follows: stop storing it. */
    if (++s->word_chars > (size_t)t->max_input_chars_per_word)
        return;
    if (s->word_len == s->word_cap)
        grow((void **)&s->word, &s->word_cap, s->word_len + 1, 1);
    s->word[s->word_len++] = byte;
}

static void word_push_cp(const Tokenizer *t, TokScratch *s, uint32_t cp)
{
    if (++s->word_chars > (size_t)t->max_input_chars_per_word)
        return;
    grow((void **)&s->word, &s->word_cap, s->word_len + 4, 1);
    s->word_len += (size_t)utf8_encode(cp, s->word + s->word_len);
}

/* ---- normalizer stages for one (non-fast-path) code point -------------------------------- */

/* Pre-tokenizer: whitespace ends a word, punctuation is a word of its own. */
static void pretokenize_cp(const Tokenizer *t, TokScratch *s, uint32_t cp)
{
    if (uni_is_whitespace(cp)) {
        word_end(t, s);
    } else if (uni_is_punct(cp)) {
        word_end(t, s);
        word_push_cp(t, s, cp);
        word_end(t, s);
    } else {
        word_push_cp(t, s, cp);
    }
}

static void lowercase_cp(const Tokenizer *t, TokScratch *s, uint32_t cp)
{
    if (!t->norm.lowercase) {
        pretokenize_cp(t, s, cp);
        return;
    }
    uint32_t lower[3];
    int n = uni_lower(cp, lower);
    for (int i = 0; i < n; i++)
        pretokenize_cp(t, s, lower[i]);
}

/* Canonical ordering: a run of combining marks is stably sorted by combining class before
 * the nonspacing ones are dropped (the order matters for the marks that survive). */
static void flush_marks(const Tokenizer *t, TokScratch *s)
{
    uint32_t *m = s->marks;
    size_t n = s->marks_len;
    for (size_t i = 1; i < n; i++) {
        uint32_t cp = m[i];
        int ccc = uni_combining_class(cp);
        size_t j = i;
        while (j > 0 && uni_combining_class(m[j - 1]) > ccc) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = cp;
    }
    s->marks_len = 0;
    for (size_t i = 0; i < n; i++)
        if (!uni_is_nonspacing(m[i]))
            lowercase_cp(t, s, m[i]);
}

static void strip_accents_cp(const Tokenizer *t, TokScratch *s, uint32_t cp)
{
    if (!t->strip) {
        lowercase_cp(t, s, cp);
        return;
    }
    uint32_t d[UNI_MAX_DECOMPOSITION];
    int n = uni_decompose(cp, d);
    for (int i = 0; i < n; i++) {
        if (uni_combining_class(d[i]) == 0) {
            if (s->marks_len)
                flush_marks(t, s);
            if (!uni_is_nonspacing(d[i]))
                lowercase_cp(t, s, d[i]);
        } else {
            if (s->marks_len == s->marks_cap)
                grow((void **)&s->marks, &s->marks_cap, s->marks_len + 1, sizeof *s->marks);
            s->marks[s->marks_len++] = d[i];
        }
    }
}

static void normalize_cp(const Tokenizer *t, TokScratch *s, uint32_t cp)
{
    if (t->norm.clean_text) {
        if (uni_is_control(cp))
            return;
        if (uni_is_whitespace(cp))
            cp = ' ';
    }
    if (t->norm.handle_chinese_chars && uni_is_cjk(cp)) {
        strip_accents_cp(t, s, ' ');
        strip_accents_cp(t, s, cp);
        strip_accents_cp(t, s, ' ');
        return;
    }
    strip_accents_cp(t, s, cp);
}

/* ---- segments and special tokens ---------------------------------------------------------- */

/* Text between special tokens. ASCII bytes take a table-driven path; everything else goes
 * through the stages above. Stops early once s->limit ids exist (truncation would drop
 * the rest anyway). */
static void encode_segment(const Tokenizer *t, TokScratch *s, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && s->len < s->limit) {
        uint8_t b = p[i];
        if (b < 0x80) {
            i++;
            uint8_t cls = t->ascii_class[b];
            if (cls == ASCII_DROP)
                continue; /* removed before NFD: it does not end a run of marks */
            if (s->marks_len)
                flush_marks(t, s);
            if (cls == ASCII_WORD) {
                word_push_byte(t, s, t->norm.lowercase && b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b);
            } else {
                word_end(t, s);
                if (cls == ASCII_PUNCT) {
                    word_push_byte(t, s, b);
                    word_end(t, s);
                }
            }
        } else {
            normalize_cp(t, s, utf8_decode_valid(p, &i));
        }
    }
    if (s->marks_len)
        flush_marks(t, s);
    word_end(t, s);
}

/* Longest special token starting at p[0], or NULL. */
static const TokSpecial *match_special(const Tokenizer *t, const uint8_t *p, size_t n)
{
    const TokSpecial *best = NULL;
    for (int k = 0; k < t->n_specials; k++) {
        const TokSpecial *sp = &t->specials[k];
        if (sp->len <= n && (!best || sp->len > best->len) && memcmp(p, sp->content, sp->len) == 0)
            best = sp;
    }
    return best;
}

/* Appends the ids of one text (no [CLS]/[SEP]) to s->ids. Special tokens are found
 * leftmost-longest in the raw text, as the reference's added-vocabulary matcher does. */
static void encode_text(const Tokenizer *t, TokScratch *s, const uint8_t *p, size_t n)
{
    size_t seg = 0, i = 0;
    while (t->n_specials && i < n && s->len < s->limit) {
        if (!t->special_first_byte[p[i]]) {
            i++;
            continue;
        }
        const TokSpecial *sp = match_special(t, p + i, n - i);
        if (!sp) {
            i++;
            continue;
        }
        encode_segment(t, s, p + seg, i - seg);
        if (s->len < s->limit)
            emit(s, sp->id);
        i += sp->len;
        seg = i;
    }
    encode_segment(t, s, p + seg, n - seg);
}

/* ---- post-processing -------------------------------------------------------------------- */

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

size_t tok_encode(const Tokenizer *t, TokScratch *s, const char *a, size_t a_len, const char *b,
                  size_t b_len, size_t max_length, int32_t *ids, int32_t *type_ids)
{
    s->len = 0;
    s->word_len = s->word_chars = s->marks_len = 0;
    size_t n1, n2 = 0, o = 0;
    if (!b) {
        size_t budget = max_length >= 2 ? max_length - 2 : 0;
        s->limit = budget;
        encode_text(t, s, (const uint8_t *)a, a_len);
        n1 = min_size(s->len, budget);
    } else {
        /* longest_first needs both full lengths: encode without a limit. */
        size_t budget = max_length >= 3 ? max_length - 3 : 0;
        s->limit = SIZE_MAX;
        encode_text(t, s, (const uint8_t *)a, a_len);
        size_t len_a = s->len;
        encode_text(t, s, (const uint8_t *)b, b_len);
        size_t len_b = s->len - len_a;
        n1 = len_a;
        n2 = len_b;
        if (len_a + len_b > budget) { /* the reference's three cases, verbatim */
            size_t short_len = len_a, long_len = len_b;
            bool swap = short_len > long_len;
            if (swap) {
                short_len = len_b;
                long_len = len_a;
            }
            if (short_len > budget)
                long_len = short_len;
            else
                long_len = short_len > budget - short_len ? short_len : budget - short_len;
            if (short_len + long_len > budget) {
                short_len = budget / 2;
                long_len = short_len + budget % 2;
            }
            n1 = min_size(len_a, swap ? long_len : short_len);
            n2 = min_size(len_b, swap ? short_len : long_len);
        }
        /* move b's kept ids right behind a's kept ids */
        if (n2)
            memmove(s->ids + n1, s->ids + len_a, n2 * sizeof *s->ids);
    }
    if (ids) {
        ids[o++] = t->cls_id;
        for (size_t k = 0; k < n1; k++)
            ids[o++] = s->ids[k];
        ids[o++] = t->sep_id;
        if (b) {
            for (size_t k = 0; k < n2; k++)
                ids[o++] = s->ids[n1 + k];
            ids[o++] = t->sep_id;
        }
    } else {
        o = n1 + 2 + (b ? n2 + 1 : 0);
    }
    if (type_ids) {
        size_t first = n1 + 2;
        for (size_t k = 0; k < o; k++)
            type_ids[k] = k < first ? 0 : 1;
    }
    return o;
}

void tok_scratch_free(TokScratch *s)
{
    free(s->ids);
    free(s->word);
    free(s->marks);
    free(s->arena_ids);
    free(s->arena_types);
    memset(s, 0, sizeof *s);
}

/* ---- batches -------------------------------------------------------------------------------- */

void tok_encode_batch(const Tokenizer *t, TokBatch *out, const char *const *a_texts, const size_t *a_lens,
                      const char *const *b_texts, const size_t *b_lens, size_t n, size_t max_length,
                      int threads)
{
    int nt = threads > 0 ? threads : omp_get_max_threads();
    if ((size_t)nt > n)
        nt = n ? (int)n : 1;
    if (out->n_scratch < nt) {
        out->scratch = se_xrealloc(out->scratch, (size_t)nt * sizeof *out->scratch);
        memset(out->scratch + out->n_scratch, 0, (size_t)(nt - out->n_scratch) * sizeof *out->scratch);
        out->n_scratch = nt;
    }
    grow((void **)&out->offsets, &out->n_cap, n + 1, sizeof *out->offsets);
    out->n = n;
    size_t *lens = out->offsets + 1; /* lengths first, prefix-summed below */

    /* Thread k encodes the k-th contiguous block into its own arena, so the arenas laid end
     * to end are the batch in order. */
#pragma omp parallel num_threads(nt)
    {
        int k = omp_get_thread_num();
        TokScratch *s = &out->scratch[k];
        size_t lo = n * (size_t)k / (size_t)nt, hi = n * (size_t)(k + 1) / (size_t)nt;
        s->arena_len = 0;
        for (size_t i = lo; i < hi; i++) {
            size_t need = s->arena_len + max_length;
            if (need > s->arena_cap) {
                size_t cap = s->arena_cap;
                grow((void **)&s->arena_ids, &cap, need, sizeof *s->arena_ids);
                cap = s->arena_cap;
                grow((void **)&s->arena_types, &cap, need, sizeof *s->arena_types);
                s->arena_cap = cap;
            }
            lens[i] = tok_encode(t, s, a_texts[i], a_lens[i], b_texts ? b_texts[i] : NULL,
                                 b_texts ? b_lens[i] : 0, max_length, s->arena_ids + s->arena_len,
                                 s->arena_types + s->arena_len);
            s->arena_len += lens[i];
        }
    }
    out->offsets[0] = 0;
    for (size_t i = 0; i < n; i++)
        out->offsets[i + 1] += out->offsets[i];
    size_t total = out->offsets[n];
    if (total > out->ids_cap) {
        size_t cap = out->ids_cap;
        grow((void **)&out->ids, &cap, total, sizeof *out->ids);
        cap = out->ids_cap;
        grow((void **)&out->type_ids, &cap, total, sizeof *out->type_ids);
        out->ids_cap = cap;
    }
#pragma omp parallel num_threads(nt)
    {
        int k = omp_get_thread_num();
        TokScratch *s = &out->scratch[k];
        size_t at = out->offsets[n * (size_t)k / (size_t)nt];
        memcpy(out->ids + at, s->arena_ids, s->arena_len * sizeof *out->ids);
        memcpy(out->type_ids + at, s->arena_types, s->arena_len * sizeof *out->type_ids);
    }
}

void tok_batch_free(TokBatch *b)
{
    for (int k = 0; k < b->n_scratch; k++)
        tok_scratch_free(&b->scratch[k]);
    free(b->scratch);
    free(b->ids);
    free(b->type_ids);
    free(b->offsets);
    memset(b, 0, sizeof *b);
}
