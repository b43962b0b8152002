#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "host/hash.h"
#include "trainer/shard.h"

/* The sections are used in place: the host must be little-endian like the format. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shards are little-endian: a big-endian host would need to convert them"
#endif

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* [at, at + count * elem) lies inside the body [SHARD_HEADER_BYTES, end), 8-aligned. */
static int check_section(const Shard *s, const char *what, uint64_t at, uint64_t count, uint64_t elem, uint64_t end,
                         SeError *err)
{
    if (at < SHARD_HEADER_BYTES || at % 8 || at > end || count > (end - at) / elem)
        return se_fail(err, "%s: damaged shard: the %s (%llu x %llu bytes at offset %llu) do not fit in its body of "
                       "%llu bytes", s->name, what, (unsigned long long)count, (unsigned long long)elem,
                       (unsigned long long)at, (unsigned long long)(end - SHARD_HEADER_BYTES));
    return 0;
}

static bool overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
    return a < b + b_len && b < a + a_len;
}

/* What of the body [a, b) holds, for a message: the sections it overlaps. */
static void describe_bytes(char *out, size_t cap, uint64_t a, uint64_t b, const uint64_t at[3], const uint64_t len[3])
{
    static const char *const NAMES[3] = {"ids", "offsets", "labels"};
    size_t used = 0;
    out[0] = 0;
    for (int k = 0; k < 3; k++)
        if (len[k] && at[k] < b && a < at[k] + len[k])
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " and " : "", NAMES[k]);
    if (!used)
        snprintf(out, cap, "padding");
}

/* The body's block checksums (see shard.h): the table against its CRC, then every block. */
static int verify_body(const Shard *s, uint64_t checksums_at, uint32_t block_bytes, uint32_t table_crc,
                       const uint64_t at[3], const uint64_t len[3], SeError *err)
{
    const unsigned char *h = s->data;
    if (block_bytes < 4096 || block_bytes > (1u << 30) || block_bytes % 8 || checksums_at < SHARD_HEADER_BYTES ||
        checksums_at > s->size)
        return se_fail(err, "%s: damaged shard: impossible block checksums (%u-byte blocks at offset %llu)", s->name,
                       block_bytes, (unsigned long long)checksums_at);
    const uint64_t body = checksums_at - SHARD_HEADER_BYTES, n_blocks = (body + block_bytes - 1) / block_bytes;
    if (s->size - checksums_at != n_blocks * 4)
        return se_fail(err, "%s: damaged shard: %llu block checksums expected after offset %llu, the file has %llu "
                       "bytes there", s->name, (unsigned long long)n_blocks, (unsigned long long)checksums_at,
                       (unsigned long long)(s->size - checksums_at));
    uint32_t got = (uint32_t)crc32_z(0, h + checksums_at, (size_t)(n_blocks * 4));
    if (got != table_crc)
        return se_fail(err, "%s: damaged shard: the block checksums (bytes %llu..%zu) have CRC-32 %08x, the header "
                       "recorded %08x", s->name, (unsigned long long)checksums_at, s->size, got, table_crc);
    for (uint64_t b = 0; b < n_blocks; b++) {
        uint64_t a = SHARD_HEADER_BYTES + b * block_bytes, end = a + block_bytes < checksums_at ? a + block_bytes
                                                                                                 : checksums_at;
        uint32_t want = get_u32(h + checksums_at + b * 4);
        got = (uint32_t)crc32_z(0, h + a, (size_t)(end - a));
        if (got != want) {
            char what[64];
            describe_bytes(what, sizeof what, a, end, at, len);
            return se_fail(err, "%s: damaged shard: bytes %llu..%llu (block %llu of %llu, holding %s) have CRC-32 "
                           "%08x, the shard recorded %08x: re-make it with sentembed tokenize --shard %s --model DIR --data SPEC",
                           s->name, (unsigned long long)a, (unsigned long long)end, (unsigned long long)b + 1,
                           (unsigned long long)n_blocks, what, got, want, s->name);
        }
    }
    return 0;
}

