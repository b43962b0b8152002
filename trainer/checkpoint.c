#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/fileio.h"
#include "host/hash.h"
#include "trainer/checkpoint.h"
#include "trainer/manifest.h"
#include "trainer/st_save.h"

#define STATE_FILE "training_state.bin"
/* version 2: the data position is a batch of the epoch's plan (version 1 counted examples) */
static const char MAGIC[8] = {'S', 'E', 'M', 'B', 'T', 'R', 'N', '2'};
enum { CHUNK_FLOATS = 1 << 22 };

typedef struct {
    FILE *f;
    uint64_t hash;
    int failed;
} Writer;

static void put(Writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
    w->hash = fnv1a64(w->hash, p, n);
}

static void put_u64(Writer *w, uint64_t v) { put(w, &v, sizeof v); }

/* n backend floats, through a host buffer in chunks */
static void put_backend(Writer *w, const Ops *ops, const float *src, size_t n, float *buf)
{
    for (size_t off = 0; off < n; off += CHUNK_FLOATS) {
        size_t k = n - off < CHUNK_FLOATS ? n - off : CHUNK_FLOATS;
        ops->copy_to_host(buf, src + off, k * sizeof(float));
        put(w, buf, k * sizeof(float));
    }
}

/* The trainer's arrays in file order: counts, then (pointer, count) pairs. */
typedef struct {
    float *p[10];
    size_t n[10];
    int k;
} StateArrays;

static StateArrays state_arrays(const Trainer *t, uint64_t counts[5])
{
    const SentenceModel *m = t->m;
    StateArrays a = {{0}, {0}, 0};
    counts[0] = m->enc.n_params;
    counts[1] = m->pipe.has_dense ? (uint64_t)m->pipe.dense_out * (uint64_t)m->pipe.dense_in : 0;
    counts[2] = m->pipe.has_dense ? (uint64_t)m->pipe.dense_out : 0;
    counts[3] = t->loss.kind == LOSS_SOFTMAX ? (uint64_t)t->loss.num_labels * 3 * (uint64_t)m->out_dim : 0;
    counts[4] = t->loss.kind == LOSS_SOFTMAX ? (uint64_t)t->loss.num_labels : 0;
#define ADD(ptr, count)                                                                                          \
    do {                                                                                                         \
        if (count) {                                                                                             \
            a.p[a.k] = (ptr);                                                                                    \
            a.n[a.k++] = (size_t)(count);                                                                        \
        }                                                                                                        \
    } while (0)
    ADD(t->m_enc, counts[0]);
    ADD(t->v_enc, counts[0]);
    ADD(t->dense_mw, counts[1]);
    ADD(t->dense_vw, counts[1]);
    ADD(t->dense_mb, counts[2]);
    ADD(t->dense_vb, counts[2]);
    ADD(t->cls_w, counts[3]);
    ADD(t->cls_mw, counts[3]);
    ADD(t->cls_vw, counts[3]);
    ADD(t->cls_b, counts[4]);
#undef ADD
    return a;
}

static int write_state(const char *path, const Trainer *t, const TrainPosition *pos, SeError *err)
{
    Writer w = {fopen(path, "wb"), FNV64_START, 0};
    if (!w.f)
        return se_fail(err, "%s: cannot create: %s", path, strerror(errno));
    uint64_t counts[5];
    StateArrays a = state_arrays(t, counts);
    put(&w, MAGIC, sizeof MAGIC);
    put_u64(&w, pos->config_hash);
    put_u64(&w, (uint64_t)pos->step);
    put_u64(&w, (uint64_t)pos->micro_steps);
    put_u64(&w, (uint64_t)pos->epoch);
    put_u64(&w, pos->batch_start);
    for (int k = 0; k < 5; k++)
        put_u64(&w, counts[k]);
    float *buf = se_xmalloc((size_t)CHUNK_FLOATS * sizeof *buf);
    const Ops *ops = t->m->ops;
    for (int k = 0; k < a.k; k++)
        put_backend(&w, ops, a.p[k], a.n[k], buf);
    if (counts[4]) { /* the classifier's bias moments, after its bias */
        put_backend(&w, ops, t->cls_mb, counts[4], buf);
        put_backend(&w, ops, t->cls_vb, counts[4], buf);
    }
    free(buf);
    uint64_t h = w.hash;
    put_u64(&w, h);
    int bad = w.failed || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0;
    bad |= fclose(w.f) != 0;
    if (bad)
        return se_fail(err, "%s: write failed (disk full?)", path);
    return 0;
}

