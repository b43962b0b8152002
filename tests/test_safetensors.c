/* host/safetensors: round trip through st_write/st_open, exact F16/BF16 conversion checked
 * against values computed from the formats' definitions, and one hostile file per check
 * of the header validation. */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/safetensors.h"
#include "tests/check.h"

static char dir[] = "/tmp/sentembed_test_safetensors_XXXXXX";

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

/* Writes "u64 N, header, data" as given. */
static void write_raw(const char *path, uint64_t n, const char *header, size_t header_len, const void *data,
                      size_t data_len)
{
    FILE *f = fopen(path, "wb");
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, header_len, f);
    if (data_len)
        fwrite(data, 1, data_len, f);
    fclose(f);
}

static void write_st(const char *path, const char *header, const void *data, size_t data_len)
{
    write_raw(path, strlen(header), header, strlen(header), data, data_len);
}

static uint32_t f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static bool same_bits(const float *a, const float *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static void test_roundtrip(void)
{
    float a[6] = {1.0f, -2.5f, 3.25f, 1e-40f /* subnormal */, -0.0f, 6.0f};
    float b[5] = {0.1f, 0.2f, 0.3f, INFINITY, -INFINITY};
    float scalar = 42.5f;
    float c[24];
    for (int i = 0; i < 24; i++)
        c[i] = (float)i * 0.125f - 1.0f;
    /* Names out of order: the writer sorts them. */
    StWriteTensor ts[] = {
        {"encoder.b", b, 1, {5}},
        {"a.weight", a, 2, {2, 3}},
        {"scalar", &scalar, 0, {0}},
        {"empty", NULL, 2, {0, 7}},
        {"c", c, 4, {2, 3, 2, 2}},
    };
    const char *meta[] = {"format", "pt", "note", "quote \" and \\ and \n", NULL};
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    SeError err = {{0}};
    CHECK(st_write(path, ts, 5, meta, &err) == 0, "%s", err.msg);

    StFile f;
    CHECK(st_open(&f, path, &err) == 0, "%s", err.msg);
    CHECK(f.n_tensors == 5, "n_tensors %d", f.n_tensors);
    const char *sorted[] = {"a.weight", "c", "empty", "encoder.b", "scalar"};
    for (int i = 0; i < f.n_tensors && i < 5; i++)
        CHECK(strcmp(f.tensors[i].name, sorted[i]) == 0, "tensor %d is %s", i, f.tensors[i].name);
    /* The data buffer starts 8-aligned in the file; tensors are packed in name order. */
    CHECK((size_t)(f.data - (const uint8_t *)f.map) % 8 == 0, "data buffer not 8-aligned");
    size_t expect_offset = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        CHECK(f.tensors[i].offset == expect_offset, "%s at %zu, expected %zu", f.tensors[i].name,
              f.tensors[i].offset, expect_offset);
        CHECK(f.tensors[i].offset % 4 == 0, "%s misaligned", f.tensors[i].name);
        expect_offset += f.tensors[i].nbytes;
    }
    CHECK(f.data_len == expect_offset, "data_len %zu", f.data_len);

    const StTensor *t = st_find(&f, "a.weight");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "a.weight header");
    float out[24];
    CHECK(t && st_read_f32(&f, t, out, 6, &err) == 0 && same_bits(out, a, 6), "a.weight values %s", err.msg);
    t = st_find(&f, "encoder.b");
    CHECK(t && t->ndim == 1 && t->shape[0] == 5, "encoder.b header");
    /* written as given, refused when read: weights must be finite */
    CHECK(t && st_read_f32(&f, t, out, 5, &err) == -1 && strstr(err.msg, path) &&
              strstr(err.msg, "tensor \"encoder.b\": element 3 is infinite"),
          "encoder.b: %s", err.msg);
    t = st_find(&f, "scalar");
    CHECK(t && t->ndim == 0 && st_numel(t) == 1 && t->nbytes == 4, "scalar header");
    CHECK(t && st_read_f32(&f, t, out, 1, &err) == 0 && f32_bits(out[0]) == f32_bits(scalar), "scalar value");
    t = st_find(&f, "empty");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 7 && st_numel(t) == 0 && t->nbytes == 0,
          "empty header");
    CHECK(t && st_read_f32(&f, t, NULL, 0, &err) == 0, "empty read: %s", err.msg);
    t = st_find(&f, "c");
    CHECK(t && t->ndim == 4 && t->shape[3] == 2 && st_read_f32(&f, t, out, 24, &err) == 0 && same_bits(out, c, 24),
          "c values");
    CHECK(st_find(&f, "missing") == NULL, "found a missing tensor");
    st_close(&f);

    /* Header text as the reference writer would produce it (sorted, compact, padded). */
    FILE *fp = fopen(path, "rb");
    uint8_t len[8];
    char header[1024] = {0};
    CHECK(fread(len, 1, 8, fp) == 8, "read length");
    size_t n = len[0] | (size_t)len[1] << 8;
    CHECK(n % 8 == 0 && n < sizeof header && fread(header, 1, n, fp) == n, "header length %zu", n);
    fclose(fp);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"quote \\\" and \\\\ and \\n\"},"
                       "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},";
    CHECK(strncmp(header, want, strlen(want)) == 0, "header starts %.120s", header);
    CHECK(strstr(header, "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[140,144]}}") != NULL,
          "header: %s", header);

    /* No temporary file is left behind, and overwriting works. */
    CHECK(st_write(path, ts, 2, NULL, &err) == 0, "%s", err.msg);
    DIR *d = opendir(dir);
    int leftovers = 0;
    for (struct dirent *e; (e = readdir(d));)
        leftovers += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    CHECK(leftovers == 0, "%d temporary files left", leftovers);
    CHECK(st_open(&f, path, &err) == 0 && f.n_tensors == 2, "overwrite: %s", err.msg);
    st_close(&f);

    /* No tensors at all: an empty data buffer. */
    CHECK(st_write(path, NULL, 0, NULL, &err) == 0, "%s", err.msg);
    CHECK(st_open(&f, path, &err) == 0 && f.n_tensors == 0 && f.data_len == 0, "empty file: %s", err.msg);
    CHECK(st_find(&f, "a.weight") == NULL, "find in empty file");
    st_close(&f);
    unlink(path);

    const char *nowhere = "/nonexistent_sentembed_dir/sub/model.safetensors";
    CHECK(st_write(nowhere, ts, 1, NULL, &err) == -1 && strstr(err.msg, nowhere), "message: %s", err.msg);
    StWriteTensor dup[] = {{"x", a, 1, {1}}, {"x", b, 1, {1}}};
    tmp_path(path, sizeof path, "dup.safetensors");
    CHECK(st_write(path, dup, 2, NULL, &err) == -1 && strstr(err.msg, "duplicate tensor name"), "message: %s",
          err.msg);
    CHECK(access(path, F_OK) != 0, "failed write left %s", path);
}