int shard_parse(Shard *s, const void *data, size_t size, const char *name, SeError *err)
{
    memset(s, 0, sizeof *s);
    s->name = name, s->data = data, s->size = size;
    const unsigned char *h = data;
    if (size < SHARD_HEADER_BYTES || memcmp(h, "SEMBSHRD", 8))
        return se_fail(err, "%s: not a sentembed shard (bad magic or shorter than its header)", name);
    if ((uintptr_t)data % 8)
        return se_fail(err, "%s: internal: the shard's bytes are not 8-byte aligned", name);
    uint32_t version = get_u32(h + 8);
    if (version != SHARD_VERSION)
        return se_fail(err, "%s: shard format version %u; this sentembed reads version %d (%s): re-make it with "
                       "sentembed tokenize --shard %s --model DIR --data SPEC, with the model and data spec it was "
                       "made from", name, version, SHARD_VERSION,
                       version < SHARD_VERSION ? "version 1 has no checksums of its body" : "made by a newer sentembed",
                       name);
    if (fnv1a64(FNV64_START, h, 112) != get_u64(h + 112))
        return se_fail(err, "%s: damaged shard: the header's checksum does not match", name);
    s->n_columns = get_u32(h + 12), s->has_label = get_u32(h + 16), s->max_seq_length = get_u32(h + 20);
    s->vocab_size = get_u32(h + 24), s->normalizer = get_u32(h + 28);
    s->vocab_hash = get_u64(h + 32), s->n_examples = get_u64(h + 40), s->n_ids = get_u64(h + 48);
    s->n_truncated = get_u64(h + 56);
    uint64_t offsets_at = get_u64(h + 64), ids_at = get_u64(h + 72), labels_at = get_u64(h + 80);
    if (get_u64(h + 88) != size)
        return se_fail(err, "%s: damaged shard: %zu bytes, its header says %llu (truncated?)", name, size,
                       (unsigned long long)get_u64(h + 88));
    const uint64_t at[3] = {ids_at, offsets_at, labels_at};
    const uint64_t len[3] = {s->n_ids * 4, (s->n_examples * s->n_columns + 1) * 8, labels_at ? s->n_examples * 8 : 0};
    if (verify_body(s, get_u64(h + 96), get_u32(h + 104), get_u32(h + 108), at, len, err))
        return -1;
    if (s->n_columns < 1 || s->n_columns > DATA_MAX_COLUMNS || s->has_label > 1 || s->max_seq_length < 2 ||
        s->vocab_size < 1 || s->vocab_size > INT32_MAX)
        return se_fail(err, "%s: damaged shard: impossible header (%u columns, has_label %u, max_seq_length %u, "
                       "vocab_size %u)", name, s->n_columns, s->has_label, s->max_seq_length, s->vocab_size);
    if (s->n_examples == 0)
        return se_fail(err, "%s: the shard has no examples", name);
    if (s->n_examples > size / 8 / s->n_columns)
        return se_fail(err, "%s: damaged shard: %llu examples cannot fit in %zu bytes", name,
                       (unsigned long long)s->n_examples, size);
    const uint64_t n_seqs = s->n_examples * s->n_columns;
    if (s->n_truncated > n_seqs)
        return se_fail(err, "%s: damaged shard: more truncated sequences than sequences", name);
    const uint64_t end = get_u64(h + 96); /* checksums_at, checked by verify_body */
    if (check_section(s, "offsets", offsets_at, n_seqs + 1, 8, end, err) ||
        check_section(s, "ids", ids_at, s->n_ids, 4, end, err))
        return -1;
    if (s->has_label ? check_section(s, "labels", labels_at, s->n_examples, 8, end, err) : labels_at != 0)
        return s->has_label ? -1 : se_fail(err, "%s: damaged shard: labels without has_label", name);
    uint64_t lab_len = s->has_label ? s->n_examples * 8 : 0;
    if (overlap(offsets_at, (n_seqs + 1) * 8, ids_at, s->n_ids * 4) ||
        overlap(labels_at, lab_len, offsets_at, (n_seqs + 1) * 8) || overlap(labels_at, lab_len, ids_at, s->n_ids * 4))
        return se_fail(err, "%s: damaged shard: its sections overlap", name);
    s->offsets = (const uint64_t *)(h + offsets_at);
    s->ids = (const int32_t *)(h + ids_at);
    s->labels = s->has_label ? (const double *)(h + labels_at) : NULL;
    if (s->offsets[0] != 0 || s->offsets[n_seqs] != s->n_ids)
        return se_fail(err, "%s: damaged shard: the offsets do not span the ids", name);
    for (uint64_t k = 0; k < n_seqs; k++) {
        uint64_t a = s->offsets[k], b = s->offsets[k + 1];
        if (b < a || b > s->n_ids || b - a < 2 || b - a > s->max_seq_length)
            return se_fail(err, "%s: damaged shard: sequence %llu (example %llu) spans ids %llu..%llu (each holds 2 "
                           "to %u ids)", name, (unsigned long long)k, (unsigned long long)(k / s->n_columns),
                           (unsigned long long)a, (unsigned long long)b, s->max_seq_length);
    }
    for (uint64_t i = 0; i < s->n_ids; i++)
        if (s->ids[i] < 0 || (uint32_t)s->ids[i] >= s->vocab_size)
            return se_fail(err, "%s: damaged shard: id %d at %llu is outside the vocabulary of %u", name, s->ids[i],
                           (unsigned long long)i, s->vocab_size);
    for (uint64_t i = 0; s->labels && i < s->n_examples; i++)
        if (isnan(s->labels[i]))
            return se_fail(err, "%s: damaged shard: label %llu is NaN", name, (unsigned long long)i);
    return 0;
}

