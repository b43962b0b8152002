#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/atomic_file.h"
#include "host/fileio.h"
#include "host/npy.h"

int npy_write_f32(const char *path, const float *data, size_t rows, size_t cols, SeError *err)
{
    char header[128];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows,
                     cols);
    /* magic(6) + version(2) + length(2) + header, padded with spaces and a final '\n' to
     * a multiple of 64 bytes, as numpy writes it */
    size_t total = 10 + (size_t)n + 1, padded = (total + 63) / 64 * 64;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)((padded - 10) & 0xFF),
                       (uint8_t)((padded - 10) >> 8)};
    AtomicFile a;
    if (atomic_open(&a, path, err))
        return -1;
    int bad = fwrite(pre, 1, 10, a.f) != 10 || fwrite(header, 1, (size_t)n, a.f) != (size_t)n;
    for (size_t k = total; k < padded; k++)
        bad |= fputc(' ', a.f) == EOF;
    bad |= fputc('\n', a.f) == EOF;
    bad |= fwrite(data, sizeof(float), rows * cols, a.f) != rows * cols;
    return atomic_commit(&a, bad, err);
}

int npy_read_f32(const char *path, float **data, size_t *rows, size_t *cols, SeError *err)
{
    char *buf;
    size_t len;
    if (file_read_all(path, &buf, &len, err))
        return -1;
    int rc = -1;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0 || buf[6] != 1) {
        se_fail(err, "%s: not a version 1 .npy file", path);
        goto done;
    }
    size_t hlen = (uint8_t)buf[8] | (size_t)(uint8_t)buf[9] << 8;
    if (10 + hlen > len) {
        se_fail(err, "%s: truncated header", path);
        goto done;
    }
    char header[1024];
    snprintf(header, sizeof header, "%.*s", (int)(hlen < 1023 ? hlen : 1023), buf + 10);
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False")) {
        se_fail(err, "%s: expected a little-endian float32 array in C order", path);
        goto done;
    }
    const char *shape = strstr(header, "'shape': (");
    unsigned long long r = 0, c = 1;
    if (!shape || sscanf(shape, "'shape': (%llu, %llu)", &r, &c) < 1) {
        se_fail(err, "%s: cannot read the shape", path);
        goto done;
    }
    if (r && c > (len - 10 - hlen) / 4 / r) {
        se_fail(err, "%s: the data is shorter than its shape (%llu, %llu)", path, r, c);
        goto done;
    }
    if ((len - 10 - hlen) != r * c * 4) {
        se_fail(err, "%s: %zu data bytes for shape (%llu, %llu)", path, len - 10 - hlen, r, c);
        goto done;
    }
    *data = se_xmalloc(r * c * 4 + 4);
    memcpy(*data, buf + 10 + hlen, r * c * 4);
    *rows = r;
    *cols = c;
    rc = 0;
done:
    free(buf);
    return rc;
}
