/* safetensors: u64 little-endian header length N, N bytes of JSON header, data buffer.
 * Header: {"__metadata__": {str: str}?, NAME: {"dtype": D, "shape": [..], "data_offsets":
 * [begin, end]}, ...}, offsets relative to the data buffer. The checks follow the
 * reference implementation (huggingface/safetensors), except that gaps between tensors
 * and bytes after the last one are tolerated: they are harmless to a reader. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "host/atomic_file.h"
#include "host/safetensors.h"
#include "host/utf8.h"

/* Tensor data is used in place (memcpy of F32), and F16/BF16 are assembled from bytes. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this host is not"
#endif

/* The reference implementation refuses larger headers; so do we, which also bounds the
 * memory a hostile header can make the JSON parser allocate. */
#define ST_MAX_HEADER 100000000ULL
/* Integers in the header go through a double (cJSON); below 2^53 every one is exact. */
#define ST_MAX_JSON_INT 9007199254740992.0
/* Names in messages are clipped so the rest of the message survives a hostile name. */
#define ST_NAME_SHOWN 200

static const struct {
    const char *name;
    size_t size;
} ST_DTYPES[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2},  [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};
#define ST_N_DTYPES ((int)(sizeof ST_DTYPES / sizeof *ST_DTYPES))

const char *st_dtype_name(StDtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < ST_N_DTYPES ? ST_DTYPES[dtype].name : "?";
}

size_t st_dtype_size(StDtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < ST_N_DTYPES ? ST_DTYPES[dtype].size : 0;
}

static int tensor_fail(SeError *err, const char *path, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int tensor_fail(SeError *err, const char *path, const char *name, const char *fmt, ...)
{
    char what[SE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return se_fail(err, "%s: tensor \"%.*s\": %s", path, ST_NAME_SHOWN, name, what);
}

static void shape_format(char *out, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(out + n, cap - n, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (n < cap)
        snprintf(out + n, cap - n, "]");
}

/* Element count, or false when it does not fit in a size_t. */
static bool shape_numel(const int64_t *shape, int ndim, size_t *out)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > SIZE_MAX)
            return false;
        if (__builtin_mul_overflow(n, (size_t)shape[d], &n))
            return false;
    }
    *out = n;
    return true;
}

size_t st_numel(const StTensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double x = v->valuedouble;
    if (!(x >= 0 && x < ST_MAX_JSON_INT) || x != (double)(uint64_t)x)
        return false;
    *out = (uint64_t)x;
    return true;
}

static int parse_metadata(const cJSON *meta, const char *path, SeError *err)
{
    if (!cJSON_IsObject(meta))
        return se_fail(err, "%s: \"__metadata__\": expected an object of string values", path);
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_IsString(kv))
            return se_fail(err, "%s: \"__metadata__\" key \"%.*s\": expected a string value", path, ST_NAME_SHOWN,
                           kv->string);
    return 0;
}

