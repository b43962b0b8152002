#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "host/atomic_file.h"
#include "host/hash.h"
#include "trainer/shard.h"

enum { CHUNK_EXAMPLES = 8192 };

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* The body's bytes on their way to the file, CRC-32 per SHARD_BLOCK_BYTES block. */
typedef struct {
    FILE *f;
    uint64_t at;        /* file offset */
    uint32_t crc;       /* of the current block so far */
    uint32_t *sums;     /* finished blocks */
    size_t n_sums, cap;
} BodyWriter;

static void body_finish_block(BodyWriter *w)
{
    if (w->n_sums == w->cap) {
        w->cap = w->cap * 2 + 64;
        w->sums = se_xrealloc(w->sums, w->cap * sizeof *w->sums);
    }
    w->sums[w->n_sums++] = w->crc;
    w->crc = 0;
}

static void body_write(BodyWriter *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    fwrite(p, 1, n, w->f);
    while (n) {
        size_t in_block = (size_t)((w->at - SHARD_HEADER_BYTES) % SHARD_BLOCK_BYTES);
        size_t take = SHARD_BLOCK_BYTES - in_block < n ? SHARD_BLOCK_BYTES - in_block : n;
        w->crc = (uint32_t)crc32_z(w->crc, p, take);
        w->at += take, p += take, n -= take;
        if (take == SHARD_BLOCK_BYTES - in_block)
            body_finish_block(w);
    }
}

static void body_pad8(BodyWriter *w)
{
    static const char zeros[8];
    body_write(w, zeros, (size_t)((8 - w->at % 8) % 8));
}

/* Ends the body: the last, shorter block's checksum, then all of them. Returns the CRC-32
 * of the table as stored. */
static uint32_t body_end(BodyWriter *w)
{
    if ((w->at - SHARD_HEADER_BYTES) % SHARD_BLOCK_BYTES)
        body_finish_block(w);
    uint32_t crc = 0;
    for (size_t b = 0; b < w->n_sums; b++) {
        unsigned char le[4];
        put_u32(le, w->sums[b]);
        fwrite(le, 1, 4, w->f);
        crc = (uint32_t)crc32_z(crc, le, 4);
    }
    free(w->sums);
    return crc;
}

int shard_write(const char *path, const DataSource *src, const Tokenizer *t, int max_seq_length, int threads,
                SeError *err)
{
    const DataSpec *spec = src->spec;
    const size_t K = (size_t)spec->n_columns, n = src->n, L = (size_t)max_seq_length;
    AtomicFile out;
    if (atomic_open(&out, path, err))
        return -1;
    SeContext ctx;
    se_context_push(&ctx, "writing the shard", path, NULL);
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    fwrite(header, 1, sizeof header, out.f); /* written for real at the end */
    BodyWriter body = {.f = out.f, .at = SHARD_HEADER_BYTES};
    uint64_t ids_at = body.at, n_ids = 0, truncated = 0;
    uint64_t *offsets = se_xmalloc((n * K + 1) * sizeof *offsets);
    double *labels = spec->has_label ? se_xmalloc(n * sizeof *labels) : NULL;
    offsets[0] = 0;
    const char **texts = se_xmalloc(CHUNK_EXAMPLES * K * sizeof *texts);
    size_t *lens = se_xmalloc(CHUNK_EXAMPLES * K * sizeof *lens), *text_at = se_xmalloc(CHUNK_EXAMPLES * K * sizeof *text_at);
    char *arena = NULL;
    size_t arena_cap = 0;
    TokBatch tb = {0};
    RowParser parser;
    data_source_parser(src, &parser);
    int failed = 0;
    for (size_t first = 0; first < n && !failed; first += CHUNK_EXAMPLES) {
        size_t count = n - first < CHUNK_EXAMPLES ? n - first : CHUNK_EXAMPLES, used = 0;
        for (size_t i = 0; i < count; i++) {
            DataExample ex;
            if (data_source_read(src, &parser, first + i, &ex, err)) {
                failed = 1;
                break;
            }
            for (size_t c = 0; c < K; c++) { /* copied: the parser's buffers are reused by the next row */
                if (used + ex.len[c] > arena_cap) {
                    arena_cap = (used + ex.len[c]) * 2 + 4096;
                    arena = se_xrealloc(arena, arena_cap);
                }
                memcpy(arena + used, ex.text[c], ex.len[c]);
                text_at[i * K + c] = used;
                lens[i * K + c] = ex.len[c];
                used += ex.len[c];
            }
            if (labels)
                labels[first + i] = ex.label;
        }
        if (failed)
            break;
        for (size_t k = 0; k < count * K; k++)
            texts[k] = arena + text_at[k];
        /* one id more than kept tells whether a sequence was cut */
        tok_encode_batch(t, &tb, texts, lens, NULL, NULL, count * K, L + 1, threads);
        for (size_t k = 0; k < count * K; k++) {
            int32_t *ids = tb.ids + tb.offsets[k];
            size_t len = tb.offsets[k + 1] - tb.offsets[k];
            if (len > L) { /* the tokenizer's cut at L: the first L - 1 ids and the final [SEP] */
                ids[L - 1] = ids[len - 1];
                len = L;
                truncated++;
            }
            body_write(&body, ids, len * sizeof *ids);
            n_ids += len;
            offsets[first * K + k + 1] = n_ids;
        }
    }
    body_pad8(&body);
    uint64_t offsets_at = body.at;
    body_write(&body, offsets, (n * K + 1) * sizeof *offsets);
    uint64_t labels_at = labels ? body.at : 0;
    if (labels)
        body_write(&body, labels, n * sizeof *labels);
    const uint64_t checksums_at = body.at;
    const uint32_t table_crc = body_end(&body);
    const uint64_t file_size = checksums_at + body.n_sums * 4;
    memcpy(header, "SEMBSHRD", 8);
    put_u32(header + 8, SHARD_VERSION);
    put_u32(header + 12, (uint32_t)K);
    put_u32(header + 16, labels != NULL);
    put_u32(header + 20, (uint32_t)L);
    put_u32(header + 24, (uint32_t)t->vocab.size);
    put_u32(header + 28, shard_normalizer_bits(t));
    put_u64(header + 32, shard_vocab_hash(t));
    put_u64(header + 40, n);
    put_u64(header + 48, n_ids);
    put_u64(header + 56, truncated);
    put_u64(header + 64, offsets_at);
    put_u64(header + 72, ids_at);
    put_u64(header + 80, labels_at);
    put_u64(header + 88, file_size);
    put_u64(header + 96, checksums_at);
    put_u32(header + 104, SHARD_BLOCK_BYTES);
    put_u32(header + 108, table_crc);
    put_u64(header + 112, fnv1a64(FNV64_START, header, 112));
    if (!failed && (fseek(out.f, 0, SEEK_SET) != 0 || fwrite(header, 1, sizeof header, out.f) != sizeof header))
        failed = 1;
    se_context_pop(&ctx);
    row_parser_free(&parser);
    tok_batch_free(&tb);
    free(offsets), free(labels), free(texts), free(lens), free(text_at), free(arena);
    SeError commit_err;
    if (atomic_commit(&out, failed, &commit_err)) {
        if (!failed) /* the reading error, when there was one, says more */
            *err = commit_err;
        return -1;
    }
    return 0;
}
