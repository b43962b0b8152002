/* host/: UTF-8 validation and repair, JSON helpers (the strict parser too), file helpers,
 * the input caps and the out-of-memory message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/fileio.h"
#include "host/input_limits.h"
#include "host/json_util.h"
#include "host/utf8.h"
#include "tests/check.h"

/* Every scalar value round-trips through encode/validate/decode. */
static void test_utf8_roundtrip(void)
{
    int bad = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        uint8_t buf[4];
        int n = utf8_encode(cp, buf);
        size_t i = 0;
        if (utf8_valid_prefix(buf, (size_t)n) != (size_t)n || utf8_decode_valid(buf, &i) != cp || i != (size_t)n)
            bad++;
    }
    CHECK(bad == 0, "%d code points did not round-trip", bad);
}

static void test_utf8_ill_formed(void)
{
    /* Overlongs, surrogates, values past U+10FFFF, stray continuation bytes, 5/6-byte
     * forms and truncated sequences are all rejected at their first byte. */
    const char *bad[] = {"\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF",
                         "\xF4\x90\x80\x80", "\x80", "\xBF", "\xF8\x88\x80\x80\x80", "\xFC\x84\x80\x80\x80\x80",
                         "\xFE", "\xFF", "\xE2\x82", "\xF0\x9F\x98"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char s[16];
        int n = snprintf(s, sizeof s, "ab%s", bad[k]);
        CHECK(utf8_valid_prefix((const uint8_t *)s, (size_t)n) == 2, "case %zu accepted", k);
    }
    const char *good = "a\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF";
    CHECK(utf8_valid_prefix((const uint8_t *)good, strlen(good)) == strlen(good), "boundary values rejected");
}

/* The worked example of "U+FFFD substitution of maximal subparts" in the Unicode
 * Standard (chapter 3, Table 3-8), which Python's decoder and ours follow. */
static void test_utf8_repair_maximal_subparts(void)
{
    const uint8_t in[] = {0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64};
    const char *want = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    uint8_t out[3 * sizeof in];
    size_t n = utf8_repair(in, sizeof in, out);
    CHECK(n == strlen(want) && memcmp(out, want, n) == 0, "repair gave %zu bytes", n);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_json(void)
{
    char dir[] = "/tmp/sentembed_test_host_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512];
    SeError err = {{0}};
    snprintf(path, sizeof path, "%s/bad.json", dir);
    write_file(path, "{\n  \"a\": 1,\n  \"b\": [1, 2,,]\n}\n");
    CHECK(json_parse_file(path, &err) == NULL, "parsed invalid JSON");
    CHECK(strstr(err.msg, "bad.json:3:") != NULL, "message should name line 3: %s", err.msg);

    snprintf(path, sizeof path, "%s/good.json", dir);
    write_file(path, "{\"flag\": true, \"n\": 1e30, \"s\": \"x\", \"wrong\": \"1\", \"nothing\": null}");
    cJSON *root = json_parse_file(path, &err);
    CHECK(root != NULL, "%s", err.msg);
    bool flag = false;
    long long n = 0;
    const char *s = NULL;
    CHECK(json_opt_bool(root, "flag", &flag, path, &err) == 1 && flag, "bool");
    CHECK(json_opt_int(root, "n", &n, path, &err) == 1 && n > 1000000000000LL, "huge int clamps");
    CHECK(json_opt_string(root, "s", &s, path, &err) == 1 && !strcmp(s, "x"), "string");
    CHECK(json_opt_int(root, "missing", &n, path, &err) == 0, "absent key");
    CHECK(json_opt_bool(root, "nothing", &flag, path, &err) == 0, "null is absent");
    CHECK(json_opt_int(root, "wrong", &n, path, &err) == -1 && strstr(err.msg, "\"wrong\""),
          "wrong type names the key: %s", err.msg);
    cJSON_Delete(root);

    CHECK(json_parse_file("/nonexistent/x.json", &err) == NULL && strstr(err.msg, "/nonexistent/x.json"),
          "missing file named: %s", err.msg);
    char *text;
    size_t len;
    CHECK(file_read_all(path, &text, &len, &err) == 0 && len == strlen(text), "read_all");
    free(text);
    CHECK(dir_exists(dir) && !file_exists(dir) && file_exists(path), "exists");
    unlink(path);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    unlink(path);
    rmdir(dir);
}

#ifdef __SANITIZE_ADDRESS__
/* An allocation the sanitizer cannot serve returns NULL, as malloc's does, instead of
 * ending the test: the out-of-memory message is what is tested. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* What a child process that allocates `size` bytes inside two nested contexts prints. */
static void oom_message(size_t size, char *out, size_t cap)
{
    int fds[2];
    out[0] = '\0';
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        size_t line = 4;
        SeContext model, reading;
        se_context_push(&model, "loading the model", "models/m", NULL);
        se_context_push(&reading, "reading", "corpus.txt", &line);
        line = 5; /* read when the message is made */
        void *p = se_xmalloc(size);
        se_context_pop(&reading);
        se_context_pop(&model);
        _exit(p ? 3 : 4); /* not reached: se_xmalloc dies */
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < cap && (got = read(fds[0], out + used, cap - 1 - used)) > 0)
        used += (size_t)got;
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "the child should exit 1, status %d", status);
}

