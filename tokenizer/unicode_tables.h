/* Character classes of the reference BERT tokenizer (Hugging Face `tokenizers`).
 *
 * The range tables are generated (tokenizer/unicode_tables.c, scripts/gen_unicode_tables.py)
 * because the reference classifies characters with tables from an older Unicode version than
 * utf8proc's; the script explains which characters differ. Case mapping, decomposition and
 * combining classes come from utf8proc, corrected by the small exception lists. */
#ifndef SENTEMBED_UNICODE_TABLES_H
#define SENTEMBED_UNICODE_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t first, last; /* inclusive */
} UniRange;

typedef struct {
    uint32_t cp;
    int count;        /* 1..3 code points */
    uint32_t seq[3];
} UniMapping;

extern const UniRange UNI_CONTROL[], UNI_WHITESPACE[], UNI_PUNCT[], UNI_NONSPACING[], UNI_CJK[];
extern const size_t UNI_CONTROL_COUNT, UNI_WHITESPACE_COUNT, UNI_PUNCT_COUNT, UNI_NONSPACING_COUNT,
    UNI_CJK_COUNT;
extern const UniMapping UNI_LOWER_EXCEPTIONS[], UNI_NFD_EXCEPTIONS[];
extern const size_t UNI_LOWER_EXCEPTIONS_COUNT, UNI_NFD_EXCEPTIONS_COUNT;

/* Binary search of a sorted, non-overlapping range table. */
static inline bool uni_in(const UniRange *table, size_t count, uint32_t cp)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < table[mid].first)
            hi = mid;
        else if (cp > table[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Removed by clean_text: the reference's Cc/Cf/Co, NUL and U+FFFD (not \t \n \r). */
static inline bool uni_is_control(uint32_t cp) { return uni_in(UNI_CONTROL, UNI_CONTROL_COUNT, cp); }
/* Rust's char::is_whitespace (the Unicode White_Space property). */
static inline bool uni_is_whitespace(uint32_t cp) { return uni_in(UNI_WHITESPACE, UNI_WHITESPACE_COUNT, cp); }
/* ASCII punctuation or the reference's P* categories. */
static inline bool uni_is_punct(uint32_t cp) { return uni_in(UNI_PUNCT, UNI_PUNCT_COUNT, cp); }
/* The reference's Mn category, dropped by strip_accents after NFD. */
static inline bool uni_is_nonspacing(uint32_t cp) { return uni_in(UNI_NONSPACING, UNI_NONSPACING_COUNT, cp); }
/* CJK ideograph blocks that handle_chinese_chars surrounds with spaces. */
static inline bool uni_is_cjk(uint32_t cp) { return uni_in(UNI_CJK, UNI_CJK_COUNT, cp); }

/* Full lowercase of one code point as Rust's char::to_lowercase gives it; returns the count. */
int uni_lower(uint32_t cp, uint32_t out[3]);
/* Canonical decomposition (NFD, not yet reordered) of one code point; returns the count.
 * Up to UNI_MAX_DECOMPOSITION code points. */
#define UNI_MAX_DECOMPOSITION 18
int uni_decompose(uint32_t cp, uint32_t out[UNI_MAX_DECOMPOSITION]);
/* Canonical combining class (0 for starters). */
int uni_combining_class(uint32_t cp);

#endif
