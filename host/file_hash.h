/* SHA-256 of a file, through OpenSSL's libcrypto: the hashes of checkpoint and model
 * manifests (trainer/manifest.h). SHA-256 rather than the FNV-1a of host/hash.h because a
 * manifest is also read by people and other tools (`sha256sum` gives the same hex), and
 * because libcrypto's SHA-256 uses the CPU's SHA instructions (about 1.5-2 GB/s) where a
 * byte-wise FNV-1a runs at about 0.3 GB/s. */
#ifndef SENTEMBED_FILE_HASH_H
#define SENTEMBED_FILE_HASH_H

#include <stdint.h>

#include "host/error.h"

#define SHA256_HEX_LEN 64

/* hex gets 64 lowercase hex digits and a NUL; *bytes the file's length. Fails with a
 * message naming path when it cannot be opened or read. */
int file_sha256(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *bytes, SeError *err);

#endif
