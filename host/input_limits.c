#include <errno.h>
#include <stdlib.h>

#include "host/input_limits.h"

/* A byte count from the environment: digits and an optional K, M or G (powers of 1024).
 * 1 when the variable is set and valid, 0 when unset, -1 on a malformed value. */
static int env_bytes(const char *var, uint64_t *out, SeError *err)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long n = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    int shift = 0;
    if (end && *end) {
        shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : -1;
        end++;
    }
    if (!end || errno || shift < 0 || *end || n == 0 || n > (UINT64_MAX >> 1) >> shift)
        return se_fail(err, "environment variable %s: expected a positive number of bytes, optionally with a K, M or "
                       "G suffix (e.g. 1048576 or 64M), got '%s'", var, v);
    *out = (uint64_t)n << shift;
    return 1;
}

int input_max_line_bytes(size_t *out, SeError *err)
{
    uint64_t v = 0;
    int rc = env_bytes("SENTEMBED_MAX_LINE_BYTES", &v, err);
    if (rc < 0)
        return -1;
    *out = rc ? (size_t)v : INPUT_MAX_LINE_DEFAULT;
    return 0;
}

int input_gz_max_bytes(uint64_t compressed, uint64_t *out, SeError *err)
{
    int rc = env_bytes("SENTEMBED_GZ_MAX_BYTES", out, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        uint64_t ratio = compressed > UINT64_MAX / INPUT_GZ_MAX_RATIO ? UINT64_MAX : compressed * INPUT_GZ_MAX_RATIO;
        *out = ratio > INPUT_GZ_MIN_LIMIT ? ratio : INPUT_GZ_MIN_LIMIT;
    }
    return 0;
}
