#include <stdlib.h>
#include <string.h>

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

static void pad8(FILE *f, uint64_t *at)
{
    static const char zeros[8];
    size_t n = (size_t)((8 - *at % 8) % 8);
    fwrite(zeros, 1, n, f);
    *at += n;
}

int shard_write(const char *path, const DataSource *src, const Tokenizer *t, int max_seq_length, int threads,
                SeError *err)
{
    const DataSpec *spec = src->spec;
    const size_t K = (size_t)spec->n_columns, n = src->n, L = (size_t)max_seq_length;
    AtomicFile out;
    if (atomic_open(&out, path, err))
        return -1;
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    fwrite(header, 1, sizeof header, out.f); /* written for real at the end */
    uint64_t at = SHARD_HEADER_BYTES, ids_at = at, n_ids = 0, truncated = 0;
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
            fwrite(ids, sizeof *ids, len, out.f);
            n_ids += len;
            offsets[first * K + k + 1] = n_ids;
        }
    }
    at += n_ids * 4;
    pad8(out.f, &at);
    uint64_t offsets_at = at;
    fwrite(offsets, sizeof *offsets, n * K + 1, out.f);
    at += (n * K + 1) * 8;
    uint64_t labels_at = labels ? at : 0;
    if (labels) {
        fwrite(labels, sizeof *labels, n, out.f);
        at += n * 8;
    }
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
    put_u64(header + 88, at);
    put_u64(header + 96, fnv1a64(FNV64_START, header, 96));
    if (!failed && (fseek(out.f, 0, SEEK_SET) != 0 || fwrite(header, 1, sizeof header, out.f) != sizeof header))
        failed = 1;
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