int shard_open(Shard *s, const char *path, SeError *err)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return se_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return se_fail(err, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED)
        return size ? se_fail(err, "%s: cannot map: %s", path, strerror(errno))
                    : se_fail(err, "%s: not a sentembed shard (an empty file)", path);
    if (shard_parse(s, map, size, path, err)) {
        munmap(map, size);
        return -1;
    }
    s->map = map;
    return 0;
}

void shard_close(Shard *s)
{
    if (s->map)
        munmap(s->map, s->size);
    memset(s, 0, sizeof *s);
}

uint64_t shard_vocab_hash(const Tokenizer *t)
{
    uint64_t h = FNV64_START;
    for (size_t id = 0; id < t->vocab.size; id++) {
        const char *tok = vocab_token(&t->vocab, (int32_t)id);
        h = fnv1a64(h, tok ? tok : "", tok ? strlen(tok) : 0);
        h = fnv1a64(h, "\n", 1);
    }
    return h;
}

uint32_t shard_normalizer_bits(const Tokenizer *t)
{
    return (uint32_t)t->norm.lowercase | (uint32_t)t->strip << 1 | (uint32_t)t->norm.handle_chinese_chars << 2 |
           (uint32_t)t->norm.clean_text << 3;
}

int shard_check_tokenizer(const Shard *s, const Tokenizer *t, int max_seq_length, SeError *err)
{
    if (s->vocab_size != t->vocab.size || s->vocab_hash != shard_vocab_hash(t))
        return se_fail(err, "%s: the shard was made with another vocabulary (%u tokens, hash %016llx) than the model's "
                       "tokenizer (%zu tokens, hash %016llx): re-make it with this model's --model", s->name,
                       s->vocab_size, (unsigned long long)s->vocab_hash, t->vocab.size,
                       (unsigned long long)shard_vocab_hash(t));
    if (s->normalizer != shard_normalizer_bits(t))
        return se_fail(err, "%s: the shard was made with another normalization (lowercase, accents, ...) than the "
                       "model's tokenizer: re-make it with this model's --model", s->name);
    if ((uint32_t)max_seq_length > s->max_seq_length && s->n_truncated)
        return se_fail(err, "%s: the shard's ids were truncated to %u (%llu sequences were cut) but training reads %d: "
                       "re-make it with --max-seq-length %d", s->name, s->max_seq_length,
                       (unsigned long long)s->n_truncated, max_seq_length, max_seq_length);
    return 0;
}