/* "checkpoint-N" -> N, or -1 for any other name */
static long checkpoint_number(const char *name)
{
    if (strncmp(name, "checkpoint-", 11) != 0 || !name[11])
        return -1;
    char *end;
    long n = strtol(name + 11, &end, 10);
    return *end || n < 0 ? -1 : n;
}

static int cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The checkpoint numbers under root, newest first; *n of them (free the result). */
static long *list_checkpoints(const char *root, size_t *n)
{
    *n = 0;
    DIR *d = opendir(root);
    if (!d)
        return NULL;
    size_t cap = 16;
    long *v = se_xmalloc(cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        long k = checkpoint_number(e->d_name);
        if (k < 0)
            continue;
        if (*n == cap)
            v = se_xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = k;
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_desc);
    return v;
}

/* Leftovers of interrupted writes (".tmp-checkpoint-*") are removed. */
static void remove_leftovers(const char *root)
{
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *e;
    char path[4096 + 512];
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, ".tmp-checkpoint-", 16)) {
            snprintf(path, sizeof path, "%s/%s", root, e->d_name);
            remove_tree(path);
        }
    closedir(d);
}

/* Renamed out of the checkpoint namespace first (atomic), so a crash in the middle of the
 * removal never leaves a half-deleted "checkpoint-N" behind. */
static void remove_checkpoint(const char *root, long number)
{
    char path[4400], doomed[4400];
    snprintf(path, sizeof path, "%s/checkpoint-%ld", root, number);
    snprintf(doomed, sizeof doomed, "%s/.tmp-checkpoint-%ld.deleting.%ld", root, number, (long)getpid());
    if (rename(path, doomed) == 0)
        remove_tree(doomed);
}

int checkpoint_write(const char *output_dir, const Trainer *t, const TrainPosition *pos, const char *metrics_path,
                     int keep, char *written, size_t written_cap, SeError *err)
{
    char root[4096], tmp[4200], final[4200], path[4400];
    if (t->pending)
        return se_fail(err, "internal: a checkpoint in the middle of gradient accumulation");
    snprintf(root, sizeof root, "%s/checkpoints", output_dir);
    if (mkdir(output_dir, 0755) != 0 && errno != EEXIST)
        return se_fail(err, "%s: cannot create: %s", output_dir, strerror(errno));
    if (mkdir(root, 0755) != 0 && errno != EEXIST)
        return se_fail(err, "%s: cannot create: %s", root, strerror(errno));
    remove_leftovers(root);
    snprintf(tmp, sizeof tmp, "%s/.tmp-checkpoint-%ld.%ld", root, pos->step, (long)getpid());
    snprintf(final, sizeof final, "%s/checkpoint-%ld", root, pos->step);
    if (mkdir(tmp, 0755) != 0)
        return se_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    snprintf(path, sizeof path, "%s/" STATE_FILE, tmp);
    int rc = st_save_into(t->m, tmp, err) || write_state(path, t, pos, err);
    if (!rc && metrics_path && file_exists(metrics_path)) {
        snprintf(path, sizeof path, "%s/metrics.jsonl", tmp);
        rc = file_copy(metrics_path, path, err);
    }
    if (!rc) /* last: it covers every file above */
        rc = manifest_write(tmp, MANIFEST_CHECKPOINT, pos->step, pos->config_hash, err);
    if (!rc) {
        fsync_dir(tmp);
        char doomed[4400];
        snprintf(doomed, sizeof doomed, "%s.deleting.%ld", tmp, (long)getpid());
        if (dir_exists(final) && (rename(final, doomed) != 0 || remove_tree(doomed) != 0))
            rc = se_fail(err, "%s: cannot replace it (a checkpoint of the same step from an earlier run): %s", final,
                         strerror(errno));
        else if (rename(tmp, final) != 0)
            rc = se_fail(err, "%s: cannot rename %s into place: %s", final, tmp, strerror(errno));
    }
    if (rc) {
        remove_tree(tmp);
        return -1;
    }
    fsync_dir(root);
    if (written)
        snprintf(written, written_cap, "%s", final);
    size_t n, ours = 0;
    long *v = list_checkpoints(root, &n);
    for (size_t i = 0; i < n && keep > 0; i++) {
        uint64_t hash;
        SeError ignored;
        snprintf(path, sizeof path, "%s/checkpoint-%ld", root, v[i]);
        /* only this recipe's checkpoints count and go: another run's are never pruned */
        if (checkpoint_recipe(path, &hash, &ignored) == 0 && hash == pos->config_hash && ++ours > (size_t)keep)
            remove_checkpoint(root, v[i]);
    }
    free(v);
    return 0;
}

