#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "host/fileio.h"
#include "trainer/checkpoint.h"
#include "trainer/manifest.h"
#include "trainer/model_publish.h"
#include "trainer/output_dir.h"

static int is_model_manifest(const char *dir)
{
    ManifestInfo info;
    SeError ignored;
    if (manifest_read(dir, &info, &ignored) != 0)
        return 0;
    int model = info.kind == MANIFEST_MODEL;
    manifest_info_free(&info);
    return model;
}

OutputState output_dir_state(const char *dir, char *why, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return OUTPUT_ABSENT;
    if (!S_ISDIR(st.st_mode))
        return OUTPUT_NOT_DIR;
    if (is_model_manifest(dir))
        return OUTPUT_MODEL;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(why, cap, "cannot list it: %s", strerror(errno));
        return OUTPUT_FOREIGN;
    }
    struct dirent *e;
    int entries = 0, foreign = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        entries++;
        if (!strcmp(e->d_name, "checkpoints") || !strcmp(e->d_name, OUTPUT_RUNNING_METRICS) ||
            !strncmp(e->d_name, ".sentembed", 10))
            continue;
        if (!foreign++) {
            char manifest[4096 + 64];
            snprintf(manifest, sizeof manifest, "%s/%s", dir, MANIFEST_FILE);
            snprintf(why, cap,
                     "it is not empty and not a model written by sentembed (it holds %s%s and no %s); training "
                     "never deletes or overwrites files it did not write: choose a new or empty output_dir",
                     e->d_name, file_exists(manifest) ? " and a checkpoint's manifest" : "", MANIFEST_FILE);
        }
    }
    closedir(d);
    return foreign ? OUTPUT_FOREIGN : entries ? OUTPUT_RUN : OUTPUT_EMPTY;
}

/* Creates dir and its parents (mkdir -p). */
static int make_dirs(const char *dir, SeError *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return se_fail(err, "output_dir %s: path too long", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return se_fail(err, "output_dir %s: cannot create %s: %s", dir, path, strerror(errno));
            *p = '/';
        }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return se_fail(err, "output_dir %s: cannot create it: %s", dir, strerror(errno));
    if (!dir_exists(path))
        return se_fail(err, "output_dir %s: a part of the path is not a directory", dir);
    if (access(path, W_OK) != 0)
        return se_fail(err, "output_dir %s: not writable: %s", dir, strerror(errno));
    return 0;
}

/* 1 when a is b or a directory above b (both resolved paths). */
static int is_same_or_above(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (strncmp(a, b, n) != 0)
        return 0;
    return b[n] == '\0' || b[n] == '/' || (n == 1 && a[0] == '/');
}

/* The resolved absolute path of dir, which need not exist yet (its deepest existing
 * ancestor is resolved, the rest appended). */
