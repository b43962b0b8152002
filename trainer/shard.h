/* Pre-tokenized shards: `sentembed tokenize --shard OUT --model DIR --data SPEC` tokenizes
 * a dataset once; training reads the ids back with {"shard": "OUT"} instead of the text.
 *
 * File format, version 2, little-endian, every section 8-byte aligned:
 *
 *   offset  size  field
 *        0     8  magic "SEMBSHRD"
 *        8     4  u32 version (2)
 *       12     4  u32 n_columns: text columns per example (1..8)
 *       16     4  u32 has_label (0 or 1)
 *       20     4  u32 max_seq_length the ids were truncated to ([CLS] and [SEP] included)
 *       24     4  u32 vocab_size of the tokenizer
 *       28     4  u32 normalizer: bit 0 lowercase, bit 1 strip accents, bit 2 Chinese
 *                     characters split, bit 3 clean text
 *       32     8  u64 vocab_hash: FNV-1a 64 of the vocabulary as vocab.txt lists it (each
 *                     token and a '\n', in id order)
 *       40     8  u64 n_examples
 *       48     8  u64 n_ids: all sequences' ids together
 *       56     8  u64 n_truncated: sequences cut at max_seq_length
 *       64     8  u64 offsets_at: file offset of u64 offsets[n_examples * n_columns + 1]
 *       72     8  u64 ids_at: file offset of i32 ids[n_ids]
 *       80     8  u64 labels_at: file offset of f64 labels[n_examples] (0: no labels)
 *       88     8  u64 file_size
 *       96     8  u64 checksums_at: file offset of the block checksums, right after the body
 *      104     4  u32 block_bytes: the body's checksum block (SHARD_BLOCK_BYTES when written)
 *      108     4  u32 CRC-32 of the block checksums (their bytes as stored)
 *      112     8  u64 FNV-1a 64 of bytes 0..112 (the header)
 *      120        the body: sections ids, offsets, labels (each at its *_at, 8-aligned)
 *   checksums_at  u32 CRC-32 (zlib's crc32) of each block_bytes of the body [120,
 *                 checksums_at), the last block shorter; they end the file
 *
 * Version 1 (sentembed before the block checksums) had a 104-byte header and no checksums
 * of the body: a reader refuses it and says to re-make it. The body is checksummed in
 * blocks, not as a whole, so that a flipped byte is reported with the byte range it lies
 * in, and so that a reader verifies only the blocks it reads: shard_parse checks the
 * header, the checksum table and the blocks of offsets and labels (every offset is checked
 * at open), and the ids, most of a shard, are checked block by block the first time
 * shard_sequence reads into a block (its CRC, then every id in it within the vocabulary).
 * Opening a shard thus costs its offsets, not its size, and a run that reads part of it
 * pays for that part. CRC-32 (zlib's crc32_z, ~0.8 GB/s on the build machine's zlib;
 * catches every burst of up to 32 flipped bits); 64 KiB blocks keep the table at 4 bytes
 * per 64 KiB and the bytes verified beyond a sequence few.
 *
 * Sequence s = example * n_columns + column is ids[offsets[s] .. offsets[s + 1]): [CLS]
 * ... [SEP] exactly as the tokenizer gives it for the text (trainer_step's tokenization),
 * truncated to max_seq_length. offsets[0] = 0, offsets never decrease, offsets[last] =
 * n_ids. Labels are the dataset's after label_map / label_scale; dropped examples are not
 * in the shard. A reader trusts nothing: every count, offset, length and id is checked
 * against the file's size and the header before use (shard_parse; the ids by
 * shard_sequence), and a shard made with another vocabulary or normalizer than the model's
 * is refused (shard_check_tokenizer).
 *
 * Training with a max_seq_length L reads sequence ids cut the way the tokenizer cuts: the
 * first L - 1 ids and the final [SEP]; that equals tokenizing the text with L when L is at
 * most the shard's max_seq_length, or when no sequence of the shard was cut. */
#ifndef SENTEMBED_SHARD_H
#define SENTEMBED_SHARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "host/error.h"
#include "tokenizer/tokenizer.h"
#include "trainer/data_source.h"

#define SHARD_VERSION 2
#define SHARD_HEADER_BYTES 120
#define SHARD_BLOCK_BYTES (64u << 10)

typedef struct {
    const char *name;
    const unsigned char *data; /* the whole file (mapped by shard_open) */
    size_t size;
    uint32_t n_columns, has_label, max_seq_length, vocab_size, normalizer;
    uint64_t vocab_hash, n_examples, n_ids, n_truncated;
    const uint64_t *offsets;
    const int32_t *ids;
    const double *labels; /* NULL without labels */
    uint64_t ids_at, offsets_at, labels_at, checksums_at;
    uint32_t block_bytes;
    uint64_t n_blocks;
    atomic_uchar *verified; /* [n_blocks]: 1 once a block passed its checks (any thread) */
    void *map;              /* shard_open's mapping */
} Shard;

/* Checks a shard held in data[0..size) (name: for messages) and points s into it; the
 * ids are checked as they are read (shard_sequence). shard_close ends it. */
int shard_parse(Shard *s, const void *data, size_t size, const char *name, SeError *err);
/* Maps path and shard_parse-s it. */
int shard_open(Shard *s, const char *path, SeError *err);
void shard_close(Shard *s);
/* The ids of sequence `column` of example i (*len of them), their blocks verified first
 * (once per block, safe from several threads); NULL with a message naming the shard and
 * the damaged bytes. */
const int32_t *shard_sequence(const Shard *s, size_t i, int column, size_t *len, SeError *err);

/* The vocabulary hash and normalizer bits of a tokenizer, as a shard records them. */
uint64_t shard_vocab_hash(const Tokenizer *t);
uint32_t shard_normalizer_bits(const Tokenizer *t);
/* Refuses a shard made with another tokenizer than t, or whose ids at max_seq_length would
 * differ from tokenizing the text (see above). */
int shard_check_tokenizer(const Shard *s, const Tokenizer *t, int max_seq_length, SeError *err);

/* Tokenizes every example of an open data source (one thread per core with threads 0) and
 * writes the shard to path atomically (temporary file, fsync, rename). */
int shard_write(const char *path, const DataSource *src, const Tokenizer *t, int max_seq_length, int threads,
                SeError *err);

#endif
