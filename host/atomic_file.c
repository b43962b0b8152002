#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "host/atomic_file.h"

int atomic_open(AtomicFile *a, const char *path, SeError *err)
{
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f)
        return se_fail(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int atomic_commit(AtomicFile *a, int failed, SeError *err)
{
    int bad = failed || fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0;
    int saved = errno;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return se_fail(err, "%s: write failed: %s", a->path, failed ? "aborted" : strerror(saved));
    }
    if (rename(a->tmp, a->path) != 0) {
        saved = errno;
        unlink(a->tmp);
        return se_fail(err, "%s: cannot rename the finished file into place: %s", a->path, strerror(saved));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", a->path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { /* make the rename itself durable */
        fsync(fd);
        close(fd);
    }
    return 0;
}
