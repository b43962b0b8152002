/* trainer/st_save: a saved model reads back (sm_load) to bit-identical embeddings and
 * bit-identical tensors, for the tiny-bert fixture in two pipelines
 * (mean_dense_normalize: Pooling + Dense + Normalize; cls: Pooling only); saving over an
 * existing model replaces it whole; bad output paths fail with a message naming them and
 * leave nothing behind.
 * usage: test_st_save FIXTURES_DIR (tests/fixtures/encoder)
 * With SENTEMBED_ST_SAVE_KEEP=DIR set, each variant is also kept as DIR/NAME-orig (the
 * assembled input) and DIR/NAME (as st_save wrote it), for scripts/check_st_load.py. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/fileio.h"
#include "host/safetensors.h"
#include "tests/check.h"
#include "trainer/sentence_model.h"
#include "trainer/st_save.h"

static const char *SENTENCES[] = {
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "The quick brown fox jumps over the lazy dog.",
    "Two DOGS are RUNNING through a Field of snow!",
    "Hello, world",
    "x",
    "naïve café résumé — déjà vu",
    "Ελληνικά και русский текст",
    "吾輩は猫である。名前はまだ無い。",
    "emoji 😀🚀 and symbols ∑ ∫ √",
    "What is the boundary-layer thickness of a flat plate in hypersonic flow at high Mach numbers "
    "with strong viscous interaction, and how does it depend on the wall temperature, the Reynolds "
    "number, the Prandtl number and the ratio of specific heats of the gas around the body?",
    "A child in a red jacket is sliding down a slide.",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "kittens",
    "The cat sat on the mat.",
    "The cat did not sit on the mat.",
    "Researchers reported new results about turbulent convection in rotating fluids.",
    "   leading and trailing spaces   ",
    "Numbers 12345 and 3.14159 and 2024-11-26.",
    "UPPER CASE SENTENCE THAT SHOULD BE LOWERED",
};
enum { N_SENT = sizeof SENTENCES / sizeof *SENTENCES };

enum { PATHCAP = 4096 };

/* a + "/" + b into buf (PATHCAP bytes); a path that does not fit ends the test. */
static char *join(char *buf, const char *a, const char *b)
{
    int n = snprintf(buf, PATHCAP, "%s/%s", a, b);
    if (n < 0 || n >= PATHCAP) {
        fprintf(stderr, "path too long: %s/%s\n", a, b);
        exit(1);
    }
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int copy_one(const char *src, const char *dst)
{
    char *data;
    size_t len;
    SeError err;
    if (file_read_all(src, &data, &len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    FILE *f = fopen(dst, "wb");
    int rc = f && fwrite(data, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(data);
    return rc;
}

/* Copies the files and subdirectories of src into dst (created if missing). */
static int copy_tree(const char *src, const char *dst)
{
    if (mkdir(dst, 0755) != 0 && errno != EEXIST)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char s[PATHCAP], t[PATHCAP];
        join(s, src, de->d_name);
        join(t, dst, de->d_name);
        rc = dir_exists(s) ? copy_tree(s, t) : copy_one(s, t);
    }
    closedir(d);
    return rc;
}

static bool same_file(const char *a, const char *b)
{
    char *da, *db;
    size_t la, lb;
    SeError err;
    if (file_read_all(a, &da, &la, &err))
        return false;
    if (file_read_all(b, &db, &lb, &err)) {
        free(da);
        return false;
    }
    bool same = la == lb && memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}

static float *encode_dir(const char *dir, int *dim, SentenceModel *keep)
{
    SentenceModel m;
    SeError err;
    if (sm_load(&m, dir, ops_cpu(), 8, 0, &err)) {
        CHECK(0, "sm_load %s: %s", dir, err.msg);
        return NULL;
    }
    size_t lens[N_SENT];
    for (int i = 0; i < N_SENT; i++)
        lens[i] = strlen(SENTENCES[i]);
    float *out = malloc((size_t)N_SENT * m.out_dim * sizeof *out);
    sm_encode(&m, SENTENCES, lens, N_SENT, false, out, NULL, NULL);
    *dim = m.out_dim;
    if (keep)
        *keep = m;
    else
        sm_free(&m);
    return out;
}

/* Every tensor of saved/REL equals the tensor of the same name in orig/REL, bit for bit;
 * returns the number of tensors compared. */
static int compare_tensors(const char *orig_dir, const char *saved_dir, const char *rel)
{
    char po[PATHCAP], ps[PATHCAP];
    join(po, orig_dir, rel);
    join(ps, saved_dir, rel);
    StFile fo, fs;
    SeError err;
    if (st_open(&fo, po, &err)) {
        CHECK(0, "st_open %s: %s", po, err.msg);
        return 0;
    }
    if (st_open(&fs, ps, &err)) {
        CHECK(0, "st_open %s: %s", ps, err.msg);
        st_close(&fo);
        return 0;
    }
    int n = 0;
    for (int i = 0; i < fs.n_tensors; i++) {
        const StTensor *ts = &fs.tensors[i], *to = st_find(&fo, ts->name);
        CHECK(ts->dtype == ST_F32, "%s: %s is %s", ps, ts->name, st_dtype_name(ts->dtype));
        if (!to) {
            CHECK(0, "%s: tensor %s is not in %s", ps, ts->name, po);
            continue;
        }
        bool shape = ts->ndim == to->ndim;
        for (int d = 0; shape && d < ts->ndim; d++)
            shape = ts->shape[d] == to->shape[d];
        CHECK(shape, "%s: shape differs", ts->name);
        if (!shape)
            continue;
        size_t cnt = st_numel(ts);
        float *a = malloc(cnt * sizeof *a + 1), *b = malloc(cnt * sizeof *b + 1);
        CHECK(st_read_f32(&fs, ts, a, cnt, &err) == 0 && st_read_f32(&fo, to, b, cnt, &err) == 0, "read: %s",
              err.msg);
        CHECK(memcmp(a, b, cnt * sizeof *a) == 0, "%s: %s differs from the original", ps, ts->name);
        free(a);
        free(b);
        n++;
    }
    st_close(&fo);
    st_close(&fs);
    return n;
}

/* No leftover OUT.tmp.* / OUT.old.* beside the output directories in base. */
static void check_no_leftovers(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        CHECK(!strstr(de->d_name, ".tmp.") && !strstr(de->d_name, ".old."), "%s/%s left behind", base, de->d_name);
    closedir(d);
}

static void check_variant(const char *fixtures, const char *base, const char *variant, int want_dim,
                          bool want_dense, bool want_norm)
{
    char orig[PATHCAP], saved[PATHCAP], src[PATHCAP];
    char name[64];
    snprintf(name, sizeof name, "%s-orig", variant);
    join(orig, base, name);
    join(saved, base, variant);
    join(src, fixtures, "tiny-bert");
    CHECK(copy_tree(src, orig) == 0, "copy %s", src);
    snprintf(name, sizeof name, "variants/%s", variant);
    join(src, fixtures, name);
    CHECK(copy_tree(src, orig) == 0, "copy %s", src);

    int dim_a = 0, dim_b = 0;
    SentenceModel m;
    float *a = encode_dir(orig, &dim_a, &m);
    if (!a)
        return;
    CHECK(dim_a == want_dim, "%s: dim %d", variant, dim_a);
    CHECK(m.pipe.has_dense == want_dense && m.pipe.normalize == want_norm, "%s: pipeline", variant);
    SeError err;
    CHECK(st_save(&m, saved, NULL, &err) == 0, "st_save %s: %s", saved, err.msg);
    /* saving again replaces the directory whole (the previous one is moved aside and removed) */
    CHECK(st_save(&m, saved, NULL, &err) == 0, "st_save over %s: %s", saved, err.msg);
    const char *keep = getenv("SENTEMBED_ST_SAVE_KEEP");
    if (keep && *keep) {
        char k[PATHCAP];
        join(k, keep, variant);
        CHECK(st_save(&m, k, NULL, &err) == 0, "st_save %s: %s", k, err.msg);
        snprintf(name, sizeof name, "%s-orig", variant);
        join(k, keep, name);
        rm_rf(k);
        CHECK(copy_tree(orig, k) == 0, "keep %s", k);
    }
    int max_len = m.max_seq_length;
    sm_free(&m);

    SentenceModel r;
    float *b = encode_dir(saved, &dim_b, &r);
    if (b) {
        CHECK(dim_b == dim_a, "%s: saved dim %d, original %d", variant, dim_b, dim_a);
        CHECK(memcmp(a, b, (size_t)N_SENT * dim_a * sizeof *a) == 0, "%s: embeddings differ after save/load",
              variant);
        CHECK(r.pipe.from_modules_json && r.pipe.pooling == (want_dense ? POOL_MEAN : POOL_CLS) &&
                  r.pipe.has_dense == want_dense && r.pipe.normalize == want_norm,
              "%s: saved pipeline differs", variant);
        CHECK(r.max_seq_length == max_len && r.pipe.max_seq_length == max_len && r.pipe.do_lower_case == false,
              "%s: max_seq_length %d (want %d)", variant, r.pipe.max_seq_length, max_len);
        if (want_dense)
            CHECK(r.pipe.dense_act == DENSE_TANH && r.pipe.dense_bias && r.pipe.dense_in == 64 &&
                      r.pipe.dense_out == 32,
                  "%s: Dense config", variant);
        sm_free(&r);
    }
    free(a);
    free(b);

    int n = compare_tensors(orig, saved, "model.safetensors");
    /* 5 + 16 per layer, plus the pooler carried over from the source (it has one) */
    CHECK(n == 5 + 16 * 2 + 2, "%s: %d encoder tensors compared", variant, n);
    if (want_dense) {
        n = compare_tensors(orig, saved, "2_Dense/model.safetensors");
        CHECK(n == 2, "%s: %d Dense tensors compared", variant, n);
    }
    static const char *const TOK[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                      "special_tokens_map.json"};
    for (int k = 0; k < 4; k++) {
        char x[PATHCAP], y[PATHCAP];
        join(x, orig, TOK[k]);
        join(y, saved, TOK[k]);
        CHECK(same_file(x, y), "%s is not a byte copy of %s", y, x);
    }
    char p[PATHCAP];
    join(p, saved, want_dense ? "3_Normalize" : "2_Dense");
    CHECK(dir_exists(p) == want_norm, "%s", p);
    join(p, saved, "2_Dense/config.json");
    CHECK(file_exists(p) == want_dense, "%s", p);
    check_no_leftovers(base);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    const char *fixtures = argv[1];
    char base[] = "/tmp/sentembed_test_st_save_XXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    check_variant(fixtures, base, "mean_dense_normalize", 32, true, true);
    check_variant(fixtures, base, "cls", 64, false, false);

    /* errors: each names the path, and nothing is left behind */
    char orig[PATHCAP], p[PATHCAP];
    join(orig, base, "cls-orig");
    SentenceModel m;
    SeError err;
    if (sm_load(&m, orig, ops_cpu(), 4, 0, &err) == 0) {
        join(p, base, "no/such/parent/out");
        err.msg[0] = 0;
        CHECK(st_save(&m, p, NULL, &err) != 0, "saving under a missing parent succeeded");
        char parent[PATHCAP];
        join(parent, base, "no/such/parent");
        CHECK(strstr(err.msg, parent) != NULL, "message does not name %s: %s", parent, err.msg);
        CHECK(!dir_exists(parent), "%s was created", parent);

        /* an existing directory that holds no model is left alone */
        join(p, base, "not-a-model");
        mkdir(p, 0755);
        char keepfile[PATHCAP];
        join(keepfile, p, "notes.txt");
        FILE *f = fopen(keepfile, "w");
        if (f) {
            fputs("precious\n", f);
            fclose(f);
        }
        err.msg[0] = 0;
        CHECK(st_save(&m, p, NULL, &err) != 0, "replaced a directory that is not a model");
        CHECK(strstr(err.msg, p) && strstr(err.msg, "not a model written by sentembed"), "message: %s", err.msg);
        CHECK(file_exists(keepfile), "%s was removed", keepfile);
        join(keepfile, p, "modules.json");
        CHECK(!file_exists(keepfile), "a model was written into %s", p);

        /* a regular file in the way */
        join(p, base, "a-file");
        f = fopen(p, "w");
        if (f)
            fclose(f);
        err.msg[0] = 0;
        CHECK(st_save(&m, p, NULL, &err) != 0 && strstr(err.msg, p) && strstr(err.msg, "not a directory"),
              "message: %s", err.msg);

        /* an empty directory is filled; a trailing slash is fine */
        join(p, base, "empty");
        mkdir(p, 0755);
        char slash[PATHCAP];
        join(slash, p, "");
        CHECK(st_save(&m, slash, NULL, &err) == 0, "st_save %s: %s", slash, err.msg);
        join(slash, p, "modules.json");
        CHECK(file_exists(slash), "%s", slash);
        check_no_leftovers(base);
        sm_free(&m);
    } else {
        CHECK(0, "sm_load %s: %s", orig, err.msg);
    }
    rm_rf(base);
    return check_summary("test_st_save");
}
