/* UTF-8 validation, decoding and repair.
 *
 * Well-formed sequences are those of Unicode Table 3-7 (no overlongs, no surrogates,
 * nothing above U+10FFFF). Repair replaces each "maximal subpart" of an ill-formed
 * sequence with U+FFFD, the policy Python's bytes.decode(errors="replace") uses, so the
 * reference tokenizer sees the same text we do. */
#ifndef SENTEMBED_UTF8_H
#define SENTEMBED_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the longest well-formed prefix of s[0..n): n when all of it is valid. */
size_t utf8_valid_prefix(const uint8_t *s, size_t n);

/* Text as every reader of user text takes it: well-formed UTF-8 without a NUL (U+0000),
 * which a C string (and every JSON string cJSON decodes) would end at, cutting the text
 * short. The length of the longest such prefix of s[0..n). */
size_t utf8_text_prefix(const uint8_t *s, size_t n);

/* What is wrong at s[at] (at < n, from utf8_text_prefix), for a message: "a NUL character
 * (a zero byte) at byte 3 of the line, which no text may hold" or "invalid UTF-8 (byte
 * 0xE9 at byte 3 of the line)"; unit is "line" or "text". Returns buf. */
const char *utf8_text_problem(const uint8_t *s, size_t at, const char *unit, char *buf, size_t cap);

/* Writes s with every maximal ill-formed subpart, and every NUL, replaced by U+FFFD into
 * out, which must hold 3*n bytes; returns the bytes written. (BERT's tokenizer drops both
 * U+FFFD and NUL, so repaired text tokenizes as the reference tokenizes the raw bytes.) */
size_t utf8_repair(const uint8_t *s, size_t n, uint8_t *out);

/* Decodes the code point at s[*i] of a string known to be valid and advances *i. */
static inline uint32_t utf8_decode_valid(const uint8_t *s, size_t *i)
{
    uint32_t b = s[*i];
    if (b < 0x80) {
        *i += 1;
        return b;
    }
    if (b < 0xE0) {
        uint32_t cp = ((b & 0x1F) << 6) | (s[*i + 1] & 0x3F);
        *i += 2;
        return cp;
    }
    if (b < 0xF0) {
        uint32_t cp = ((b & 0x0F) << 12) | ((uint32_t)(s[*i + 1] & 0x3F) << 6) | (s[*i + 2] & 0x3F);
        *i += 3;
        return cp;
    }
    uint32_t cp = ((b & 0x07) << 18) | ((uint32_t)(s[*i + 1] & 0x3F) << 12) |
                  ((uint32_t)(s[*i + 2] & 0x3F) << 6) | (s[*i + 3] & 0x3F);
    *i += 4;
    return cp;
}

/* Encodes a scalar value; returns the byte count (1..4). */
static inline int utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
