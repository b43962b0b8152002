#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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
static void describe_bytes(const Shard *s, char *out, size_t cap, uint64_t a, uint64_t b)
{
    static const char *const NAMES[3] = {"ids", "offsets", "labels"};
    const uint64_t at[3] = {s->ids_at, s->offsets_at, s->labels_at};
    const uint64_t len[3] = {s->n_ids * 4, (s->n_examples * s->n_columns + 1) * 8, s->labels ? s->n_examples * 8 : 0};
    size_t used = 0;
    out[0] = 0;
    for (int k = 0; k < 3; k++)
        if (len[k] && at[k] < b && a < at[k] + len[k])
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " and " : "", NAMES[k]);
    if (!used)
        snprintf(out, cap, "padding");
}

/* Block b of the body, once: its CRC, then the ids that lie in it (ids never straddle a
 * block: both are 8-aligned) within the vocabulary. */
static int verify_block(const Shard *s, uint64_t b, SeError *err)
{
    if (atomic_load_explicit(&s->verified[b], memory_order_acquire))
        return 0;
    const uint64_t a = SHARD_HEADER_BYTES + b * s->block_bytes;
    const uint64_t end = a + s->block_bytes < s->checksums_at ? a + s->block_bytes : s->checksums_at;
    const uint32_t want = get_u32(s->data + s->checksums_at + b * 4);
    const uint32_t got = (uint32_t)crc32_z(0, s->data + a, (size_t)(end - a));
    if (got != want) {
        char what[64];
        describe_bytes(s, what, sizeof what, a, end);
        return se_fail(err, "%s: damaged shard: bytes %llu..%llu (block %llu of %llu, holding %s) have CRC-32 %08x, "
                       "the shard recorded %08x: re-make it with sentembed tokenize --shard %s --model DIR --data "
                       "SPEC", s->name, (unsigned long long)a, (unsigned long long)end, (unsigned long long)b + 1,
                       (unsigned long long)s->n_blocks, what, got, want, s->name);
    }
    const uint64_t ids_end = s->ids_at + s->n_ids * 4;
    for (uint64_t at = a > s->ids_at ? a : s->ids_at; at < end && at < ids_end; at += 4) {
        const uint64_t i = (at - s->ids_at) / 4;
        if (s->ids[i] < 0 || (uint32_t)s->ids[i] >= s->vocab_size)
            return se_fail(err, "%s: damaged shard: id %d at %llu is outside the vocabulary of %u", s->name, s->ids[i],
                           (unsigned long long)i, s->vocab_size);
    }
    atomic_store_explicit(&s->verified[b], 1, memory_order_release);
    return 0;
}

/* The blocks holding file bytes [a, b), b > a. */
static int verify_bytes(const Shard *s, uint64_t a, uint64_t b, SeError *err)
{
    for (uint64_t k = (a - SHARD_HEADER_BYTES) / s->block_bytes; k <= (b - 1 - SHARD_HEADER_BYTES) / s->block_bytes;
         k++)
        if (verify_block(s, k, err))
            return -1;
    return 0;
}

/* The table of block checksums: where the header says, as long as the body needs, and
 * matching its CRC. */
static int check_table(Shard *s, SeError *err)
{
    const unsigned char *h = s->data;
    s->checksums_at = get_u64(h + 96), s->block_bytes = get_u32(h + 104);
    if (s->block_bytes < 4096 || s->block_bytes > (1u << 30) || s->block_bytes % 8 ||
        s->checksums_at < SHARD_HEADER_BYTES || s->checksums_at > s->size)
        return se_fail(err, "%s: damaged shard: impossible block checksums (%u-byte blocks at offset %llu)", s->name,
                       s->block_bytes, (unsigned long long)s->checksums_at);
    s->n_blocks = (s->checksums_at - SHARD_HEADER_BYTES + s->block_bytes - 1) / s->block_bytes;
    if (s->size - s->checksums_at != s->n_blocks * 4)
        return se_fail(err, "%s: damaged shard: %llu block checksums expected after offset %llu, the file has %llu "
                       "bytes there", s->name, (unsigned long long)s->n_blocks, (unsigned long long)s->checksums_at,
                       (unsigned long long)(s->size - s->checksums_at));
    const uint32_t want = get_u32(h + 108), got = (uint32_t)crc32_z(0, h + s->checksums_at, (size_t)(s->n_blocks * 4));
    if (got != want)
        return se_fail(err, "%s: damaged shard: the block checksums (bytes %llu..%zu) have CRC-32 %08x, the header "
                       "recorded %08x", s->name, (unsigned long long)s->checksums_at, s->size, got, want);
    return 0;
}

