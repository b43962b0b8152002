/* The streaming data pipeline: formats (TSV, CSV with RFC 4180 quoting, JSONL, gzip),
 * nested key paths and [*] columns, labels (label_map, label_scale, drop_labels, class
 * ids), bad rows (errors and skip), epoch plans (a function of seed + epoch, drop_last,
 * no_duplicates, round_robin / proportional mixing) and the shard round trip (ids from a
 * shard equal ids from tokenizing the text, truncation included) and damaged shards (a
 * flipped byte in each part, found at open or when its ids are read).
 * usage: test_data_source SHARED_DATA_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "host/fileio.h"
#include "host/hash.h"
#include "trainer/batch_plan.h"
#include "trainer/data_source.h"
#include "trainer/sentence_model.h"
#include "trainer/shard.h"

static char tmp[256];

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", tmp, name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    return p;
}

static const char *write_text(const char *name, const char *text) { return write_file(name, text, strlen(text)); }

/* A spec from JSON text with "PATH" standing for path. */
typedef struct {
    cJSON *json;
    DataSpec spec;
    DataSource src;
    SeError err;
} Opened;

static int open_spec(Opened *o, const char *spec_json, const char *path, const DataOptions *opt)
{
    char text[2048];
    const char *at = strstr(spec_json, "PATH");
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - spec_json), spec_json, path, at + 4);
    o->json = cJSON_Parse(text);
    static const DataOptions none = {0};
    memset(&o->src, 0, sizeof o->src);
    o->src.fd = -1;
    if (data_spec_parse(&o->spec, o->json, "test", "data", NULL, &o->err))
        return -1;
    return data_source_open(&o->src, &o->spec, opt ? opt : &none, &o->err);
}

static void close_spec(Opened *o)
{
    data_source_close(&o->src);
    data_spec_free(&o->spec);
    cJSON_Delete(o->json);
}

/* Example i's column c as a string (static buffer). */
static const char *text_of(Opened *o, size_t i, int c, double *label)
{
    static char out[SE_ERROR_MAX + 16];
    RowParser p;
    DataExample ex;
    data_source_parser(&o->src, &p);
    if (data_source_read(&o->src, &p, i, &ex, &o->err)) {
        snprintf(out, sizeof out, "ERROR %s", o->err.msg);
    } else {
        snprintf(out, sizeof out, "%.*s", (int)ex.len[c], ex.text[c]);
        if (label)
            *label = ex.label;
    }
    row_parser_free(&p);
    return out;
}

static void test_formats(const char *data)
{
    char path[1024];
    Opened o;
    /* STS-B: TSV, no header, bare quotes, 7 or 9 fields */
    snprintf(path, sizeof path, "%s/stsb/sts-train.csv", data);
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4, \"label_scale\": 5}",
                    path, NULL) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 5749, "STS-B train has %zu examples", o.src.n);
    double y = -1;
    CHECK(!strcmp(text_of(&o, 0, 0, &y), "A plane is taking off."), "%s", text_of(&o, 0, 0, NULL));
    CHECK(y == 1.0, "label %g", y);
    close_spec(&o);
    /* the same data as CSV with quoting and CRLF */
    snprintf(path, sizeof path, "%s/stsb/stsb-multi-mt-en/stsb-en-train.csv", data);
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [0, 1], \"label\": 2}", path, NULL) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 5749, "STS-B CSV has %zu examples", o.src.n);
    CHECK(!strcmp(text_of(&o, 0, 1, &y), "An air plane is taking off.") && y == 5.0, "%s %g", text_of(&o, 0, 1, NULL), y);
    close_spec(&o);
    /* MRPC: TSV with a BOM, a header, CRLF, columns by name */
    snprintf(path, sizeof path, "%s/pairs/mrpc/msr-para-train.tsv", data);
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"header\": true, \"columns\": [\"#1 String\", \"#2 String\"], "
                        "\"label\": \"Quality\"}", path, NULL) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 3576, "MRPC train has %zu examples", o.src.n);
    const char *t = text_of(&o, 0, 1, &y);
    CHECK(strlen(t) > 10 && t[strlen(t) - 1] != '\r', "CRLF left a \\r: %s", t);
    close_spec(&o);
    /* SICK: TSV, header, string labels */
    snprintf(path, sizeof path, "%s/nli/sick/SICK_test_annotated.txt", data);
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"header\": true, \"columns\": [\"sentence_A\", \"sentence_B\"], "
                        "\"label\": \"entailment_judgment\", \"label_map\": {\"ENTAILMENT\": 0, \"NEUTRAL\": 1, "
                        "\"CONTRADICTION\": 2}, \"drop_labels\": [1]}", path, NULL) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 1414 + 720 && o.src.dropped == 2793, "SICK test: %zu kept, %zu dropped", o.src.n, o.src.dropped);
    close_spec(&o);
}