/* binary16: sign, 5-bit exponent (bias 15), 10-bit fraction. */
static double f16_reference(uint16_t h)
{
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* bfloat16: sign, 8-bit exponent (bias 127), 7-bit fraction. */
static double bf16_reference(uint16_t h)
{
    int e = (h >> 7) & 0xFF, m = h & 0x7F;
    double v = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return h & 0x8000 ? -v : v;
}

static bool matches(float got, double want)
{
    return f32_bits(got) == f32_bits((float)want); /* exact, -0 included */
}

/* Every one of the 65536 bit patterns of F16 and of BF16: the finite ones convert exactly
 * (the others, all exponent bits set, are written as 0 here; test_non_finite refuses them). */
static void test_half_conversions(void)
{
    static uint8_t bytes[2 * 65536];
    static float out[65536];
    const char *dtypes[] = {"F16", "BF16"};
    for (int k = 0; k < 2; k++) {
        const uint16_t exponent = k ? 0x7F80 : 0x7C00;
        for (uint32_t i = 0; i < 65536; i++) {
            uint16_t v = (i & exponent) == exponent ? 0 : (uint16_t)i;
            bytes[2 * i] = (uint8_t)v;
            bytes[2 * i + 1] = (uint8_t)(v >> 8);
        }
        char header[128], path[512];
        snprintf(header, sizeof header, "{\"h\":{\"dtype\":\"%s\",\"shape\":[256,256],\"data_offsets\":[0,131072]}}",
                 dtypes[k]);
        tmp_path(path, sizeof path, "half.safetensors");
        write_st(path, header, bytes, sizeof bytes);
        StFile f;
        SeError err = {{0}};
        CHECK(st_open(&f, path, &err) == 0, "%s", err.msg);
        const StTensor *t = st_find(&f, "h");
        CHECK(t && t->dtype == (k ? ST_BF16 : ST_F16), "%s dtype", dtypes[k]);
        CHECK(t && st_read_f32(&f, t, out, 65536, &err) == 0, "%s", err.msg);
        int bad = 0;
        for (uint32_t i = 0; i < 65536; i++) {
            double want = k ? bf16_reference((uint16_t)i) : f16_reference((uint16_t)i);
            if (!isfinite(want))
                continue;
            if (!matches(out[i], want) && bad++ < 5)
                fprintf(stderr, "%s 0x%04x -> %a, expected %a\n", dtypes[k], i, out[i], want);
        }
        CHECK(bad == 0, "%s: %d patterns converted wrongly", dtypes[k], bad);
        st_close(&f);
        unlink(path);
    }
    /* Spot values written out by hand, so the references above are checked too. */
    CHECK(out[0x3F80] == 1.0f && out[0xC000] == -2.0f && out[0x0001] == ldexpf(1, -133), "bf16 spot values");
}

static void test_half_spot_values(void)
{
    const uint16_t h[] = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000};
    const float want[] = {1.0f, -2.0f, 0x1p-24f, 0x3FFp-24f, 0x1p-14f, 65504.0f, -0.0f};
    char path[512];
    tmp_path(path, sizeof path, "f16.safetensors");
    write_st(path, "{\"v\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]}}", h, sizeof h);
    StFile f;
    SeError err = {{0}};
    float out[7];
    CHECK(st_open(&f, path, &err) == 0 && st_read_f32(&f, st_find(&f, "v"), out, 7, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 7; i++)
        CHECK(f32_bits(out[i]) == f32_bits(want[i]), "f16 0x%04x -> %a", h[i], out[i]);
    st_close(&f);
    unlink(path);
}

/* NaN and infinity in every float dtype are refused, naming the tensor and the element;
 * the element is found past the first block the reader checks at once. */
static void test_non_finite(void)
{
    static const struct {
        const char *dtype;
        uint32_t bits; /* of the bad element */
        const char *what;
    } CASES[] = {
        {"F32", 0x7FC00000u, "NaN"}, {"F32", 0xFF800000u, "infinite"}, {"F32", 0x7F800001u, "NaN"},
        {"F16", 0x7C00u, "infinite"}, {"F16", 0xFE01u, "NaN"}, {"BF16", 0xFF80u, "infinite"},
        {"BF16", 0x7FC1u, "NaN"},
    };
    enum { N = 40000, BAD = 33333 };
    static uint8_t bytes[4 * N];
    for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
        size_t width = strcmp(CASES[k].dtype, "F32") ? 2 : 4;
        memset(bytes, 0, sizeof bytes);
        for (size_t b = 0; b < width; b++)
            bytes[BAD * width + b] = (uint8_t)(CASES[k].bits >> (8 * b));
        char header[160], path[512], want[96];
        snprintf(header, sizeof header, "{\"w\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[0,%zu]}}",
                 CASES[k].dtype, N, N * width);
        tmp_path(path, sizeof path, "nonfinite.safetensors");
        write_st(path, header, bytes, N * width);
        StFile f;
        SeError err = {{0}};
        static float out[N];
        snprintf(want, sizeof want, "tensor \"w\": element %d is %s", BAD, CASES[k].what);
        CHECK(st_open(&f, path, &err) == 0 && st_read_f32(&f, st_find(&f, "w"), out, N, &err) == -1 &&
                  strstr(err.msg, path) && strstr(err.msg, want),
              "%s 0x%X: %s", CASES[k].dtype, CASES[k].bits, err.msg);
        st_close(&f);
        unlink(path);
    }
}