static int parse_tensor(const cJSON *entry, StTensor *t, size_t data_len, const char *path, SeError *err)
{
    const char *name = t->name;
    if (!cJSON_IsObject(entry))
        return tensor_fail(err, path, name, "expected an object with \"dtype\", \"shape\" and \"data_offsets\"");

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!dtype)
        return tensor_fail(err, path, name, "missing \"dtype\"");
    if (!cJSON_IsString(dtype))
        return tensor_fail(err, path, name, "\"dtype\" must be a string such as \"F32\"");
    int k = 0;
    while (k < ST_N_DTYPES && strcmp(dtype->valuestring, ST_DTYPES[k].name) != 0)
        k++;
    if (k == ST_N_DTYPES)
        return tensor_fail(err, path, name,
                           "unknown dtype \"%.*s\" (expected F32, F16, BF16, F64, I64, I32, I16, I8, U8 or BOOL)",
                           ST_NAME_SHOWN, dtype->valuestring);
    t->dtype = (StDtype)k;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!shape)
        return tensor_fail(err, path, name, "missing \"shape\"");
    if (!cJSON_IsArray(shape))
        return tensor_fail(err, path, name, "\"shape\" must be an array of non-negative integers");
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return tensor_fail(err, path, name, "shape has %d dimensions, more than the %d supported", ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    int d = 0;
    for (const cJSON *v = shape->child; v; v = v->next, d++) {
        uint64_t dim;
        if (!json_uint(v, &dim))
            return tensor_fail(err, path, name, "shape[%d] is not a non-negative integer below 2^53", d);
        t->shape[d] = (int64_t)dim;
    }
    char shape_text[256];
    shape_format(shape_text, sizeof shape_text, t->shape, t->ndim);
    size_t numel, need;
    if (!shape_numel(t->shape, t->ndim, &numel) || __builtin_mul_overflow(numel, ST_DTYPES[k].size, &need))
        return tensor_fail(err, path, name, "element count of shape %s overflows", shape_text);

    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!offsets)
        return tensor_fail(err, path, name, "missing \"data_offsets\"");
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_uint(offsets->child, &begin) ||
        !json_uint(offsets->child->next, &end))
        return tensor_fail(err, path, name, "\"data_offsets\" must be [begin, end], two non-negative integers");
    if (begin > end)
        return tensor_fail(err, path, name, "data_offsets [%llu, %llu] are reversed (begin > end)",
                           (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return tensor_fail(err, path, name, "data_offsets end %llu is past the end of the data buffer (%zu bytes)",
                           (unsigned long long)end, data_len);
    if (end - begin != need)
        return tensor_fail(err, path, name, "data_offsets span %llu bytes but shape %s of %s needs %zu",
                           (unsigned long long)(end - begin), shape_text, ST_DTYPES[k].name, need);
    t->offset = (size_t)begin;
    t->nbytes = (size_t)need;
    return 0;
}

static int tensor_by_name(const void *a, const void *b)
{
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static int tensor_by_offset(const void *a, const void *b)
{
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Names are unique and no two tensors share a byte (empty tensors share none). */
static int check_layout(StFile *f, SeError *err)
{
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, tensor_by_name);
    for (int i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return se_fail(err, "%s: duplicate tensor name \"%.*s\"", f->path, ST_NAME_SHOWN, f->tensors[i].name);

    const StTensor **by_offset = se_xmalloc((size_t)f->n_tensors * sizeof *by_offset);
    for (int i = 0; i < f->n_tensors; i++)
        by_offset[i] = &f->tensors[i];
    qsort(by_offset, (size_t)f->n_tensors, sizeof *by_offset, tensor_by_offset);
    const StTensor *last = NULL; /* the non-empty tensor that reaches furthest so far */
    int rc = 0;
    for (int i = 0; i < f->n_tensors && rc == 0; i++) {
        const StTensor *t = by_offset[i];
        if (t->nbytes == 0)
            continue;
        if (last && t->offset < last->offset + last->nbytes)
            rc = se_fail(err, "%s: tensors \"%.*s\" [%zu, %zu) and \"%.*s\" [%zu, %zu) overlap in the data buffer",
                         f->path, ST_NAME_SHOWN, last->name, last->offset, last->offset + last->nbytes, ST_NAME_SHOWN,
                         t->name, t->offset, t->offset + t->nbytes);
        if (!last || t->offset + t->nbytes > last->offset + last->nbytes)
            last = t;
    }
    free(by_offset);
    return rc;
}

static int parse_header(StFile *f, const uint8_t *header, size_t n, SeError *err)
{
    const char *path = f->path;
    size_t valid = utf8_valid_prefix(header, n);
    if (valid != n)
        return se_fail(err, "%s: header is not valid UTF-8 (at byte %zu of %zu)", path, valid, n);
    /* Names are C strings: a NUL, raw or escaped, would cut "a\u0000b" down to "a". */
    for (size_t i = 0; i < n; i++) {
        if (header[i] == 0)
            return se_fail(err, "%s: header contains a NUL byte (at byte %zu of %zu)", path, i, n);
        if (header[i] == '\\' && i + 1 < n) {
            if (header[i + 1] == 'u' && i + 6 <= n && memcmp(header + i + 2, "0000", 4) == 0)
                return se_fail(err, "%s: header contains the escape \\u0000 (at byte %zu of %zu)", path, i, n);
            i++; /* the escaped character cannot start another escape */
        }
    }

    /* A NUL-terminated copy: the parser never reads past the mapping. */
    char *text = se_xmalloc(n + 1);
    memcpy(text, header, n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    int rc = 0;
    if (!root) {
        rc = se_fail(err, "%s: header is not valid JSON (error near byte %zu of %zu)", path,
                     end ? (size_t)(end - text) : (size_t)0, n);
        goto done;
    }
    size_t stop = (size_t)(end - text);
    while (stop < n && strchr(" \t\r\n", text[stop]))
        stop++;
    if (stop < n) {
        rc = se_fail(err, "%s: header has bytes after the JSON value (at byte %zu of %zu)", path, stop, n);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = se_fail(err, "%s: header is not a JSON object (expected {\"name\": {\"dtype\": ...}, ...})", path);
        goto done;
    }

    int n_entries = 0, n_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            n_meta++;
        else
            n_entries++;
    }
    if (n_meta > 1) {
        rc = se_fail(err, "%s: duplicate key \"__metadata__\"", path);
        goto done;
    }
    f->tensors = se_xcalloc((size_t)n_entries, sizeof *f->tensors);
    for (const cJSON *e = root->child; e && rc == 0; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            rc = parse_metadata(e, path, err);
            continue;
        }
        StTensor *t = &f->tensors[f->n_tensors++];
        t->name = se_xmalloc(strlen(e->string) + 1);
        strcpy(t->name, e->string);
        rc = parse_tensor(e, t, f->data_len, path, err);
    }
    if (rc == 0)
        rc = check_layout(f, err);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int open_file(StFile *f, const char *path, SeError *err)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return se_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return se_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return se_fail(err, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return se_fail(err, "%s: file is %lld bytes, too short for a safetensors file (at least 8 expected)", path,
                       (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return se_fail(err, "%s: file is too large to map", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return se_fail(err, "%s: cannot map: %s", path, strerror(map_errno));
    f->map = map;
    f->map_len = size;
    f->path = se_xmalloc(strlen(path) + 1);
    strcpy(f->path, path);

    const uint8_t *bytes = map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | bytes[i];
    int rc;
    if (n > size - 8)
        rc = se_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes follow the length)", path,
                     (unsigned long long)n, size - 8);
    else if (n > ST_MAX_HEADER)
        rc = se_fail(err, "%s: header length %llu exceeds the limit of %llu bytes", path, (unsigned long long)n,
                     ST_MAX_HEADER);
    else {
        f->data = bytes + 8 + n;
        f->data_len = size - 8 - (size_t)n;
        rc = parse_header(f, bytes + 8, (size_t)n, err);
    }
    if (rc)
        st_close(f);
    return rc;
}

int st_open(StFile *f, const char *path, SeError *err)
{
    SeContext ctx;
    se_context_push(&ctx, "reading", path, NULL);
    int rc = open_file(f, path, err);
    se_context_pop(&ctx);
    return rc;
}

const StTensor *st_find(const StFile *f, const char *name)
{
    StTensor key = {.name = (char *)name};
    return f->n_tensors ? bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, tensor_by_name) : NULL;
}

static float f32_from_bits(uint32_t bits)
{
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* IEEE binary16 -> binary32 is exact: every half value, subnormals included, is a normal
 * float (or zero, inf, nan, whose payload is kept). */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0x1F)
        return f32_from_bits(sign | 0x7F800000u | mant << 13);
    if (exp != 0)
        return f32_from_bits(sign | (exp + 127 - 15) << 23 | mant << 13);
    if (mant == 0)
        return f32_from_bits(sign);
    /* Subnormal mant * 2^-24: shift the leading 1 up to the implicit-bit position. */
    uint32_t shift = 0;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        shift++;
    }
    return f32_from_bits(sign | (127 - 14 - shift) << 23 | (mant & 0x3FFu) << 13);
}

/* Whether v[0..n) holds no NaN or infinity (all exponent bits set): branch-free, so the
 * compiler vectorizes it. */
static bool all_finite(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, v + i, sizeof bits);
        bad |= (bits & 0x7F800000u) == 0x7F800000u;
    }
    return !bad;
}

