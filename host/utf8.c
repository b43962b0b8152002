#include <stdio.h>
#include <string.h>

#include "host/utf8.h"

/* Length of the well-formed sequence starting at s[0], or 0 if ill-formed; *bad_len gets
 * the length of the maximal subpart to replace in that case (at least 1). */
static size_t sequence_length(const uint8_t *s, size_t n, size_t *bad_len)
{
    uint8_t b = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        need = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        *bad_len = 1;
        return 0;
    }
    for (size_t k = 1; k < need; k++) {
        uint8_t c = k < n ? s[k] : 0;
        uint8_t klo = k == 1 ? lo : 0x80, khi = k == 1 ? hi : 0xBF;
        if (k >= n || c < klo || c > khi) {
            *bad_len = k;
            return 0;
        }
    }
    return need;
}

size_t utf8_valid_prefix(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { /* fast path for ASCII runs */
            i++;
            continue;
        }
        size_t bad = 0, len = sequence_length(s + i, n - i, &bad);
        if (!len)
            return i;
        i += len;
    }
    return n;
}

size_t utf8_text_prefix(const uint8_t *s, size_t n)
{
    const uint8_t *nul = memchr(s, 0, n);
    return utf8_valid_prefix(s, nul ? (size_t)(nul - s) : n);
}

const char *utf8_text_problem(const uint8_t *s, size_t at, const char *unit, char *buf, size_t cap)
{
    if (s[at] == 0)
        snprintf(buf, cap, "a NUL character (a zero byte) at byte %zu of the %s, which no text may hold", at + 1,
                 unit);
    else
        snprintf(buf, cap, "invalid UTF-8 (byte 0x%02X at byte %zu of the %s)", s[at], at + 1, unit);
    return buf;
}

size_t utf8_repair(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t bad = 1, len = s[i] ? sequence_length(s + i, n - i, &bad) : 0;
        if (len) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            out[o++] = 0xEF;
            out[o++] = 0xBF;
            out[o++] = 0xBD;
            i += bad;
        }
    }
    return o;
}