static void test_out_of_memory_message(void)
{
    char msg[1024];
    oom_message((size_t)3 << 60, msg, sizeof msg);
    /* the last line: a sanitizer warns of the failed allocation first */
    const char *want = "sentembed: error: out of memory allocating 3.0 EiB (3458764513820540928 bytes) while "
                       "reading corpus.txt line 5, while loading the model models/m\n";
    const char *last = strstr(msg, "sentembed: error:");
    CHECK(last && !strcmp(last, want), "got '%s'", msg);
    SeContext c;
    se_context_push(&c, "building the vocabulary of", "v.txt", NULL);
    se_context_describe(msg, sizeof msg);
    CHECK(!strcmp(msg, "while building the vocabulary of v.txt"), "got '%s'", msg);
    se_context_pop(&c);
    se_context_describe(msg, sizeof msg);
    CHECK(msg[0] == '\0', "a popped context is still described: '%s'", msg);
    const struct {
        double n;
        const char *want;
    } sizes[] = {{0, "0 bytes"}, {1023, "1023 bytes"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
                 {64.0 * (1 << 20), "64.0 MiB"}, {12.0 * (1 << 30), "12.0 GiB"}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        se_format_bytes(msg, sizeof msg, sizes[k].n);
        CHECK(!strcmp(msg, sizes[k].want), "%.0f bytes: got '%s', expected '%s'", sizes[k].n, msg, sizes[k].want);
    }
}

static void test_input_limits(void)
{
    SeError err = {{0}};
    size_t line;
    uint64_t gz;
    unsetenv("SENTEMBED_MAX_LINE_BYTES");
    unsetenv("SENTEMBED_GZ_MAX_BYTES");
    CHECK(input_max_line_bytes(&line, &err) == 0 && line == (size_t)64 << 20, "default line cap %zu", line);
    CHECK(input_gz_max_bytes(1000, &gz, &err) == 0 && gz == (uint64_t)1 << 30, "a small .gz: %llu",
          (unsigned long long)gz);
    CHECK(input_gz_max_bytes(50ull << 20, &gz, &err) == 0 && gz == 5000ull << 20, "100x of 50 MiB: %llu",
          (unsigned long long)gz);
    const struct {
        const char *value;
        uint64_t want; /* 0: refused */
    } values[] = {{"100", 100}, {"4K", 4096}, {"64M", 64ull << 20}, {"2G", 2ull << 30}, {"0", 0}, {"-5", 0},
                  {"12x", 0}, {"1MB", 0}, {"M", 0}, {" 5", 0}, {"99999999999999999999", 0}, {"9999999999G", 0}};
    for (size_t k = 0; k < sizeof values / sizeof *values; k++) {
        setenv("SENTEMBED_MAX_LINE_BYTES", values[k].value, 1);
        setenv("SENTEMBED_GZ_MAX_BYTES", values[k].value, 1);
        err.msg[0] = '\0';
        int rc = input_max_line_bytes(&line, &err);
        if (values[k].want)
            CHECK(rc == 0 && line == values[k].want, "'%s': %zu (%s)", values[k].value, line, err.msg);
        else
            CHECK(rc == -1 && strstr(err.msg, "environment variable SENTEMBED_MAX_LINE_BYTES: expected a positive "
                                              "number of bytes") && strstr(err.msg, values[k].value),
                  "'%s' accepted: %s", values[k].value, err.msg);
        rc = input_gz_max_bytes(1000, &gz, &err);
        CHECK(values[k].want ? rc == 0 && gz == values[k].want : rc == -1 && strstr(err.msg, "SENTEMBED_GZ_MAX_BYTES"),
              "gz '%s': %llu (%s)", values[k].value, (unsigned long long)gz, err.msg);
    }
    unsetenv("SENTEMBED_MAX_LINE_BYTES");
    unsetenv("SENTEMBED_GZ_MAX_BYTES");
}

/* json_parse_strict: what cJSON alone takes and silently misreads is refused, with the
 * kind and the byte offset of the problem. */
static void expect_strict(const char *text, size_t len, JsonProblemKind kind, size_t offset, const char *phrase)
{
    JsonProblem why;
    cJSON *root = json_parse_strict(text, len, &why);
    CHECK(root == NULL && why.kind == kind && why.offset == offset && strstr(why.what, phrase),
          "%.40s: kind %d, offset %zu, \"%s\"", text, (int)why.kind, why.offset, why.what);
    cJSON_Delete(root);
}

static void test_json_strict(void)
{
    JsonProblem why;
    static const char *GOOD[] = {" {\"a\": [1, {\"a\": 2}], \"b\": {\"a\": 3}} \r\n", "\"x\\\\u0000\"", "null",
                                 "[{\"k\": 1}, {\"k\": 2}]", "{\"\": 1, \"a\": {\"\": 2}}"};
    for (size_t k = 0; k < sizeof GOOD / sizeof *GOOD; k++) {
        cJSON *root = json_parse_strict(GOOD[k], strlen(GOOD[k]), &why);
        CHECK(root != NULL, "%s refused: %s", GOOD[k], why.what);
        cJSON_Delete(root);
    }
    expect_strict("{\"a\": 1} x", 10, JSON_TRAILING_TEXT, 9, "unexpected text after");
    expect_strict("nullrun", 7, JSON_TRAILING_TEXT, 4, "unexpected text after");
    expect_strict("2k", 2, JSON_TRAILING_TEXT, 1, "unexpected text after");
    expect_strict("{\"a\": 1,}", 9, JSON_INVALID, 8, "invalid JSON");
    expect_strict("{\"a\": \"x\\u0000y\"}", 17, JSON_NUL, 8, "\\u0000");
    expect_strict("{\"a\": \"x\0y\"}", 12, JSON_NUL, 8, "a zero byte");
    expect_strict("{\"a\": 1, \"b\": 2, \"a\": 3}", 24, JSON_DUPLICATE_KEY, 17, "duplicate key \"a\"");
    /* a number a double cannot hold: cJSON would read infinity (and write it back as null) */
    expect_strict("1e999", 5, JSON_NUMBER_RANGE, 0, "too large");
    expect_strict("{\"s\": \"1e999 \\\" 2\", \"lr\": [1, -2e400]}", 38, JSON_NUMBER_RANGE, 30, "too large");
    /* the first duplicate in document order, named by its path from the root */
    const char *nested = "{\"x\": [{\"q\": 1}, {\"r\": {\"s\": 1, \"s\": 2}, \"r\": 0}], \"x\": 2}";
    expect_strict(nested, strlen(nested), JSON_DUPLICATE_KEY, 32, "duplicate key \"x[1].r.s\"");
    /* keys that differ only by escapes are the same key */
    expect_strict("{\"ab\": 1, \"a\\u0062\": 2}", 23, JSON_DUPLICATE_KEY, 10, "duplicate key \"ab\"");
    /* braces and quotes inside strings do not shift the position */
    const char *tricky = "{\"t\": \"{\\\"a\\\": {\", \"u\": {\"v\": 1, \"v\": 2}}";
    expect_strict(tricky, strlen(tricky), JSON_DUPLICATE_KEY, 33, "duplicate key \"u.v\"");

    /* a large object (tokenizer.json's vocabulary): unique keys pass, one repeat is found */
    size_t cap = 40000 * 24, o = 0;
    char *big = malloc(cap);
    o += (size_t)snprintf(big + o, cap - o, "{");
    for (int k = 0; k < 40000; k++)
        o += (size_t)snprintf(big + o, cap - o, "%s\"tok%d\": %d", k ? ", " : "", k, k);
    snprintf(big + o, cap - o, "}");
    cJSON *root = json_parse_strict(big, strlen(big), &why);
    CHECK(root != NULL, "40000 unique keys refused: %s", why.what);
    cJSON_Delete(root);
    char *at = strstr(big, "\"tok39999\"");
    memcpy(at, "\"tok12345\"", 10);
    expect_strict(big, strlen(big), JSON_DUPLICATE_KEY, (size_t)(at - big), "duplicate key \"tok12345\"");
    free(big);

    FILE *f = tmpfile();
    json_fprint_number(f, "%.3f", 0.5);
    fputc(' ', f);
    json_fprint_number(f, "%.3f", NAN);
    fputc(' ', f);
    json_fprint_number(f, "%.3f", -INFINITY);
    rewind(f);
    char line[64] = "";
    CHECK(fgets(line, sizeof line, f) && !strcmp(line, "0.500 null null"), "json_fprint_number wrote \"%s\"", line);
    fclose(f);
}

/* NUL is not text: utf8_text_prefix stops at it, utf8_repair replaces it. */
static void test_utf8_text(void)
{
    const uint8_t s[] = {'a', 'b', 0, 'c'}, bad[] = {'a', 0xE9, 0};
    char why[128];
    CHECK(utf8_text_prefix(s, 4) == 2 && utf8_valid_prefix(s, 4) == 4, "NUL stops text");
    CHECK(utf8_text_prefix(bad, 3) == 1, "invalid byte before the NUL");
    CHECK(strstr(utf8_text_problem(s, 2, "line", why, sizeof why), "a NUL character (a zero byte) at byte 3 of the line"),
          "%s", why);
    CHECK(strstr(utf8_text_problem(bad, 1, "text", why, sizeof why), "invalid UTF-8 (byte 0xE9 at byte 2 of the text)"),
          "%s", why);
    uint8_t out[12];
    size_t n = utf8_repair(s, 4, out);
    CHECK(n == 6 && !memcmp(out, "ab\xEF\xBF\xBD" "c", 6), "NUL repaired to U+FFFD (%zu bytes)", n);
}

int main(void)
{
    test_utf8_roundtrip();
    test_utf8_ill_formed();
    test_utf8_repair_maximal_subparts();
    test_json();
    test_out_of_memory_message();
    test_input_limits();
    test_json_strict();
    test_utf8_text();
    return check_summary("test_host");
}