static void resolve(const char *dir, char *out, size_t cap)
{
    char head[4096], tail[4096] = "";
    snprintf(head, sizeof head, "%s", dir);
    for (;;) {
        char real[PATH_MAX];
        if (realpath(head, real)) {
            snprintf(out, cap, "%s%s%s", real, tail[0] ? "/" : "", tail);
            return;
        }
        char *slash = strrchr(head, '/');
        char rest[4096];
        if (snprintf(rest, sizeof rest, "%s%s%s", slash ? slash + 1 : head, tail[0] ? "/" : "", tail) >=
            (int)sizeof rest) {
            snprintf(out, cap, "%s", dir); /* too long to resolve: compared as given */
            return;
        }
        snprintf(tail, sizeof tail, "%s", rest);
        if (!slash) {
            snprintf(head, sizeof head, ".");
        } else if (slash == head) {
            head[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

static int take_lock(OutputDir *o, SeError *err)
{
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/" OUTPUT_LOCK_FILE, o->path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return se_fail(err, "output_dir %s: cannot create the lock file %s: %s", o->path, path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (saved == EWOULDBLOCK)
            return se_fail(err, "output_dir %s is in use by another sentembed train (PID %s, holding %s); wait for it "
                           "or choose another output_dir", o->path, pid[0] ? pid : "unknown", path);
        return se_fail(err, "output_dir %s: cannot lock %s: %s", o->path, path, strerror(saved));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        close(fd);
        return se_fail(err, "output_dir %s: cannot write the lock file %s: %s", o->path, path, strerror(errno));
    }
    o->lock_fd = fd;
    return 0;
}

int output_dir_open(OutputDir *o, const char *dir, const OutputDirOptions *opt, SeError *err)
{
    o->lock_fd = -1;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0)
        return se_fail(err, "output_dir is empty: name the directory the model is saved to");
    if (len >= sizeof o->path - 64)
        return se_fail(err, "output_dir %s: path too long", dir);
    memcpy(o->path, dir, len);
    o->path[len] = '\0';

    char why[1024] = "", real_out[8192], real_cwd[PATH_MAX], real_model[8192];
    OutputState state = output_dir_state(o->path, why, sizeof why);
    if (state == OUTPUT_NOT_DIR)
        return se_fail(err, "output_dir %s exists and is not a directory", o->path);
    resolve(o->path, real_out, sizeof real_out);
    if (getcwd(real_cwd, sizeof real_cwd) && is_same_or_above(real_out, real_cwd))
        return se_fail(err, "output_dir %s is the current directory%s: training never writes its model over the "
                       "directory it runs in: choose a new directory", o->path,
                       strcmp(real_out, real_cwd) ? " or one above it" : "");
    if (opt->input_model && dir_exists(opt->input_model)) {
        resolve(opt->input_model, real_model, sizeof real_model);
        if (is_same_or_above(real_out, real_model))
            return se_fail(err, "output_dir %s is the directory of the model being fine-tuned (%s)%s: choose "
                           "another output_dir", o->path, opt->input_model,
                           strcmp(real_out, real_model) ? ", or one above it" : "");
    }
    if (state == OUTPUT_FOREIGN)
        return se_fail(err, "output_dir %s: %s", o->path, why);
    if (make_dirs(o->path, err) || take_lock(o, err))
        return -1;
    /* under the lock: nobody else is saving here now */
    model_publish_recover(o->path);
    state = output_dir_state(o->path, why, sizeof why);
    if (state == OUTPUT_FOREIGN) {
        output_dir_close(o);
        return se_fail(err, "output_dir %s: %s", o->path, why);
    }
    char first[4400] = "";
    size_t foreign = checkpoint_count_foreign(o->path, opt->recipe_hash, first, sizeof first);
    if (!opt->overwrite) {
        if (foreign) {
            output_dir_close(o);
            return se_fail(err, "output_dir %s holds %zu checkpoint(s) of a run with another recipe (%s, ...): this "
                           "run neither resumes nor prunes them; choose another output_dir, or start over with "
                           "--overwrite-output-dir (removes them)", o->path, foreign, first);
        }
        if (!opt->resuming && checkpoint_count(o->path) > 0) {
            output_dir_close(o);
            return se_fail(err, "output_dir %s holds checkpoints of an earlier run of this recipe: continue it with "
                           "--resume latest, or start over with --overwrite-output-dir (removes them)", o->path);
        }
        if (!opt->resuming && state == OUTPUT_MODEL) {
            output_dir_close(o);
            return se_fail(err, "output_dir %s holds a model from an earlier run: pass --overwrite-output-dir to "
                           "replace its files (files you added there are kept), or choose another output_dir",
                           o->path);
        }
    } else if (!opt->resuming) {
        size_t removed = checkpoint_remove_all(o->path);
        if (removed)
            fprintf(stderr, "sentembed: --overwrite-output-dir: removed %zu checkpoint(s) of the earlier run in "
                    "%s/checkpoints\n", removed, o->path);
    }
    return 0;
}

int output_dir_check_space(const OutputDir *o, uint64_t need_bytes, SeError *err)
{
    struct statvfs vfs;
    if (statvfs(o->path, &vfs) != 0)
        return 0; /* unknown: the writes themselves report a full disk */
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (free_bytes < need_bytes)
        return se_fail(err, "output_dir %s: %.1f MiB free on its file system, and this run writes about %.1f MiB "
                       "(the model and the checkpoints it keeps): free space or choose another output_dir", o->path,
                       (double)free_bytes / 1048576.0, (double)need_bytes / 1048576.0);
    return 0;
}

void output_dir_close(OutputDir *o)
{
    if (o->lock_fd >= 0)
        close(o->lock_fd);
    o->lock_fd = -1;
}
