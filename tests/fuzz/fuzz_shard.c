/* libFuzzer target over the shard reader: the input is a whole shard file (copied to
 * 8-aligned memory, as a mapping is). Its header checksum and file size are set right
 * first, so that mutations reach the checks behind them (the two checks themselves are a
 * compare each). When shard_parse accepts it, every sequence is read
 * and, besides the sanitizers, the promises shard_parse makes are checked: each sequence
 * lies inside the ids, holds 2 to max_seq_length ids, all within the vocabulary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/hash.h"
#include "trainer/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t *copy = malloc((size / 8 + 1) * 8);
    memcpy(copy, data, size);
    unsigned char *bytes = (unsigned char *)copy;
    if (size >= SHARD_HEADER_BYTES) {
        for (int k = 0; k < 8; k++)
            bytes[88 + k] = (unsigned char)((uint64_t)size >> (8 * k));
        uint64_t h = fnv1a64(FNV64_START, bytes, 96);
        for (int k = 0; k < 8; k++)
            bytes[96 + k] = (unsigned char)(h >> (8 * k));
    }
    Shard s;
    SeError err = {{0}};
    if (shard_parse(&s, copy, size, "fuzz.shard", &err) == 0) {
        for (uint64_t i = 0; i < s.n_examples; i++)
            for (uint32_t c = 0; c < s.n_columns; c++) {
                size_t len;
                const int32_t *ids = shard_sequence(&s, i, (int)c, &len);
                if (len < 2 || len > s.max_seq_length || ids < s.ids || ids + len > s.ids + s.n_ids)
                    abort();
                for (size_t k = 0; k < len; k++)
                    if (ids[k] < 0 || (uint32_t)ids[k] >= s.vocab_size)
                        abort();
            }
    } else if (!err.msg[0]) {
        abort();
    }
    free(copy);
    return 0;
}
