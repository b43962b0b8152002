#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "host/file_hash.h"

int file_sha256(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *bytes, SeError *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return se_fail(err, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        se_die("libcrypto: cannot start a SHA-256 digest (out of memory?)");
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = se_xmalloc(CHUNK);
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = se_fail(err, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)got);
        total += (uint64_t)got;
    }
    unsigned char md[32];
    unsigned md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    if (rc)
        return rc;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    *bytes = total;
    return 0;
}