static void test_quoting_and_lines(void)
{
    Opened o;
    const char *csv = write_text("q.csv", "\xEF\xBB\xBF" "a,b,label\r\n"
                                           "\"x, with comma\",\"say \"\"hi\"\"\",1\r\n"
                                           "\r\n"
                                           "\"two\nlines\",plain,2\n"
                                           "last,\"no newline at the end\",3");
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"header\": true, \"columns\": [\"a\", \"b\"], \"label\": \"label\"}", csv,
                    NULL) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 3, "%zu examples", o.src.n);
    CHECK(!strcmp(text_of(&o, 0, 0, NULL), "x, with comma"), "%s", text_of(&o, 0, 0, NULL));
    CHECK(!strcmp(text_of(&o, 0, 1, NULL), "say \"hi\""), "%s", text_of(&o, 0, 1, NULL));
    CHECK(!strcmp(text_of(&o, 1, 0, NULL), "two\nlines"), "%s", text_of(&o, 1, 0, NULL));
    CHECK(o.src.refs[1].line == 4 && o.src.refs[2].line == 6, "lines %u %u", o.src.refs[1].line, o.src.refs[2].line);
    double y;
    CHECK(!strcmp(text_of(&o, 2, 1, &y), "no newline at the end") && y == 3, "%s", text_of(&o, 2, 1, NULL));
    close_spec(&o);
    /* TSV keeps quotes as they are */
    const char *tsv = write_text("q.tsv", "\"quoted\"\tb\"c\n");
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [0, 1]}", tsv, NULL) == 0, "%s", o.err.msg);
    CHECK(!strcmp(text_of(&o, 0, 0, NULL), "\"quoted\"") && !strcmp(text_of(&o, 0, 1, NULL), "b\"c"), "TSV quotes");
    close_spec(&o);
}

static void test_json_paths(void)
{
    Opened o;
    const char *j = write_text("p.jsonl", "{\"set\": {\"query\": \"q1\", \"pos\": [\"p1a\", \"p1b\"], \"neg\": [\"n1a\", \"n1b\"]}}\n"
                                          "\n"
                                          "{\"set\": {\"query\": \"q2\", \"pos\": [\"p2a\"], \"neg\": [\"n2a\"]}, \"x\": 1}\n");
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [\"set.query\", \"set.pos[0]\", \"set.neg[0]\"]}", j, NULL) == 0,
          "%s", o.err.msg);
    CHECK(o.src.n == 2 && !strcmp(text_of(&o, 1, 2, NULL), "n2a"), "nested [0]: %zu", o.src.n);
    close_spec(&o);
    /* [*]: one example per element, lists paired by position */
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [\"set.query\", \"set.pos[*]\", \"set.neg[*]\"]}", j, NULL) == 0,
          "%s", o.err.msg);
    CHECK(o.src.n == 3, "[*] gives %zu examples", o.src.n);
    CHECK(!strcmp(text_of(&o, 1, 0, NULL), "q1") && !strcmp(text_of(&o, 1, 1, NULL), "p1b") &&
          !strcmp(text_of(&o, 1, 2, NULL), "n1b"), "element 1: %s", text_of(&o, 1, 1, NULL));
    CHECK(o.src.refs[2].line == 3, "line %u", o.src.refs[2].line);
    close_spec(&o);
    const char *bad = write_text("bad.jsonl", "{\"set\": {\"query\": \"q\", \"pos\": [\"a\", \"b\"], \"neg\": [\"c\"]}}\n");
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [\"set.query\", \"set.pos[*]\", \"set.neg[*]\"]}", bad, NULL) &&
          strstr(o.err.msg, "bad.jsonl:1: key \"set.pos[*]\" has 2 elements but key \"set.neg[*]\" has 1"), "%s",
          o.err.msg);
    close_spec(&o);
}

