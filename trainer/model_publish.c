#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/fileio.h"
#include "trainer/manifest.h"
#include "trainer/model_publish.h"
#include "trainer/output_dir.h"

enum { PUBLISH_PATH_MAX = 4096 + 256 };

/* a + "/" + b; 0 when it fits (a path that does not fit is left alone, never truncated) */
static int join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* An empty file, fsynced with its directory: a marker that must survive a crash. */
static int write_marker(const char *dir, const char *name, SeError *err)
{
    char path[PUBLISH_PATH_MAX];
    if (path_join(path, sizeof path, dir, name, err))
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return se_fail(err, "%s: cannot create: %s", path, strerror(errno));
    int bad = fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad)
        return se_fail(err, "%s: cannot write: %s", path, strerror(errno));
    fsync_dir(dir);
    return 0;
}

static void remove_marker(const char *dir, const char *name)
{
    char path[PUBLISH_PATH_MAX];
    if (join(path, sizeof path, dir, name) == 0 && unlink(path) == 0)
        fsync_dir(dir);
}

static int has_entry(const char *dir, const char *name)
{
    char path[PUBLISH_PATH_MAX];
    struct stat st;
    return join(path, sizeof path, dir, name) == 0 && lstat(path, &st) == 0;
}

static void parent_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else
        slash[slash == out ? 1 : 0] = '\0';
}

int model_publish_begin(const char *tmp, SeError *err)
{
    if (mkdir(tmp, 0755) != 0)
        return se_fail(err, "%s: cannot create the temporary model directory: %s", tmp, strerror(errno));
    if (write_marker(tmp, PUBLISH_UNPUBLISHED, err)) {
        remove_tree(tmp);
        return -1;
    }
    return 0;
}

/* Moves every entry of old into out where out has none of that name (never overwrites),
 * and removes old once empty; the first name it could not move goes into kept ("" when
 * none). report: say so for each entry moved, checkpoints/ aside. */
static void move_entries(const char *old, const char *out, char *kept, size_t cap, int report)
{
    char path[PUBLISH_PATH_MAX], dest[PUBLISH_PATH_MAX];
    kept[0] = '\0';
    DIR *d = opendir(old);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (join(path, sizeof path, old, e->d_name) != 0 || join(dest, sizeof dest, out, e->d_name) != 0)
            continue;
        if (has_entry(out, e->d_name) && rmdir(path) == 0)
            continue; /* an empty directory the new model has too (N_Normalize: a manifest lists files only) */
        if (!has_entry(out, e->d_name) && rename(path, dest) == 0) {
            if (report && strcmp(e->d_name, "checkpoints") != 0)
                fprintf(stderr, "sentembed: kept %s (not a file of the model it replaced)\n", dest);
        } else if (!kept[0]) {
            snprintf(kept, cap, "%s", e->d_name);
        }
    }
    closedir(d);
    fsync_dir(out);
    rmdir(old);
}

/* old: a directory that was at out before the new model took its place. Removes the files
 * of the model its manifest lists and sentembed's own files, moves the rest (checkpoints/,
 * a user's files) into out, and removes old when nothing is left. */
static void finish_replacement(const char *old, const char *out)
{
    char path[PUBLISH_PATH_MAX];
    ManifestInfo info;
    SeError err;
    if (manifest_read(old, &info, &err) == 0) {
        for (size_t i = 0; i < info.n_files; i++) {
            if (join(path, sizeof path, old, info.paths[i]) == 0)
                unlink(path);
        }
        /* the model's subdirectories (1_Pooling, 2_Dense, ...), deepest first, where empty */
        for (size_t i = info.n_files; i-- > 0;) {
            if (join(path, sizeof path, old, info.paths[i]) != 0)
                continue;
            for (char *slash; (slash = strrchr(path, '/')) && (size_t)(slash - path) > strlen(old);) {
                *slash = '\0';
                if (rmdir(path) != 0)
                    break;
            }
        }
        manifest_info_free(&info);
    }
    const char *ours[] = {MANIFEST_FILE, OUTPUT_LOCK_FILE, PUBLISH_REPLACED, PUBLISH_UNPUBLISHED, OUTPUT_RUNNING_METRICS};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
        if (join(path, sizeof path, old, ours[i]) == 0)
            unlink(path);
    }
    char kept[256];
    move_entries(old, out, kept, sizeof kept, 1);
    if (dir_exists(old))
        fprintf(stderr, "sentembed: warning: %s: left in place: it holds %s, a name the new model in %s also has "
                "(move what you need and remove it)\n", old, kept[0] ? kept : "files", out);
}

