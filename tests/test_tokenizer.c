/* tokenizer/: vocabulary, loading (and its error messages), batch vs single encoding,
 * threads, pairs and truncation invariants. Exact ids are checked against the reference
 * library by tests/tokenizer_golden.sh; this program checks what that cannot see.
 * usage: test_tokenizer SHARED_DATA_DIR */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/fileio.h"
#include "tests/check.h"
#include "tokenizer/tokenizer.h"

static char tmpdir[] = "/tmp/sentembed_test_tok_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static void write_file(const char *name, const char *text, size_t len)
{
    FILE *f = fopen(tmp_path(name), "wb");
    fwrite(text, 1, len, f);
    fclose(f);
}
#define WRITE(name, text) write_file(name, text, strlen(text))

static void test_vocab(void)
{
    WRITE("v.txt", "[PAD]\n[UNK]\nhello \r\n##lo\nhel\nhello\n");
    Vocab v;
    SeError err;
    CHECK(vocab_load_txt(&v, tmp_path("v.txt"), "##", &err) == 0, "%s", err.msg);
    CHECK(vocab_find(&v, "hello", 5) == 5, "a later duplicate overrides the id (got %d)", vocab_find(&v, "hello", 5));
    CHECK(vocab_find(&v, "hel", 3) == 4, "hel");
    CHECK(vocab_lookup(&v.continuation, v.pool, (const uint8_t *)"lo", 2) == 3, "continuation keyed without ##");
    CHECK(vocab_lookup(&v.continuation, v.pool, (const uint8_t *)"hel", 3) == -1, "not a continuation");
    CHECK(vocab_find(&v, "hello \r", 7) == -1, "trailing whitespace is trimmed");
    CHECK(!strcmp(vocab_token(&v, 3), "##lo") && vocab_token(&v, 99) == NULL, "id -> token");
    vocab_free(&v);

    WRITE("empty.txt", "");
    CHECK(vocab_load_txt(&v, tmp_path("empty.txt"), "##", &err) == -1 && strstr(err.msg, "empty vocabulary"),
          "empty: %s", err.msg);
    write_file("badutf8.txt", "a\nb\n\xff\n", 6);
    CHECK(vocab_load_txt(&v, tmp_path("badutf8.txt"), "##", &err) == -1 && strstr(err.msg, "badutf8.txt:3"),
          "invalid UTF-8 names line 3: %s", err.msg);
}

/* Each bad model directory fails with a message containing `expect`. */
static void expect_load_error(const char *what, const char *expect)
{
    Tokenizer t;
    SeError err = {{0}};
    int rc = tok_load_dir(&t, tmpdir, &err);
    CHECK(rc == -1 && strstr(err.msg, expect) != NULL, "%s: got rc %d, \"%s\"", what, rc, err.msg);
    if (rc == 0)
        tok_free(&t);
}