static void test_spec_errors(void)
{
    static const char *const bad[][2] = {
        {"{\"path\": \"x.jsonl\", \"columns\": [\"a[0]b\"]}", "is not a key path"},
        {"{\"path\": \"x.jsonl\", \"columns\": [\"a..b\"]}", "has an empty key"},
        {"{\"path\": \"x.jsonl\", \"columns\": [\"[0]\"]}", "is not a key path"},
        {"{\"path\": \"x.jsonl\", \"columns\": [\"a[*].b[*]\"]}", "more than one [*]"},
        {"{\"path\": \"x.jsonl\", \"columns\": [0]}", "JSONL columns are named by key, not by index"},
        {"{\"path\": \"x.tsv\", \"columns\": [\"a\"]}", "the file has no header"},
        {"{\"path\": \"x.tsv\", \"columns\": [0], \"drop_labels\": [1]}", "there is no data.label"},
        {"{\"path\": \"x.tsv\", \"colums\": [0]}", "unknown key \"data.colums\" (did you mean \"data.columns\"?)"},
        {"{\"shard\": \"x.shard\", \"label\": 1}", "a shard holds its own columns and labels"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        cJSON *json = cJSON_Parse(bad[k][0]);
        DataSpec spec;
        SeError err = {{0}};
        CHECK(data_spec_parse(&spec, json, "r.json", "data", NULL, &err) && strstr(err.msg, bad[k][1]), "%s: %s",
              bad[k][0], err.msg);
        data_spec_free(&spec);
        cJSON_Delete(json);
    }
}

static void test_gzip(const char *data)
{
    char path[1024], gz[1024];
    snprintf(path, sizeof path, "%s/stsb/sts-dev.csv", data);
    snprintf(gz, sizeof gz, "%s/dev.tsv.gz", tmp);
    FILE *in = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, in);
    fclose(in);
    /* two gzip members, as `cat a.gz b.gz` makes */
    gzFile g = gzopen(gz, "wb");
    gzwrite(g, buf, (unsigned)(n / 2));
    gzclose(g);
    g = gzopen(gz, "ab");
    gzwrite(g, buf + n / 2, (unsigned)(n - n / 2));
    gzclose(g);
    Opened a, b;
    const char *spec = "{\"path\": \"PATH\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4}";
    CHECK(open_spec(&a, spec, path, NULL) == 0 && open_spec(&b, spec, gz, NULL) == 0, "%s %s", a.err.msg, b.err.msg);
    CHECK(a.src.n == 1500 && b.src.n == 1500, "%zu %zu", a.src.n, b.src.n);
    int same = 1;
    for (size_t i = 0; i < a.src.n; i += 97) {
        char x[SE_ERROR_MAX + 16];
        snprintf(x, sizeof x, "%s", text_of(&a, i, 1, NULL));
        same &= !strcmp(x, text_of(&b, i, 1, NULL)) && a.src.refs[i].line == b.src.refs[i].line;
    }
    CHECK(same, "gzip and plain differ");
    close_spec(&a);
    close_spec(&b);
    /* truncated and corrupt */
    FILE *f = fopen(gz, "rb");
    size_t gn = fread(buf, 1, 1 << 20, f);
    fclose(f);
    const char *cut = write_file("cut.tsv.gz", buf, gn / 3);
    CHECK(open_spec(&a, spec, cut, NULL) && strstr(a.err.msg, "truncated gzip file"), "%s", a.err.msg);
    close_spec(&a);
    buf[gn / 4] ^= 0x55;
    buf[gn / 4 + 1] ^= 0x55;
    const char *bad = write_file("bad.tsv.gz", buf, gn);
    CHECK(open_spec(&a, spec, bad, NULL) && strstr(a.err.msg, "corrupt gzip data"), "%s", a.err.msg);
    close_spec(&a);
    free(buf);
}

