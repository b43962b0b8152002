#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "host/atomic_file.h"
#include "host/file_hash.h"
#include "host/fileio.h"
#include "host/json_util.h"
#include "trainer/manifest.h"

enum { MANIFEST_PATH_MAX = 4096 };

typedef struct {
    char **v;
    size_t n, cap;
} PathList;

static void paths_add(PathList *l, const char *p)
{
    if (l->n == l->cap)
        l->v = se_xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 16) * sizeof *l->v);
    l->v[l->n++] = strdup(p);
    if (!l->v[l->n - 1])
        se_die("out of memory while listing files");
}

static void paths_free(PathList *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sentembed's own control files (locks, markers) are not part of what a manifest covers */
static int is_control_file(const char *name) { return !strncmp(name, ".sentembed", 10); }

/* Every regular file under root/rel, as paths relative to root. */
static int collect(const char *root, const char *rel, PathList *out, SeError *err)
{
    char dir[MANIFEST_PATH_MAX], path[MANIFEST_PATH_MAX], sub[MANIFEST_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dir)
        return se_fail(err, "%s/%s: path too long", root, rel);
    DIR *d = opendir(dir);
    if (!d)
        return se_fail(err, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_control_file(e->d_name) ||
            (!*rel && !strcmp(e->d_name, MANIFEST_FILE)))
            continue;
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub)
            rc = se_fail(err, "%s/%s: path too long", dir, e->d_name);
        else if (lstat(path, &st) != 0)
            rc = se_fail(err, "%s: %s", path, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = collect(root, sub, out, err);
        else if (S_ISREG(st.st_mode))
            paths_add(out, sub);
        else
            rc = se_fail(err, "%s: not a regular file or directory (a manifest covers only those)", path);
    }
    closedir(d);
    return rc;
}

static char *format_hash(char buf[17], uint64_t h)
{
    snprintf(buf, 17, "%016" PRIx64, h);
    return buf;
}

int manifest_write(const char *dir, ManifestKind kind, long step, uint64_t recipe_hash, SeError *err)
{
    PathList files = {0};
    if (collect(dir, "", &files, err)) {
        paths_free(&files);
        return -1;
    }
    qsort(files.v, files.n, sizeof *files.v, cmp_str);
    char hex[17], sha[SHA256_HEX_LEN + 1], path[MANIFEST_PATH_MAX];
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "sentembed-manifest");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "kind", kind == MANIFEST_CHECKPOINT ? "checkpoint" : "model");
    cJSON_AddNumberToObject(root, "step", (double)step);
    cJSON_AddStringToObject(root, "recipe_hash", format_hash(hex, recipe_hash));
    cJSON *list = cJSON_AddArrayToObject(root, "files");
    int rc = 0;
    for (size_t i = 0; i < files.n && !rc; i++) {
        uint64_t bytes;
        if (path_join(path, sizeof path, dir, files.v[i], err) || file_sha256(path, sha, &bytes, err)) {
            rc = -1;
            break;
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", files.v[i]);
        cJSON_AddNumberToObject(f, "bytes", (double)bytes);
        cJSON_AddStringToObject(f, "sha256", sha);
        cJSON_AddItemToArray(list, f);
    }
    paths_free(&files);
    if (!rc) {
        char *text = cJSON_Print(root);
        if (!text)
            se_die("out of memory while formatting %s/%s", dir, MANIFEST_FILE);
        AtomicFile a;
        rc = path_join(path, sizeof path, dir, MANIFEST_FILE, err) || atomic_open(&a, path, err);
        if (!rc) {
            size_t len = strlen(text);
            int failed = fwrite(text, 1, len, a.f) != len || fputc('\n', a.f) == EOF;
            rc = atomic_commit(&a, failed, err);
        }
        cJSON_free(text);
    }
    cJSON_Delete(root);
    return rc;
}

void manifest_info_free(ManifestInfo *info)
{
    for (size_t i = 0; i < info->n_files; i++)
        free(info->paths[i]);
    free(info->paths);
    info->paths = NULL;
    info->n_files = 0;
}