/* n elements of dtype at src into fp32 at out. */
static void convert_f32(StDtype dtype, const uint8_t *src, float *out, size_t n)
{
    switch (dtype) {
    case ST_F32:
        memcpy(out, src, n * sizeof *out);
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    default: /* BF16 is the top half of an fp32 */
        for (size_t i = 0; i < n; i++)
            out[i] = f32_from_bits((uint32_t)src[2 * i] << 16 | (uint32_t)src[2 * i + 1] << 24);
        break;
    }
}

int st_read_f32(const StFile *f, const StTensor *t, float *out, size_t count, SeError *err)
{
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return tensor_fail(err, f->path, t->name, "dtype %s cannot be read as fp32 (expected F32, F16 or BF16)",
                           st_dtype_name(t->dtype));
    size_t n = st_numel(t);
    if (n != count) {
        char shape_text[256];
        shape_format(shape_text, sizeof shape_text, t->shape, t->ndim);
        return tensor_fail(err, f->path, t->name, "expected %zu elements, found %zu (shape %s)", count, n,
                           shape_text);
    }
    /* converted and checked in blocks that stay in cache: one pass over memory */
    enum { BLOCK = 1 << 14 };
    const size_t width = st_dtype_size(t->dtype);
    bool finite = true;
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t m = n - i < BLOCK ? n - i : BLOCK;
        convert_f32(t->dtype, f->data + t->offset + i * width, out + i, m);
        finite &= all_finite(out + i, m);
    }
    if (!finite) {
        size_t i = 0;
        while (isfinite(out[i]))
            i++;
        return tensor_fail(err, f->path, t->name, "element %zu is %s (weights must be finite numbers: the model "
                           "was saved from a run that diverged, or the file is damaged)", i,
                           isnan(out[i]) ? "NaN" : "infinite");
    }
    return 0;
}