static void test_labels_and_bad_rows(void)
{
    Opened o;
    const char *j = write_text("l.jsonl", "{\"a\": \"x\", \"l\": \"pos\"}\n"
                                          "{\"a\": \"y\", \"l\": \"neg\"}\n"
                                          "{\"a\": \"z\", \"l\": \"-\"}\n"
                                          "{\"a\": 5, \"l\": \"pos\"}\n"
                                          "not json\n"
                                          "{\"a\": \"\", \"l\": \"pos\"}\n"
                                          "{\"a\": \"w\", \"l\": \"maybe\"}\n"
                                          "{\"a\": \"\xC3\", \"l\": \"pos\"}\n");
    const char *spec = "{\"path\": \"PATH\", \"columns\": [\"a\"], \"label\": \"l\", "
                       "\"label_map\": {\"pos\": 1, \"neg\": 0, \"-\": -1}, \"drop_labels\": [-1]}";
    CHECK(open_spec(&o, spec, j, NULL) && strstr(o.err.msg, "l.jsonl:4: key \"a\": expected a string, got a number"),
          "%s", o.err.msg);
    close_spec(&o);
    DataOptions skip = {.skip_bad_rows = true, .num_labels = 2};
    CHECK(open_spec(&o, spec, j, &skip) == 0, "%s", o.err.msg);
    CHECK(o.src.n == 2 && o.src.dropped == 1 && o.src.skipped == 5 && o.src.rows == 8, "n %zu dropped %zu skipped %zu",
          o.src.n, o.src.dropped, o.src.skipped);
    double y;
    CHECK(!strcmp(text_of(&o, 1, 0, &y), "y") && y == 0, "label %g", y);
    close_spec(&o);
    /* class ids: a label outside 0..num_labels-1 */
    DataOptions two = {.num_labels = 1};
    const char *k = write_text("k.tsv", "a\t0\nb\t1\n");
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [0], \"label\": 1}", k, &two) &&
          strstr(o.err.msg, "k.tsv:2: label 1 (column 1) is not a class id in 0..0"), "%s", o.err.msg);
    close_spec(&o);
    /* label_scale */
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"columns\": [0], \"label\": 1, \"label_scale\": 4}", k, NULL) == 0, "%s",
          o.err.msg);
    text_of(&o, 1, 0, &y);
    CHECK(y == 0.25, "scaled label %g", y);
    close_spec(&o);
}

/* n examples whose single text repeats every `period` examples */
static uint64_t *repeating_hashes(size_t n, size_t period)
{
    uint64_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = 1000 + i % period;
    return h;
}

