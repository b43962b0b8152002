/* libFuzzer target over the manifest reader (trainer/manifest.h): the input is
 * DIR/sentembed_manifest.json of a directory holding two small files, read (parse only) and
 * verified (every listed file hashed). Checks, besides the sanitizers: a refusal leaves a
 * message; an accepted manifest lists only safe relative paths (no "..", no leading "/"),
 * so that verification and the final save's removal of a model's listed files never reach
 * outside the directory; and what verifies also reads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/manifest.h"

static char dir[64], manifest[128];

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* in memory where there is a tmpfs: every input is a file write and a few reads */
    struct stat st;
    snprintf(dir, sizeof dir, "%s/fuzz_manifest.%ld", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    char path[128];
    if (mkdir(dir, 0755) != 0)
        abort();
    snprintf(path, sizeof path, "%s/a.txt", dir); /* sha256: of "abc" */
    write_file(path, "abc", 3);
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sub/b.bin", dir);
    write_file(path, "", 0);
    snprintf(manifest, sizeof manifest, "%s/" MANIFEST_FILE, dir);
    return 0;
}

/* relative, and no component empty, "." or ".." (written apart from the reader's check) */
static int safe(const char *p)
{
    if (!p[0] || p[0] == '/')
        return 0;
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/", p);
    for (char *c = copy, *slash; (slash = strchr(c, '/')); c = slash + 1) {
        *slash = '\0';
        if (!*c || !strcmp(c, ".") || !strcmp(c, ".."))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(manifest, data, size);
    ManifestInfo info;
    SeError err = {{0}};
    int read_rc = manifest_read(dir, &info, &err);
    if (read_rc == 0) {
        for (size_t i = 0; i < info.n_files; i++)
            if (!safe(info.paths[i]))
                abort();
        manifest_info_free(&info);
    } else if (!err.msg[0]) {
        abort();
    }
    err.msg[0] = '\0';
    if (manifest_verify(dir, NULL, &err) == 0) {
        if (read_rc != 0) /* verification parses the same text */
            abort();
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