static int parse(Shard *s, const void *data, size_t size, const char *name, SeError *err)
{
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
    s->offsets_at = get_u64(h + 64), s->ids_at = get_u64(h + 72), s->labels_at = get_u64(h + 80);
    if (get_u64(h + 88) != size)
        return se_fail(err, "%s: damaged shard: %zu bytes, its header says %llu (truncated?)", name, size,
                       (unsigned long long)get_u64(h + 88));
    if (check_table(s, err))
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
    const uint64_t n_seqs = s->n_examples * s->n_columns, end = s->checksums_at;
    if (s->n_truncated > n_seqs)
        return se_fail(err, "%s: damaged shard: more truncated sequences than sequences", name);
    if (check_section(s, "offsets", s->offsets_at, n_seqs + 1, 8, end, err) ||
        check_section(s, "ids", s->ids_at, s->n_ids, 4, end, err))
        return -1;
    if (s->has_label ? check_section(s, "labels", s->labels_at, s->n_examples, 8, end, err) : s->labels_at != 0)
        return s->has_label ? -1 : se_fail(err, "%s: damaged shard: labels without has_label", name);
    uint64_t lab_len = s->has_label ? s->n_examples * 8 : 0;
    if (overlap(s->offsets_at, (n_seqs + 1) * 8, s->ids_at, s->n_ids * 4) ||
        overlap(s->labels_at, lab_len, s->offsets_at, (n_seqs + 1) * 8) ||
        overlap(s->labels_at, lab_len, s->ids_at, s->n_ids * 4))
        return se_fail(err, "%s: damaged shard: its sections overlap", name);
    s->offsets = (const uint64_t *)(h + s->offsets_at);
    s->ids = (const int32_t *)(h + s->ids_at);
    s->labels = s->has_label ? (const double *)(h + s->labels_at) : NULL;
    s->verified = se_xcalloc((size_t)s->n_blocks, sizeof *s->verified);
    /* offsets and labels are all read here: their blocks are verified now, the ids' later */
    if (verify_bytes(s, s->offsets_at, s->offsets_at + (n_seqs + 1) * 8, err) ||
        (lab_len && verify_bytes(s, s->labels_at, s->labels_at + lab_len, err)))
        return -1;
    if (s->offsets[0] != 0 || s->offsets[n_seqs] != s->n_ids)
        return se_fail(err, "%s: damaged shard: the offsets do not span the ids", name);
    for (uint64_t k = 0; k < n_seqs; k++) {
        uint64_t a = s->offsets[k], b = s->offsets[k + 1];
        if (b < a || b > s->n_ids || b - a < 2 || b - a > s->max_seq_length)
            return se_fail(err, "%s: damaged shard: sequence %llu (example %llu) spans ids %llu..%llu (each holds 2 "
                           "to %u ids)", name, (unsigned long long)k, (unsigned long long)(k / s->n_columns),
                           (unsigned long long)a, (unsigned long long)b, s->max_seq_length);
    }
    for (uint64_t i = 0; s->labels && i < s->n_examples; i++)
        if (isnan(s->labels[i]))
            return se_fail(err, "%s: damaged shard: label %llu is NaN", name, (unsigned long long)i);
    return 0;
}

int shard_parse(Shard *s, const void *data, size_t size, const char *name, SeError *err)
{
    memset(s, 0, sizeof *s);
    if (parse(s, data, size, name, err) == 0)
        return 0;
    free(s->verified);
    memset(s, 0, sizeof *s);
    return -1;
}

const int32_t *shard_sequence(const Shard *s, size_t i, int column, size_t *len, SeError *err)
{
    const size_t k = i * s->n_columns + (size_t)column;
    const uint64_t a = s->offsets[k], b = s->offsets[k + 1];
    if (verify_bytes(s, s->ids_at + a * 4, s->ids_at + b * 4, err))
        return NULL;
    *len = (size_t)(b - a);
    return s->ids + a;
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
    free(s->verified);
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