static void test_load_errors(void)
{
    Tokenizer t;
    SeError err;
    CHECK(tok_load_dir(&t, "/nonexistent/model", &err) == -1 && strstr(err.msg, "/nonexistent/model"),
          "missing dir: %s", err.msg);
    expect_load_error("no vocabulary", "no tokenizer.json or vocab.txt");
    WRITE("vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
    expect_load_error("no [UNK]", "unk_token \"[UNK]\" is not in the vocabulary");
    WRITE("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    WRITE("tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    expect_load_error("wrong type", "\"do_lower_case\": expected true or false");
    WRITE("tokenizer_config.json", "{\"do_lower_case\": false, \"unk_token\": {\"content\": 7}}");
    expect_load_error("bad special token", "\"unk_token\"");
    WRITE("tokenizer_config.json", "{\"do_lower_case\": false, \"model_max_length\": 128}");
    CHECK(tok_load_dir(&t, tmpdir, &err) == 0, "%s", err.msg);
    CHECK(!t.norm.lowercase && !t.strip && t.model_max_length == 128 && t.unk_id == 1 && t.mask_id == -1,
          "tokenizer_config.json overrides");
    tok_free(&t);

    WRITE("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}");
    expect_load_error("not WordPiece", "\"model.type\": expected \"WordPiece\"");
    WRITE("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\",\n \"vocab\": {\"a\": 1,}}}");
    expect_load_error("invalid JSON", "tokenizer.json:2:");
    WRITE("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -1}}}");
    expect_load_error("bad id", "token \"a\": expected an id");
    WRITE("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, "
                            "\"[SEP]\": 2}}, \"normalizer\": {\"type\": \"NFC\"}}");
    expect_load_error("other normalizer", "\"normalizer.type\": expected \"BertNormalizer\"");
    WRITE("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, "
                            "\"[SEP]\": 2}}, \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                            "\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\", \"normalized\": true}]}");
    expect_load_error("normalized added token", "not supported");
    unlink(tmp_path("tokenizer.json"));
    unlink(tmp_path("tokenizer_config.json"));
    unlink(tmp_path("vocab.txt"));
}

static size_t read_lines(const char *path, char ***lines_out, size_t **lens_out, size_t max_lines)
{
    char *text;
    size_t len;
    SeError err;
    if (file_read_all(path, &text, &len, &err))
        return 0;
    char **lines = malloc(max_lines * sizeof *lines);
    size_t *lens = malloc(max_lines * sizeof *lens), n = 0;
    for (char *p = text; n < max_lines && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        lines[n] = p;
        lens[n++] = l;
        p += l + 1;
    }
    *lines_out = lines;
    *lens_out = lens;
    return n;
}

static void test_encoding(const char *data)
{
    char path[1024], vocab_path[1024], model_dir[1024];
    snprintf(path, sizeof path, "%s/nli/snli/s1.dev", data);
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab/bert-base-uncased-vocab.txt", data);
    snprintf(model_dir, sizeof model_dir, "%s/minilm-config", data);
    char **a, **b;
    size_t *alen, *blen;
    size_t n = read_lines(path, &a, &alen, 3000);
    snprintf(path, sizeof path, "%s/nli/snli/s2.dev", data);
    size_t nb = read_lines(path, &b, &blen, 3000);
    if (n < 3000 || nb < 3000) {
        printf("shared data not found at %s: skipping the encoding checks\n", data);
        return;
    }
    Tokenizer from_vocab, from_model;
    SeError err;
    CHECK(tok_load_vocab(&from_vocab, vocab_path, &err) == 0, "%s", err.msg);
    CHECK(tok_load_dir(&from_model, model_dir, &err) == 0, "%s", err.msg);
    CHECK(from_model.model_max_length == 512 && from_model.norm.lowercase && from_model.strip,
          "minilm tokenizer settings");

    /* batch on 1 and 3 threads == one by one, single and pair, both loaders */
    TokBatch one = {0}, three = {0};
    TokScratch s = {0};
    int32_t ids[64], types[64];
    const char *const *ca = (const char *const *)a, *const *cb = (const char *const *)b;
    for (int pair = 0; pair < 2; pair++) {
        tok_encode_batch(&from_vocab, &one, ca, alen, pair ? cb : NULL, blen, n, 24, 1);
        tok_encode_batch(&from_model, &three, ca, alen, pair ? cb : NULL, blen, n, 24, 3);
        CHECK(one.offsets[n] == three.offsets[n] &&
              !memcmp(one.ids, three.ids, one.offsets[n] * sizeof *one.ids) &&
              !memcmp(one.type_ids, three.type_ids, one.offsets[n] * sizeof *one.ids),
              "pair=%d: vocab.txt on 1 thread and tokenizer.json on 3 threads differ", pair);
        size_t bad = 0, truncated = 0;
        for (size_t i = 0; i < n; i++) {
            size_t m = tok_encode(&from_vocab, &s, a[i], alen[i], pair ? b[i] : NULL, blen[i], 24, ids, types);
            size_t lo = one.offsets[i], len = one.offsets[i + 1] - lo;
            bad += m != len || memcmp(ids, one.ids + lo, m * sizeof *ids) || memcmp(types, one.type_ids + lo, m * sizeof *ids);
            bad += m > 24 || ids[0] != from_vocab.cls_id || ids[m - 1] != from_vocab.sep_id;
            truncated += m == 24;
            /* type ids: 0 through the first [SEP], 1 after it */
            size_t first_sep = 1;
            while (ids[first_sep] != from_vocab.sep_id)
                first_sep++;
            for (size_t k = 0; k < m; k++)
                bad += types[k] != (pair && k > first_sep);
        }
        CHECK(bad == 0, "pair=%d: %zu differences between batch and single encoding", pair, bad);
        CHECK(truncated > 10, "pair=%d: only %zu truncated (the check should exercise truncation)", pair, truncated);
    }
    /* ids do not depend on what the scratch buffers held before */
    size_t m1 = tok_encode(&from_vocab, &s, a[7], alen[7], NULL, 0, 64, ids, NULL);
    int32_t again[64];
    tok_encode(&from_vocab, &s, a[1234], alen[1234], b[99], blen[99], 64, again, NULL);
    size_t m2 = tok_encode(&from_vocab, &s, a[7], alen[7], NULL, 0, 64, again, NULL);
    CHECK(m1 == m2 && !memcmp(ids, again, m1 * sizeof *ids), "scratch reuse changed the result");
    tok_scratch_free(&s);
    tok_batch_free(&one);
    tok_batch_free(&three);
    tok_free(&from_vocab);
    tok_free(&from_model);
    free(a[0]); /* the file texts */
    free(b[0]);
    free(a);
    free(b);
    free(alen);
    free(blen);
}

int main(int argc, char **argv)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_vocab();
    test_load_errors();
    test_encoding(argc > 1 ? argv[1] : "../shared/data");
    const char *names[] = {"v.txt", "empty.txt", "badutf8.txt"};
    for (size_t k = 0; k < 3; k++)
        unlink(tmp_path(names[k]));
    rmdir(tmpdir);
    return check_summary("test_tokenizer");
}