/* Swaps two directories in one step; -1 with errno when the file system cannot. Setting
 * SENTEMBED_NO_RENAME_EXCHANGE=1 takes the two-rename path of such file systems (tests). */
static int exchange_dirs(const char *a, const char *b)
{
    const char *off = getenv("SENTEMBED_NO_RENAME_EXCHANGE");
    if (off && !strcmp(off, "1")) {
        errno = EINVAL;
        return -1;
    }
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

int model_publish(const char *tmp, const char *out, SeError *err)
{
    char parent[PUBLISH_PATH_MAX], old[PUBLISH_PATH_MAX], path[PUBLISH_PATH_MAX], why[512];
    parent_of(out, parent, sizeof parent);
    OutputState state = output_dir_state(out, why, sizeof why);
    if (state == OUTPUT_NOT_DIR)
        return se_fail(err, "%s: exists and is not a directory; refusing to replace it with a model directory", out);
    if (state == OUTPUT_FOREIGN)
        return se_fail(err, "%s: refusing to replace it: %s", out, why);
    if (state == OUTPUT_ABSENT) {
        if (rename(tmp, out) != 0)
            return se_fail(err, "%s: cannot rename %s into place: %s", out, tmp, strerror(errno));
        fsync_dir(parent);
        remove_marker(out, PUBLISH_UNPUBLISHED);
        return 0;
    }
    /* The lock file is hard-linked into the new directory: after the swap the path
     * OUT/.sentembed.lock still names the inode this process holds locked. */
    char lock_old[PUBLISH_PATH_MAX], lock_new[PUBLISH_PATH_MAX];
    if (join(lock_old, sizeof lock_old, out, OUTPUT_LOCK_FILE) || join(lock_new, sizeof lock_new, tmp, OUTPUT_LOCK_FILE))
        return se_fail(err, "%s: path too long", out);
    unlink(lock_new); /* a copy, not the locked inode */
    if (file_exists(lock_old) && link(lock_old, lock_new) != 0)
        return se_fail(err, "%s: cannot link the lock file into %s: %s", out, tmp, strerror(errno));
    if (write_marker(out, PUBLISH_REPLACED, err))
        return -1;
    if (exchange_dirs(tmp, out) == 0) {
        snprintf(old, sizeof old, "%s", tmp);
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        snprintf(old, sizeof old, "%s.old.%ld", out, (long)getpid());
        if (rename(out, old) != 0) {
            int saved = errno;
            remove_marker(out, PUBLISH_REPLACED);
            return se_fail(err, "%s: cannot move the existing directory aside to %s: %s", out, old, strerror(saved));
        }
        if (rename(tmp, out) != 0) {
            int saved = errno;
            rename(old, out);
            remove_marker(out, PUBLISH_REPLACED);
            return se_fail(err, "%s: cannot rename %s into place: %s", out, tmp, strerror(saved));
        }
    } else {
        int saved = errno;
        remove_marker(out, PUBLISH_REPLACED);
        return se_fail(err, "%s: cannot swap %s into place: %s", out, tmp, strerror(saved));
    }
    fsync_dir(parent);
    remove_marker(out, PUBLISH_UNPUBLISHED);
    snprintf(path, sizeof path, "%s", old);
    finish_replacement(path, out);
    fsync_dir(parent);
    return 0;
}

/* "NAME<suffix>DIGITS" -> the number, or -1 */
static long suffix_pid(const char *entry, const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (strncmp(entry, name, n) != 0 || strncmp(entry + n, suffix, s) != 0 || !entry[n + s])
        return -1;
    char *end;
    long pid = strtol(entry + n + s, &end, 10);
    return *end || pid <= 0 ? -1 : pid;
}

/* A process with this PID exists (and is not this one): its files are not leftovers. */
static int alive_other(long pid) { return pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

/* A directory a killed save left. Unpublished new models are handled in the first pass
 * (published when complete, so that the second pass finds the model they replace). */
static void recover_dir(const char *path, const char *out, int pass)
{
    SeError err;
    if (has_entry(path, PUBLISH_UNPUBLISHED)) {
        if (pass != 0)
            return;
        if (manifest_verify(path, NULL, &err) == 0 && model_publish(path, out, &err) == 0) {
            fprintf(stderr, "sentembed: recovered the model a killed save left in %s: published to %s\n", path, out);
            return;
        }
        if (remove_tree(path) == 0)
            fprintf(stderr, "sentembed: removed %s, an incomplete model a killed save left (%s)\n", path, err.msg);
        return;
    }
    if (pass != 1)
        return;
    if (has_entry(path, PUBLISH_REPLACED)) {
        char why[256], kept[256];
        if (output_dir_state(out, why, sizeof why) != OUTPUT_MODEL) {
            /* the new model never arrived: the old one goes back (its lock file aside: out
             * holds the locked one) */
            if (join(why, sizeof why, path, OUTPUT_LOCK_FILE) == 0)
                unlink(why);
            if (join(why, sizeof why, path, PUBLISH_REPLACED) == 0)
                unlink(why);
            move_entries(path, out, kept, sizeof kept, 0);
            fprintf(stderr, "sentembed: put back the model a killed save had moved to %s\n", path);
            return;
        }
        finish_replacement(path, out);
        fprintf(stderr, "sentembed: finished replacing the model a killed save had swapped out to %s\n", path);
        return;
    }
    char cfg[PUBLISH_PATH_MAX], modules[PUBLISH_PATH_MAX];
    int model = (join(cfg, sizeof cfg, path, "config.json") == 0 && file_exists(cfg)) ||
                (join(modules, sizeof modules, path, "modules.json") == 0 && file_exists(modules));
    if (model && remove_tree(path) == 0)
        fprintf(stderr, "sentembed: removed %s, a temporary model directory an earlier sentembed left\n", path);
    else
        fprintf(stderr, "sentembed: warning: %s: not a directory this sentembed writes; left as it is\n", path);
}

void model_publish_recover(const char *out)
{
    char parent[PUBLISH_PATH_MAX], path[PUBLISH_PATH_MAX];
    parent_of(out, parent, sizeof parent);
    const char *slash = strrchr(out, '/');
    const char *name = slash ? slash + 1 : out;
    for (int pass = 0; pass < 2; pass++) {
        DIR *d = opendir(parent);
        if (!d)
            return;
        struct dirent *e;
        char **found = NULL; /* names first: recovery renames entries of this directory */
        size_t n = 0;
        while ((e = readdir(d))) {
            if (suffix_pid(e->d_name, name, ".metrics.jsonl.tmp.") > 0 || suffix_pid(e->d_name, name, ".tmp.") > 0 ||
                suffix_pid(e->d_name, name, ".old.") > 0) {
                found = se_xrealloc(found, (n + 1) * sizeof *found);
                found[n] = se_xmalloc(strlen(e->d_name) + 1);
                strcpy(found[n++], e->d_name);
            }
        }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
            long pid;
            if (join(path, sizeof path, parent, found[i]) != 0)
                continue;
            if ((pid = suffix_pid(found[i], name, ".metrics.jsonl.tmp.")) > 0) {
                if (pass == 1 && !alive_other(pid) && unlink(path) == 0)
                    fprintf(stderr, "sentembed: removed %s, the metrics of a run an earlier sentembed did not finish\n",
                            path);
            } else {
                pid = suffix_pid(found[i], name, ".tmp.") > 0 ? suffix_pid(found[i], name, ".tmp.")
                                                              : suffix_pid(found[i], name, ".old.");
                if (alive_other(pid)) {
                    if (pass == 1)
                        fprintf(stderr, "sentembed: warning: %s belongs to the running process %ld; left as it is\n",
                                path, pid);
                } else if (dir_exists(path)) {
                    recover_dir(path, out, pass);
                }
            }
        }
        for (size_t i = 0; i < n; i++)
            free(found[i]);
        free(found);
    }
    if (dir_exists(out)) { /* killed after the swap, before the markers went */
        remove_marker(out, PUBLISH_UNPUBLISHED);
        remove_marker(out, PUBLISH_REPLACED);
    }
}
