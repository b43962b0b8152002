/* Case mapping and canonical decomposition through utf8proc, with the exceptions where
 * the reference tokenizer's Unicode version disagrees (see unicode_tables.h). */
#include "tokenizer/unicode_tables.h"

#include <utf8proc.h>

static const UniMapping *find_exception(const UniMapping *table, size_t count, uint32_t cp)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < table[mid].cp)
            hi = mid;
        else if (cp > table[mid].cp)
            lo = mid + 1;
        else
            return &table[mid];
    }
    return NULL;
}

static int copy_mapping(const UniMapping *m, uint32_t *out)
{
    for (int i = 0; i < m->count; i++)
        out[i] = m->seq[i];
    return m->count;
}

int uni_lower(uint32_t cp, uint32_t out[3])
{
    const UniMapping *m = find_exception(UNI_LOWER_EXCEPTIONS, UNI_LOWER_EXCEPTIONS_COUNT, cp);
    if (m)
        return copy_mapping(m, out);
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

int uni_decompose(uint32_t cp, uint32_t out[UNI_MAX_DECOMPOSITION])
{
    const UniMapping *m = find_exception(UNI_NFD_EXCEPTIONS, UNI_NFD_EXCEPTIONS_COUNT, cp);
    if (m)
        return copy_mapping(m, out);
    utf8proc_int32_t buf[UNI_MAX_DECOMPOSITION];
    int last_boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, UNI_MAX_DECOMPOSITION,
                                                 UTF8PROC_DECOMPOSE, &last_boundclass);
    if (n <= 0 || n > UNI_MAX_DECOMPOSITION) { /* cannot happen for valid scalar values */
        out[0] = cp;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (int)n;
}

int uni_combining_class(uint32_t cp)
{
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}