static void test_plans(void)
{
    PlanSet sets[2] = {{1000, NULL, 1}, {250, NULL, 1}};
    PlanConfig c = {16, false, SAMPLER_DEFAULT, SAMPLING_PROPORTIONAL, 42};
    EpochPlan a, b;
    /* a function of seed + epoch */
    plan_build(&a, sets, 1, &c, 3);
    plan_build(&b, sets, 1, &c, 3);
    CHECK(a.n_batches == 63 && !memcmp(a.examples, b.examples, 1000 * sizeof *a.examples), "same seed and epoch");
    plan_free(&b);
    plan_build(&b, sets, 1, &c, 4);
    CHECK(memcmp(a.examples, b.examples, 1000 * sizeof *a.examples), "another epoch, the same order");
    plan_free(&b);
    c.seed = 43;
    plan_build(&b, sets, 1, &c, 3);
    CHECK(memcmp(a.examples, b.examples, 1000 * sizeof *a.examples), "another seed, the same order");
    plan_free(&b);
    int seen[1000] = {0}, all_once = 1;
    for (size_t i = 0; i < 1000; i++)
        seen[a.examples[i]]++;
    for (int i = 0; i < 1000; i++)
        all_once &= seen[i] == 1;
    CHECK(all_once, "a permutation");
    plan_free(&a);
    /* drop_last */
    c.drop_last = true;
    plan_build(&a, sets, 1, &c, 0);
    int full = 1;
    for (size_t i = 0; i < a.n_batches; i++)
        full &= a.batches[i].rows == 16;
    CHECK(a.n_batches == 62 && full && plan_nominal_batches(sets, 1, &c) == 62, "drop_last: %zu", a.n_batches);
    plan_free(&a);
    c.drop_last = false;
    /* round robin: the smallest dataset decides (the cycle stops at the first dataset with
     * nothing left, as the reference's does: one more batch than its len() says);
     * proportional: every batch of both */
    c.sampling = SAMPLING_ROUND_ROBIN;
    plan_build(&a, sets, 2, &c, 0);
    int alternate = 1;
    for (size_t i = 0; i < a.n_batches; i++)
        alternate &= a.batches[i].set == i % 2;
    CHECK(a.n_batches == 2 * 16 + 1 && alternate && plan_nominal_batches(sets, 2, &c) == 32, "round robin: %zu",
          a.n_batches);
    plan_free(&a);
    c.sampling = SAMPLING_PROPORTIONAL;
    plan_build(&a, sets, 2, &c, 0);
    size_t per[2] = {0}, rows[2] = {0};
    for (size_t i = 0; i < a.n_batches; i++)
        per[a.batches[i].set]++, rows[a.batches[i].set] += a.batches[i].rows;
    CHECK(per[0] == 63 && per[1] == 16 && rows[0] == 1000 && rows[1] == 250 && plan_nominal_batches(sets, 2, &c) == 79,
          "proportional: %zu + %zu batches", per[0], per[1]);
    int mixed = a.batches[0].set != a.batches[1].set || a.batches[1].set != a.batches[2].set ||
                a.batches[2].set != a.batches[3].set || a.batches[3].set != a.batches[4].set;
    CHECK(mixed, "proportional batches are not interleaved");
    plan_free(&a);
    /* no_duplicates: no text twice in a batch, every example once */
    uint64_t *h = repeating_hashes(1000, 50);
    PlanSet dup = {1000, h, 1};
    c.sampler = SAMPLER_NO_DUPLICATES;
    c.batch_size = 32;
    plan_build(&a, &dup, 1, &c, 0);
    int clean = 1;
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < a.n_batches; i++)
        for (uint32_t r = 0; r < a.batches[i].rows; r++) {
            uint32_t e = a.examples[a.batches[i].first + r];
            seen[e]++;
            for (uint32_t q = 0; q < r; q++)
                clean &= h[a.examples[a.batches[i].first + q]] != h[e];
        }
    all_once = 1;
    for (int i = 0; i < 1000; i++)
        all_once &= seen[i] == 1;
    CHECK(clean && all_once && a.n_batches >= 32, "no_duplicates: clean %d, all once %d, %zu batches", clean, all_once,
          a.n_batches);
    plan_free(&a);
    /* 50 distinct texts and batch 32: without drop_last every batch has 32, with it too */
    c.drop_last = true;
    plan_build(&a, &dup, 1, &c, 1);
    full = 1;
    for (size_t i = 0; i < a.n_batches; i++)
        full &= a.batches[i].rows == 32;
    CHECK(full && a.n_batches > 0, "no_duplicates + drop_last");
    plan_free(&a);
    free(h);
}