int checkpoint_recipe(const char *dir, uint64_t *hash, SeError *err)
{
    ManifestInfo info;
    if (manifest_read(dir, &info, err) == 0) {
        *hash = info.recipe_hash;
        manifest_info_free(&info);
        return 0;
    }
    /* an earlier sentembed's checkpoint, without a manifest: its state file's header */
    char path[4200];
    unsigned char head[16];
    snprintf(path, sizeof path, "%s/" STATE_FILE, dir);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof head || memcmp(head, MAGIC, 7) != 0)
        return se_fail(err, "%s: neither a manifest nor a training state", dir);
    memcpy(hash, head + 8, 8);
    return 0;
}

size_t checkpoint_count(const char *output_dir)
{
    char root[4200];
    snprintf(root, sizeof root, "%s/checkpoints", output_dir);
    size_t n;
    free(list_checkpoints(root, &n));
    return n;
}

size_t checkpoint_count_foreign(const char *output_dir, uint64_t recipe_hash, char *first, size_t cap)
{
    char root[4200], path[4400];
    snprintf(root, sizeof root, "%s/checkpoints", output_dir);
    size_t n, foreign = 0;
    long *v = list_checkpoints(root, &n);
    for (size_t i = 0; i < n; i++) {
        uint64_t hash;
        SeError ignored;
        snprintf(path, sizeof path, "%s/checkpoint-%ld", root, v[i]);
        if (checkpoint_recipe(path, &hash, &ignored) == 0 && hash != recipe_hash && !foreign++ && first)
            snprintf(first, cap, "%s", path);
    }
    free(v);
    return foreign;
}

size_t checkpoint_remove_all(const char *output_dir)
{
    char root[4200];
    snprintf(root, sizeof root, "%s/checkpoints", output_dir);
    remove_leftovers(root);
    size_t n;
    long *v = list_checkpoints(root, &n);
    for (size_t i = 0; i < n; i++)
        remove_checkpoint(root, v[i]);
    free(v);
    rmdir(root); /* only when nothing else is in it */
    return n;
}

/* Reads the whole state file and checks magic, size and checksum; *data is the file. */
static int load_state_file(const char *dir, unsigned char **data, size_t *len, char *path, size_t cap, SeError *err)
{
    snprintf(path, cap, "%s/" STATE_FILE, dir);
    if (file_read_all(path, (char **)data, len, err))
        return -1;
    if (*len >= 8 && !memcmp(*data, MAGIC, 7) && (*data)[7] == '1') {
        free(*data);
        return se_fail(err, "%s: written by an earlier sentembed, whose data position counts examples where this "
                       "one counts batches; it cannot be resumed exactly: start the run again", path);
    }
    if (*len < 8 + 8 * 10 + 8 || memcmp(*data, MAGIC, 8) != 0) {
        free(*data);
        return se_fail(err, "%s: not a sentembed training state (bad magic or truncated)", path);
    }
    uint64_t want;
    memcpy(&want, *data + *len - 8, 8);
    if (fnv1a64(FNV64_START, *data, *len - 8) != want) {
        free(*data);
        return se_fail(err, "%s: checksum mismatch (the file is damaged)", path);
    }
    return 0;
}