/* Opening PATH fails, and the message names the file and contains PHRASE. */
static void expect_open_fails(const char *name, const char *phrase)
{
    char path[512];
    tmp_path(path, sizeof path, name);
    StFile f;
    SeError err = {{0}};
    int rc = st_open(&f, path, &err);
    CHECK(rc == -1 && strstr(err.msg, path) && strstr(err.msg, phrase), "%s: rc %d, message: %s", name, rc,
          err.msg);
    if (rc == 0)
        st_close(&f);
    CHECK(f.map == NULL && f.tensors == NULL, "%s: failed open left state behind", name);
    unlink(path);
}

static void hostile(const char *name, const char *header, size_t data_len, const char *phrase)
{
    static const uint8_t zeros[256];
    char path[512];
    tmp_path(path, sizeof path, name);
    write_st(path, header, zeros, data_len);
    expect_open_fails(name, phrase);
}

static void test_hostile(void)
{
    char path[512];
    tmp_path(path, sizeof path, "short.st");
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0", 1, 3, fp);
    fclose(fp);
    expect_open_fails("short.st", "too short");

    tmp_path(path, sizeof path, "past_end.st");
    write_raw(path, 1000, "{}", 2, NULL, 0);
    expect_open_fails("past_end.st", "runs past the end of the file");

    tmp_path(path, sizeof path, "huge_len.st");
    write_raw(path, 1ULL << 63, "{}", 2, NULL, 0);
    expect_open_fails("huge_len.st", "runs past the end of the file");

    /* A header length within a (sparse) 200 MB file but over the 100 MB limit. */
    tmp_path(path, sizeof path, "over_limit.st");
    write_raw(path, 150000000, "{}", 2, NULL, 0);
    CHECK(truncate(path, 200000000) == 0, "truncate");
    expect_open_fails("over_limit.st", "exceeds the limit");

    /* File name, header, bytes of data after it, phrase the message must contain. */
    static const struct {
        const char *name, *header;
        size_t data_len;
        const char *phrase;
    } cases[] = {
        {"empty_header.st", "", 0, "not valid JSON"},
        {"bad_json.st", "{\"a\": {\"dtype\": \"F32\",", 0, "not valid JSON"},
        {"trailing.st", "{} x", 0, "bytes after the JSON value"},
        {"not_object.st", "[1, 2, 3]", 0, "not a JSON object"},
        {"nul_escape.st", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "escape \\u0000"},
        {"bad_utf8.st", "{\"\xC0\xAF\": 1}", 0, "not valid UTF-8"},
        {"entry_not_object.st", "{\"a\": 5}", 0, "tensor \"a\": expected an object"},
        {"unknown_dtype.st", "{\"a\":{\"dtype\":\"F8_E9M9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
         "unknown dtype \"F8_E9M9\""},
        {"missing_dtype.st", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing \"dtype\""},
        {"missing_offsets.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""},
        {"negative_dim.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4,
         "shape[1] is not a non-negative integer"},
        {"fraction_dim.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
         "shape[0] is not a non-negative integer"},
        {"nine_dims.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "more than the 8 supported"},
        {"overflow.st",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "overflows"},
        {"overflow_bytes.st", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387,4096],\"data_offsets\":[0,4]}}",
         4, "overflows"},
        {"offsets_range.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
         "past the end of the data buffer"},
        {"offsets_reversed.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
         "reversed"},
        {"offsets_three.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
         "two non-negative integers"},
        {"size_mismatch.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
         "span 20 bytes but shape [2, 3] of F32 needs 24"},
        {"overlap.st",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
         20, "overlap"},
        {"duplicate.st",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "duplicate tensor name \"a\""},
        {"bad_metadata.st", "{\"__metadata__\":{\"format\":1}}", 0, "\"__metadata__\" key \"format\""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        hostile(cases[k].name, cases[k].header, cases[k].data_len, cases[k].phrase);

    /* Reads that do not fit the tensor. */
    tmp_path(path, sizeof path, "ints.st");
    int64_t ints[4] = {1, 2, 0, 0}; /* then the 16 bytes of "f" */
    write_st(path,
             "{\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
             "\"f\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
             ints, 32);
    StFile f;
    SeError err = {{0}};
    CHECK(st_open(&f, path, &err) == 0, "%s", err.msg);
    float out[8];
    err.msg[0] = '\0';
    CHECK(st_read_f32(&f, st_find(&f, "f"), out, 5, &err) == -1 && strstr(err.msg, path) &&
              strstr(err.msg, "tensor \"f\": expected 5 elements, found 4 (shape [2, 2])"),
          "message: %s", err.msg);
    CHECK(st_read_f32(&f, st_find(&f, "i"), out, 2, &err) == -1 && strstr(err.msg, path) &&
              strstr(err.msg, "dtype I64 cannot be read as fp32"),
          "message: %s", err.msg);
    st_close(&f);
    unlink(path);

    /* Accepted: padding spaces after the header, zero-size tensors sharing an offset. */
    tmp_path(path, sizeof path, "padded.st");
    write_st(path,
             "{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}    ",
             ints, 8);
    CHECK(st_open(&f, path, &err) == 0 && f.n_tensors == 2, "padded: %s", err.msg);
    st_close(&f);
    write_st(path, "{\"a\\\\u0000\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", ints, 8);
    CHECK(st_open(&f, path, &err) == 0 && st_find(&f, "a\\u0000") != NULL, "escaped backslash: %s", err.msg);
    st_close(&f);
    unlink(path);

    StFile never = {0};
    st_close(&never); /* harmless on a closed file */
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_half_conversions();
    test_half_spot_values();
    test_non_finite();
    test_hostile();
    if (rmdir(dir) != 0)
        CHECK(0, "temp dir %s not empty", dir);
    return check_summary("test_safetensors");
}