/* A string member, or NULL. */
static const char *string_item(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A listed path must stay inside the directory: relative, no "." or ".." component. */
static int safe_relative_path(const char *p)
{
    if (!*p || *p == '/')
        return 0;
    for (const char *c = p; *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += n + (end ? 1 : 0);
        if (end && !*c)
            return 0;
    }
    return 1;
}

/* Parses the manifest; with check_files, also hashes every listed file. */
static int manifest_load(const char *dir, ManifestInfo *info, int check_files, SeError *err)
{
    char path[MANIFEST_PATH_MAX], file[MANIFEST_PATH_MAX];
    ManifestInfo local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (path_join(path, sizeof path, dir, MANIFEST_FILE, err))
        return -1;
    if (!file_exists(path))
        return se_fail(err, "%s: missing (every directory sentembed writes has one; this one was written by "
                       "another program or an earlier sentembed, or is incomplete)", path);
    cJSON *root = json_parse_file(path, err);
    if (!root)
        return -1;
    int rc = 0;
    const char *kind = string_item(root, "format") ? string_item(root, "kind") : NULL;
    const char *recipe = string_item(root, "recipe_hash");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "step");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!string_item(root, "format") || strcmp(string_item(root, "format"), "sentembed-manifest") != 0)
        rc = se_fail(err, "%s: not a sentembed manifest (\"format\" is not \"sentembed-manifest\")", path);
    else if (!cJSON_IsNumber(version) || version->valuedouble != 1)
        rc = se_fail(err, "%s: manifest version is not 1 (written by a newer sentembed?)", path);
    else if (!kind || (strcmp(kind, "model") != 0 && strcmp(kind, "checkpoint") != 0))
        rc = se_fail(err, "%s: \"kind\" must be \"model\" or \"checkpoint\"", path);
    else if (!cJSON_IsNumber(step) || step->valuedouble < 0 || step->valuedouble != (double)(long)step->valuedouble)
        rc = se_fail(err, "%s: \"step\" must be a non-negative integer", path);
    else if (!recipe || !is_hex(recipe, 16))
        rc = se_fail(err, "%s: \"recipe_hash\" must be 16 hex digits", path);
    else if (!cJSON_IsArray(files))
        rc = se_fail(err, "%s: \"files\" must be a list", path);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    info->kind = !strcmp(kind, "model") ? MANIFEST_MODEL : MANIFEST_CHECKPOINT;
    info->step = (long)step->valuedouble;
    info->recipe_hash = strtoull(recipe, NULL, 16);
    size_t n = (size_t)cJSON_GetArraySize(files), i = 0;
    info->paths = se_xcalloc(n ? n : 1, sizeof *info->paths);
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        const char *rel = string_item(f, "path"), *sha = string_item(f, "sha256");
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(f, "bytes");
        if (!rel || !safe_relative_path(rel) || !sha || !is_hex(sha, SHA256_HEX_LEN) || !cJSON_IsNumber(bytes) ||
            bytes->valuedouble < 0) {
            rc = se_fail(err, "%s: files[%zu] must be {\"path\": a relative path inside the directory, \"bytes\": a "
                         "size, \"sha256\": 64 hex digits}", path, i);
            break;
        }
        info->paths[i] = strdup(rel);
        if (!info->paths[i])
            se_die("out of memory while reading %s", path);
        info->n_files = ++i;
        if (!check_files)
            continue;
        char got[SHA256_HEX_LEN + 1];
        uint64_t got_bytes;
        struct stat st;
        if (path_join(file, sizeof file, dir, rel, err))
            rc = -1;
        else if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode))
            rc = se_fail(err, "%s: missing (listed in %s)", file, MANIFEST_FILE);
        else if ((double)st.st_size != bytes->valuedouble)
            rc = se_fail(err, "%s: %lld bytes, the manifest says %.0f (truncated or replaced)", file,
                         (long long)st.st_size, bytes->valuedouble);
        else if (file_sha256(file, got, &got_bytes, err))
            rc = -1;
        else if (strcmp(got, sha) != 0)
            rc = se_fail(err, "%s: SHA-256 %s, the manifest says %s (the file is damaged or from another "
                         "checkpoint)", file, got, sha);
        if (rc)
            break;
    }
    cJSON_Delete(root);
    if (rc || info == &local)
        manifest_info_free(info);
    return rc;
}

int manifest_read(const char *dir, ManifestInfo *info, SeError *err) { return manifest_load(dir, info, 0, err); }

int manifest_verify(const char *dir, ManifestInfo *info, SeError *err) { return manifest_load(dir, info, 1, err); }