int checkpoint_verify(const char *dir, SeError *err) { return checkpoint_describe(dir, NULL, err); }

int checkpoint_describe(const char *dir, TrainPosition *pos, SeError *err)
{
    unsigned char *data;
    size_t len;
    char path[4200];
    ManifestInfo info;
    if (manifest_verify(dir, &info, err))
        return -1;
    int rc = 0;
    if (info.kind != MANIFEST_CHECKPOINT)
        rc = se_fail(err, "%s/%s: a model's manifest, not a checkpoint's", dir, MANIFEST_FILE);
    manifest_info_free(&info);
    if (rc || load_state_file(dir, &data, &len, path, sizeof path, err))
        return -1;
    uint64_t f[5];
    memcpy(f, data + 8, sizeof f);
    free(data);
    /* both files hash-verified: a disagreement means they come from different checkpoints */
    if ((long)f[1] != info.step || f[0] != info.recipe_hash)
        return se_fail(err, "%s: %s is of step %ld and recipe %016llx, the manifest of step %ld and recipe %016llx "
                       "(files of different checkpoints)", dir, STATE_FILE, (long)f[1], (unsigned long long)f[0],
                       info.step, (unsigned long long)info.recipe_hash);
    if (pos) {
        pos->config_hash = f[0];
        pos->step = (long)f[1], pos->micro_steps = (long)f[2], pos->epoch = (long)f[3], pos->batch_start = f[4];
    }
    return 0;
}

int checkpoint_latest(const char *output_dir, char *out, size_t cap, SeError *err)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/checkpoints", output_dir);
    size_t n;
    long *v = list_checkpoints(root, &n);
    for (size_t i = 0; i < n; i++) {
        SeError ignored;
        snprintf(out, cap, "%s/checkpoint-%ld", root, v[i]);
        if (checkpoint_verify(out, &ignored) == 0) {
            free(v);
            return 0;
        }
        fprintf(stderr, "sentembed: warning: %s is damaged and was skipped (resuming from an earlier checkpoint "
                "if there is one): %s\n", out, ignored.msg);
    }
    free(v);
    return se_fail(err, "%s: no complete checkpoint to resume from", root);
}

int checkpoint_read_state(const char *dir, Trainer *t, TrainPosition *pos, SeError *err)
{
    unsigned char *data;
    size_t len;
    char path[4200];
    if (load_state_file(dir, &data, &len, path, sizeof path, err))
        return -1;
    uint64_t f[10], counts[5];
    memcpy(f, data + 8, sizeof f);
    pos->config_hash = f[0];
    pos->step = (long)f[1], pos->micro_steps = (long)f[2], pos->epoch = (long)f[3], pos->batch_start = f[4];
    StateArrays a = state_arrays(t, counts);
    for (int k = 0; k < 5; k++)
        if (f[5 + k] != counts[k]) {
            free(data);
            return se_fail(err, "%s: the state holds %llu values in array %d, this model and loss need %llu (another "
                           "model or loss than the checkpoint's)", path, (unsigned long long)f[5 + k], k,
                           (unsigned long long)counts[k]);
        }
    size_t need = 8 + sizeof f + 8;
    for (int k = 0; k < a.k; k++)
        need += a.n[k] * sizeof(float);
    need += 2 * counts[4] * sizeof(float);
    if (need != len) {
        free(data);
        return se_fail(err, "%s: %zu bytes, expected %zu", path, len, need);
    }
    const Ops *ops = t->m->ops;
    const unsigned char *p = data + 8 + sizeof f;
    for (int k = 0; k < a.k; k++) {
        ops->copy_to_device(a.p[k], p, a.n[k] * sizeof(float));
        p += a.n[k] * sizeof(float);
    }
    if (counts[4]) {
        ops->copy_to_device(t->cls_mb, p, counts[4] * sizeof(float));
        p += counts[4] * sizeof(float);
        ops->copy_to_device(t->cls_vb, p, counts[4] * sizeof(float));
    }
    t->step = pos->step;
    t->micro_steps = pos->micro_steps;
    t->pending = 0;
    free(data);
    return 0;
}