static uint64_t le_at(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

/* Every sequence of an open shard, as training reads them. */
static int read_all(const Shard *s, SeError *err)
{
    for (size_t i = 0; i < s->n_examples; i++)
        for (uint32_t c = 0; c < s->n_columns; c++) {
            size_t len;
            if (!shard_sequence(s, i, (int)c, &len, err))
                return -1;
        }
    return 0;
}

/* The first `keep` bytes of shard `good`, with byte `flip` changed (none past keep) and
 * the version set to `version` (0: unchanged), are refused with a message holding `want`:
 * at open, or (at_open false) when the damaged ids are read. */
static void expect_damaged(const char *what, const unsigned char *good, size_t keep, size_t flip, int version,
                           bool at_open, const char *want)
{
    unsigned char *bad = malloc(keep);
    memcpy(bad, good, keep);
    if (flip < keep)
        bad[flip] ^= 0x10;
    if (version)
        bad[8] = (unsigned char)version;
    const char *path = write_file("damaged.shard", (const char *)bad, keep);
    Shard s;
    SeError err = {{0}};
    int opened = shard_open(&s, path, &err) == 0, rc = -1;
    if (opened) {
        rc = read_all(&s, &err);
        shard_close(&s);
    }
    CHECK(rc != 0 && opened == !at_open && strstr(err.msg, "damaged.shard: ") && strstr(err.msg, want),
          "%s: expected '%s' %s, got '%s'", what, want, at_open ? "at open" : "when read", err.msg);
    free(bad);
}

/* A flipped byte in each part of a shard is found and named with its byte range; a cut
 * shard and a version 1 shard are refused. */
static void test_shard_damage(const char *shard_path)
{
    char *data;
    size_t size;
    SeError err;
    if (file_read_all(shard_path, &data, &size, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    const unsigned char *h = (const unsigned char *)data;
    const uint64_t offsets_at = le_at(h + 64, 8), ids_at = le_at(h + 72, 8), labels_at = le_at(h + 80, 8);
    const uint64_t checksums_at = le_at(h + 96, 8), block = le_at(h + 104, 4);
    const uint64_t n_blocks = (checksums_at - SHARD_HEADER_BYTES + block - 1) / block;
    CHECK(block == SHARD_BLOCK_BYTES && n_blocks >= 3 && size == checksums_at + 4 * n_blocks,
          "%llu blocks of %llu bytes", (unsigned long long)n_blocks, (unsigned long long)block);
    const struct {
        const char *section;
        uint64_t at;
    } flips[] = {{"ids", ids_at + 5}, {"ids", ids_at + block + 17}, {"offsets", offsets_at + 8 * 100 + 1},
                 {"labels", labels_at + 8 * 7 + 6}};
    for (size_t k = 0; k < sizeof flips / sizeof *flips; k++) {
        uint64_t b = (flips[k].at - SHARD_HEADER_BYTES) / block, a = SHARD_HEADER_BYTES + b * block;
        uint64_t end = a + block < checksums_at ? a + block : checksums_at;
        /* a block of ids alone is checked when read; one with offsets or labels at open */
        bool at_open = end > offsets_at;
        char want[256];
        snprintf(want, sizeof want, "damaged shard: bytes %llu..%llu (block %llu of %llu, holding ",
                 (unsigned long long)a, (unsigned long long)end, (unsigned long long)b + 1,
                 (unsigned long long)n_blocks);
        expect_damaged(flips[k].section, h, size, flips[k].at, 0, at_open, want);
        snprintf(want, sizeof want, "%s) have CRC-32 ", flips[k].section);
        expect_damaged(flips[k].section, h, size, flips[k].at, 0, at_open, want);
    }
    expect_damaged("checksum table", h, size, checksums_at + 2, 0, true, "the block checksums (bytes ");
    expect_damaged("header", h, size, 20, 0, true, "the header's checksum does not match");
    expect_damaged("cut", h, size - 3, size, 0, true, "(truncated?)");
    expect_damaged("version 1", h, size, size, 1, true,
                   "version 1 has no checksums of its body): re-make it with sentembed tokenize --shard ");

    /* A reader verifies what it reads: with the first block damaged, the sequences in the
     * second still read, those in the first do not (and again not on a second try). */
    unsigned char *bad = malloc(size);
    memcpy(bad, h, size);
    bad[ids_at + 5] ^= 0x10;
    const char *path = write_file("damaged.shard", (const char *)bad, size);
    Shard s;
    if (shard_open(&s, path, &err) == 0) {
        size_t i = 0, len;
        while (i < s.n_examples && ids_at + s.offsets[i * 2] * 4 < SHARD_HEADER_BYTES + block)
            i++; /* the first example whose ids start in block 2 */
        CHECK(i < s.n_examples && ids_at + s.offsets[i * 2 + 2] * 4 <= SHARD_HEADER_BYTES + 2 * block,
              "no example lies in block 2");
        CHECK(shard_sequence(&s, i, 0, &len, &err) && shard_sequence(&s, i, 1, &len, &err), "block 2: %s", err.msg);
        for (int attempt = 0; attempt < 2; attempt++)
            CHECK(!shard_sequence(&s, 0, 0, &len, &err) && strstr(err.msg, "(block 1 of "), "block 1 read: %s",
                  err.msg);
        shard_close(&s);
    } else {
        CHECK(0, "a damaged block of ids alone fails at open: %s", err.msg);
    }
    free(bad);
    /* an id outside the vocabulary, its block's checksum set right, is refused when read */
    memcpy(bad = malloc(size), h, size);
    const uint32_t huge = 0x7fffffff;
    memcpy(bad + ids_at + 4, &huge, 4);
    uint32_t crc = (uint32_t)crc32_z(0, bad + SHARD_HEADER_BYTES, block);
    memcpy(bad + checksums_at, &crc, 4);
    crc = (uint32_t)crc32_z(0, bad + checksums_at, n_blocks * 4);
    memcpy(bad + 108, &crc, 4);
    uint64_t fnv = fnv1a64(FNV64_START, bad, 112);
    memcpy(bad + 112, &fnv, 8);
    expect_damaged("id outside the vocabulary", bad, size, size, 0, false, "damaged shard: id 2147483647 at 1 is "
                   "outside the vocabulary of");
    free(bad);
    free(data);
}

static void test_shard(const char *data)
{
    char model[1024], path[1024], shard_path[1024];
    snprintf(model, sizeof model, "%s/minilm-config", data);
    snprintf(path, sizeof path, "%s/stsb/sts-dev.csv", data);
    snprintf(shard_path, sizeof shard_path, "%s/dev.shard", tmp);
    Tokenizer tok;
    SeError err;
    if (tok_load_dir(&tok, model, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    Opened o;
    CHECK(open_spec(&o, "{\"path\": \"PATH\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4, \"label_scale\": 5}",
                    path, NULL) == 0, "%s", o.err.msg);
    const int L = 24; /* short enough that some sequences are cut */
    CHECK(shard_write(shard_path, &o.src, &tok, L, 0, &err) == 0, "%s", err.msg);
    Shard s;
    CHECK(shard_open(&s, shard_path, &err) == 0, "%s", err.msg);
    CHECK(s.n_examples == 1500 && s.n_columns == 2 && s.has_label && s.n_truncated > 0, "%llu examples, %llu cut",
          (unsigned long long)s.n_examples, (unsigned long long)s.n_truncated);
    CHECK(shard_check_tokenizer(&s, &tok, L, &err) == 0, "%s", err.msg);
    CHECK(shard_check_tokenizer(&s, &tok, L + 1, &err) && strstr(err.msg, "--max-seq-length 25"), "%s", err.msg);
    /* ids from the shard, cut to 16 by the packer, equal ids from tokenizing the text with 16 and with L */
    RowParser p;
    data_source_parser(&o.src, &p);
    TokBatch tb = {0};
    PackedBatch pb = {0};
    pb.ids = malloc(2 * 64 * 4), pb.positions = malloc(2 * 64 * 4), pb.types = malloc(2 * 64 * 4);
    pb.cu_seqlens = malloc(3 * 4);
    int equal = 1, labels_equal = 1;
    for (size_t i = 0; i < 1500; i++) {
        DataExample ex;
        if (data_source_read(&o.src, &p, i, &ex, &err))
            break;
        labels_equal &= s.labels[i] == ex.label;
        for (int cut = 16; cut <= L; cut += L - 16) {
            tok_encode_batch(&tok, &tb, ex.text, ex.len, NULL, NULL, 2, (size_t)cut, 1);
            const int32_t *seqs[2];
            size_t lens[2];
            seqs[0] = shard_sequence(&s, i, 0, &lens[0], &err);
            seqs[1] = shard_sequence(&s, i, 1, &lens[1], &err);
            if (!seqs[0] || !seqs[1]) {
                CHECK(0, "%s", err.msg);
                break;
            }
            packed_batch_from_seqs(&pb, seqs, lens, 2, (size_t)cut);
            equal &= pb.n_tokens == (int)tb.offsets[2] && !memcmp(pb.ids, tb.ids, tb.offsets[2] * 4) &&
                     pb.cu_seqlens[1] == (int)tb.offsets[1];
        }
    }
    CHECK(equal, "shard ids differ from tokenizing the text");
    CHECK(labels_equal, "shard labels differ");
    /* another vocabulary is refused */
    Tokenizer other;
    char vocab[1024];
    snprintf(vocab, sizeof vocab, "%s/vocab_small.txt", tmp);
    FILE *f = fopen(vocab, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n", f);
    fclose(f);
    CHECK(tok_load_vocab(&other, vocab, &err) == 0, "%s", err.msg);
    CHECK(shard_check_tokenizer(&s, &other, 16, &err) && strstr(err.msg, "another vocabulary"), "%s", err.msg);
    tok_free(&other);
    free(pb.ids), free(pb.positions), free(pb.types), free(pb.cu_seqlens);
    tok_batch_free(&tb);
    row_parser_free(&p);
    shard_close(&s);
    close_spec(&o);
    tok_free(&tok);
    test_shard_damage(shard_path);
}

int main(int argc, char **argv)
{
    if (argc < 2 || access(argv[1], R_OK) != 0) {
        printf("SKIP: shared data not found\n");
        return CHECK_SKIP;
    }
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/test_data_source.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_formats(argv[1]);
    test_quoting_and_lines();
    test_json_paths();
    test_spec_errors();
    test_gzip(argv[1]);
    test_labels_and_bad_rows();
    test_plans();
    test_shard(argv[1]);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return check_summary("test_data_source");
}
