/* libFuzzer target over the shard reader: the input is a whole shard file (copied to
 * 8-aligned memory, as a mapping is). Its checksums are set right first: the file size,
 * the body's block CRCs and their table's CRC where checksums_at leaves room for the
 * table, and the header's FNV-1a. Otherwise almost every mutation would stop at a checksum,
 * and the checks behind them (the offsets, the ids, the labels) would go unfuzzed; the
 * checksum checks themselves are a compare each, and a test flips bytes to reach them
 * (test_data_source). The fix-up is here rather than a reader entry point that skips
 * verification, so that the fuzzed code is exactly the code that reads real shards.
 * When shard_parse accepts it, every sequence is read (shard_sequence checks the ids'
 * blocks as it goes: a refusal must be a "damaged shard" message) and, besides the
 * sanitizers, the promises the reader makes are checked: each sequence it gives lies
 * inside the ids, holds 2 to max_seq_length ids, all within the vocabulary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "host/hash.h"
#include "trainer/shard.h"

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int k = 0; k < n; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* The checksums of a shard, as shard_write makes them, for the block size in its header. */
static void fix_checksums(unsigned char *bytes, size_t size)
{
    put_le(bytes + 88, size, 8);
    const uint64_t checksums_at = get_le(bytes + 96, 8), block = get_le(bytes + 104, 4);
    if (block >= 4096 && block % 8 == 0 && checksums_at >= SHARD_HEADER_BYTES && checksums_at <= size) {
        const uint64_t n_blocks = (checksums_at - SHARD_HEADER_BYTES + block - 1) / block;
        if (n_blocks <= (size - checksums_at) / 4) {
            for (uint64_t b = 0; b < n_blocks; b++) {
                uint64_t a = SHARD_HEADER_BYTES + b * block, end = a + block < checksums_at ? a + block : checksums_at;
                put_le(bytes + checksums_at + b * 4, crc32_z(0, bytes + a, (size_t)(end - a)), 4);
            }
            put_le(bytes + 108, crc32_z(0, bytes + checksums_at, (size_t)(n_blocks * 4)), 4);
        }
    }
    put_le(bytes + 112, fnv1a64(FNV64_START, bytes, 112), 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t *copy = malloc((size / 8 + 1) * 8);
    memcpy(copy, data, size);
    unsigned char *bytes = (unsigned char *)copy;
    if (size >= SHARD_HEADER_BYTES)
        fix_checksums(bytes, size);
    Shard s;
    SeError err = {{0}};
    if (shard_parse(&s, copy, size, "fuzz.shard", &err) == 0) {
        for (uint64_t i = 0; i < s.n_examples; i++)
            for (uint32_t c = 0; c < s.n_columns; c++) {
                size_t len;
                const int32_t *ids = shard_sequence(&s, i, (int)c, &len, &err);
                if (!ids) { /* a damaged id: the message must say so */
                    if (!strstr(err.msg, "damaged shard"))
                        abort();
                    continue;
                }
                if (len < 2 || len > s.max_seq_length || ids < s.ids || ids + len > s.ids + s.n_ids)
                    abort();
                for (size_t k = 0; k < len; k++)
                    if (ids[k] < 0 || (uint32_t)ids[k] >= s.vocab_size)
                        abort();
            }
        shard_close(&s);
    } else if (!err.msg[0]) {
        abort();
    }
    free(copy);
    return 0;
}