void st_close(StFile *f)
{
    if (f->map)
        munmap(f->map, f->map_len);
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* ---- writing ---- */

typedef struct {
    char *p;
    size_t len, cap;
} StBuf;

static void buf_append(StBuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = se_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(StBuf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* cJSON escapes the string exactly as the reference writer (serde_json) does. */
static void buf_json_string(StBuf *b, const char *s)
{
    cJSON *item = cJSON_CreateString(s);
    char *quoted = item ? cJSON_PrintUnformatted(item) : NULL;
    if (!quoted)
        se_die("out of memory (escaping a JSON string)");
    buf_puts(b, quoted);
    cJSON_free(quoted);
    cJSON_Delete(item);
}

static int by_name_ptr(const void *a, const void *b)
{
    return strcmp((*(const StWriteTensor *const *)a)->name, (*(const StWriteTensor *const *)b)->name);
}

static bool valid_utf8(const char *s) { return utf8_valid_prefix((const uint8_t *)s, strlen(s)) == strlen(s); }

/* The header for tensors in order[], or -1 with a message. */
static int write_header(StBuf *h, const StWriteTensor *const *order, int n, size_t *nbytes,
                        const char *const *metadata, const char *path, SeError *err)
{
    buf_puts(h, "{");
    if (metadata && metadata[0]) {
        buf_puts(h, "\"__metadata__\":{");
        for (int i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1])
                return se_fail(err, "%s: metadata key \"%s\" has no value", path, metadata[i]);
            if (!valid_utf8(metadata[i]) || !valid_utf8(metadata[i + 1]))
                return se_fail(err, "%s: metadata key \"%s\": not valid UTF-8", path, metadata[i]);
            for (int j = 0; j < i; j += 2)
                if (strcmp(metadata[j], metadata[i]) == 0)
                    return se_fail(err, "%s: duplicate metadata key \"%s\"", path, metadata[i]);
            if (i)
                buf_puts(h, ",");
            buf_json_string(h, metadata[i]);
            buf_puts(h, ":");
            buf_json_string(h, metadata[i + 1]);
        }
        buf_puts(h, "}");
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = order[i];
        if (i && strcmp(order[i - 1]->name, t->name) == 0)
            return se_fail(err, "%s: duplicate tensor name \"%s\"", path, t->name);
        if (strcmp(t->name, "__metadata__") == 0 || !valid_utf8(t->name))
            return tensor_fail(err, path, t->name, "not a valid tensor name");
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return tensor_fail(err, path, t->name, "ndim %d is outside 0..%d", t->ndim, ST_MAX_DIMS);
        size_t numel, next;
        if (!shape_numel(t->shape, t->ndim, &numel) || __builtin_mul_overflow(numel, sizeof(float), &nbytes[i]) ||
            __builtin_add_overflow(offset, nbytes[i], &next))
            return tensor_fail(err, path, t->name, "shape has a negative dimension or its size overflows");
        if (!t->data && numel)
            return tensor_fail(err, path, t->name, "data is NULL");
        buf_puts(h, h->len > 1 ? "," : "");
        buf_json_string(h, t->name);
        buf_puts(h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            char num[32];
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            buf_puts(h, num);
        }
        char offs[64];
        snprintf(offs, sizeof offs, "],\"data_offsets\":[%zu,%zu]}", offset, next);
        buf_puts(h, offs);
        offset = next;
    }
    buf_puts(h, "}");
    /* The data buffer starts 8-byte aligned, as the reference writer arranges. */
    while (h->len % 8)
        buf_puts(h, " ");
    return 0;
}

int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *metadata, SeError *err)
{
    if (n < 0)
        return se_fail(err, "%s: negative tensor count %d", path, n);
    const StWriteTensor **order = se_xmalloc((size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) {
        if (!tensors[i].name) {
            free(order);
            return se_fail(err, "%s: tensor %d has no name", path, i);
        }
        order[i] = &tensors[i];
    }
    qsort(order, (size_t)n, sizeof *order, by_name_ptr);
    size_t *nbytes = se_xmalloc((size_t)n * sizeof *nbytes);
    StBuf h = {0};
    int rc = write_header(&h, order, n, nbytes, metadata, path, err);
    if (rc)
        goto done;

    AtomicFile out;
    if ((rc = atomic_open(&out, path, err)))
        goto done;
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    bool ok = fwrite(len_le, 1, 8, out.f) == 8 && fwrite(h.p, 1, h.len, out.f) == h.len;
    for (int i = 0; ok && i < n; i++)
        ok = nbytes[i] == 0 || fwrite(order[i]->data, 1, nbytes[i], out.f) == nbytes[i];
    rc = atomic_commit(&out, !ok, err);
done:
    free(h.p);
    free(nbytes);
    free(order);
    return rc;
}
