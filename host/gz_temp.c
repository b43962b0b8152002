#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "host/gz_temp.h"
#include "host/input_limits.h"

enum { GZ_CHUNK = 1 << 18 };

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Follows the lines of decompressed text p[0..n): *line is the current line and *len its
 * bytes so far. True, with *line on it, when a line grows past max. */
static bool line_over(const unsigned char *p, size_t n, size_t max, size_t *line, size_t *len)
{
    for (const unsigned char *end = p + n; p < end;) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        *len += (size_t)((nl ? nl : end) - p);
        if (*len > max)
            return true;
        if (!nl)
            break;
        (*line)++, *len = 0, p = nl + 1;
    }
    return false;
}

static int temp_file(const char *path, int *fd, SeError *err)
{
    const char *dir = getenv("TMPDIR");
    char name[4096];
    snprintf(name, sizeof name, "%s/sentembed-gunzip-XXXXXX", dir && *dir ? dir : "/tmp");
    *fd = mkstemp(name);
    if (*fd < 0)
        return se_fail(err, "%s: cannot create a temporary file to decompress it into (%s): %s", path, name,
                       strerror(errno));
    unlink(name);
    return 0;
}

int gz_decompress_to_temp(const char *path, int *fd, uint64_t *size, SeError *err)
{
    *fd = -1;
    *size = 0;
    FILE *in = fopen(path, "rb");
    if (!in)
        return se_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    uint64_t max_out;
    size_t max_line;
    if (fstat(fileno(in), &st) != 0) {
        fclose(in);
        return se_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (input_gz_max_bytes((uint64_t)st.st_size, &max_out, err) || input_max_line_bytes(&max_line, err)) {
        fclose(in);
        return -1;
    }
    int out;
    if (temp_file(path, &out, err)) {
        fclose(in);
        return -1;
    }
    SeContext ctx;
    size_t line = 1, line_len = 0; /* of the decompressed text */
    se_context_push(&ctx, "decompressing", path, &line);
    unsigned char *ibuf = se_xmalloc(GZ_CHUNK), *obuf = se_xmalloc(GZ_CHUNK);
    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = inflateInit2(&z, 16 + MAX_WBITS) == Z_OK ? 0 : se_fail(err, "%s: zlib initialization failed", path);
    uint64_t read_total = 0;      /* compressed bytes read so far */
    int in_member = 0, members = 0;
    while (rc == 0) {
        if (z.avail_in == 0) {
            size_t got = fread(ibuf, 1, GZ_CHUNK, in);
            if (got == 0) {
                if (ferror(in))
                    rc = se_fail(err, "%s: read error: %s", path, strerror(errno));
                else if (read_total == 0)
                    rc = se_fail(err, "%s: empty file (no gzip data)", path);
                else if (in_member || members == 0)
                    rc = se_fail(err, "%s: truncated gzip file: it ends inside the compressed stream (%llu bytes)",
                                 path, (unsigned long long)read_total);
                break;
            }
            if (read_total == 0 && (got < 2 || ibuf[0] != 0x1f || ibuf[1] != 0x8b)) {
                rc = se_fail(err, "%s: not gzip data (the name ends in .gz, the bytes do not start like gzip)", path);
                break;
            }
            read_total += got;
            z.next_in = ibuf;
            z.avail_in = (uInt)got;
        }
        if (!in_member) {
            if (members > 0 && *z.next_in == 0) { /* zero padding after the last member, as gzip allows */
                z.next_in++, z.avail_in--;
                continue;
            }
            if (members > 0 && inflateReset(&z) != Z_OK) {
                rc = se_fail(err, "%s: zlib reset failed", path);
                break;
            }
            in_member = 1;
        }
        z.next_out = obuf;
        z.avail_out = GZ_CHUNK;
        uInt avail_before = z.avail_in;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t produced = GZ_CHUNK - z.avail_out;
        if ((zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) ||
            (zr == Z_BUF_ERROR && produced == 0 && z.avail_in == avail_before && z.avail_in > 0)) {
            rc = se_fail(err, "%s: corrupt gzip data at compressed byte %llu%s%s", path,
                         (unsigned long long)(read_total - z.avail_in), z.msg ? ": " : "", z.msg ? z.msg : "");
            break;
        }
        if (*size + produced > max_out) {
            char limit[32], packed[32];
            se_format_bytes(limit, sizeof limit, (double)max_out);
            se_format_bytes(packed, sizeof packed, (double)st.st_size);
            const char *env = getenv("SENTEMBED_GZ_MAX_BYTES");
            rc = env && *env
                     ? se_fail(err, "%s: decompresses to more than %s, the limit SENTEMBED_GZ_MAX_BYTES sets", path,
                               limit)
                     : se_fail(err, "%s: decompresses to more than %s (%dx its %s, at least 1 GiB): a gzip bomb? Set "
                               "SENTEMBED_GZ_MAX_BYTES to allow more", path, limit, INPUT_GZ_MAX_RATIO, packed);
            break;
        }
        if (line_over(obuf, produced, max_line, &line, &line_len)) {
            char limit[32];
            se_format_bytes(limit, sizeof limit, (double)max_line);
            rc = se_fail(err, "%s:%zu: a line longer than %s (decompressed), the limit of a line (set "
                         "SENTEMBED_MAX_LINE_BYTES for another)", path, line, limit);
            break;
        }
        if (produced && write_all(out, obuf, produced)) {
            rc = se_fail(err, "%s: cannot write the decompressed data to the temporary file in $TMPDIR: %s", path,
                         strerror(errno));
            break;
        }
        *size += produced;
        if (zr == Z_STREAM_END) {
            in_member = 0;
            members++;
        }
    }
    se_context_pop(&ctx);
    inflateEnd(&z);
    free(ibuf);
    free(obuf);
    fclose(in);
    if (rc == 0 && lseek(out, 0, SEEK_SET) != 0)
        rc = se_fail(err, "%s: cannot rewind the temporary file: %s", path, strerror(errno));
    if (rc) {
        close(out);
        return -1;
    }
    *fd = out;
    return 0;
}
