#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "trainer/semantic_search.h"

/* sentence-transformers' defaults: 100 queries x 500000 corpus entries per GEMM. */
#define QUERY_CHUNK 100
#define CORPUS_CHUNK 500000

/* "a ranks before b": higher score, then lower corpus id. */
static int better(SearchHit a, SearchHit b)
{
    return a.score > b.score || (a.score == b.score && a.corpus_id < b.corpus_id);
}

/* Min-heap on rank (the worst kept hit at the root). */
static void heap_sift_down(SearchHit *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(h[w], h[l]))
            w = l;
        if (r < n && better(h[w], h[r]))
            w = r;
        if (w == i)
            return;
        SearchHit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_push(SearchHit *h, int *n, int cap, SearchHit x)
{
    if (*n < cap) {
        int i = (*n)++;
        h[i] = x;
        while (i > 0 && better(h[(i - 1) / 2], h[i])) {
            SearchHit t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (better(x, h[0])) {
        h[0] = x;
        heap_sift_down(h, *n, 0);
    }
}

static int by_rank(const void *pa, const void *pb)
{
    SearchHit a = *(const SearchHit *)pa, b = *(const SearchHit *)pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

void semantic_search(float *queries, size_t n_queries, float *corpus, size_t n_corpus, int dim, int top_k,
                     SearchHit *hits)
{
    normalize_forward_cpu(queries, (int)n_queries, dim);
    normalize_forward_cpu(corpus, (int)n_corpus, dim);
    SearchHit *heaps = se_xmalloc(n_queries * (size_t)top_k * sizeof *heaps);
    int *sizes = se_xcalloc(n_queries ? n_queries : 1, sizeof *sizes);
    size_t cc = n_corpus < CORPUS_CHUNK ? n_corpus : CORPUS_CHUNK;
    float *scores = se_xmalloc((size_t)QUERY_CHUNK * (cc ? cc : 1) * sizeof *scores);
    for (size_t q0 = 0; q0 < n_queries; q0 += QUERY_CHUNK) {
        size_t nq = n_queries - q0 < QUERY_CHUNK ? n_queries - q0 : QUERY_CHUNK;
        for (size_t c0 = 0; c0 < n_corpus; c0 += CORPUS_CHUNK) {
            size_t nc = n_corpus - c0 < CORPUS_CHUNK ? n_corpus - c0 : CORPUS_CHUNK;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nc, dim, 1.0f,
                        queries + q0 * (size_t)dim, dim, corpus + c0 * (size_t)dim, dim, 0.0f, scores, (int)nc);
#pragma omp parallel for schedule(static)
            for (size_t q = 0; q < nq; q++)
                for (size_t c = 0; c < nc; c++)
                    heap_push(heaps + (q0 + q) * (size_t)top_k, &sizes[q0 + q], top_k,
                              (SearchHit){c0 + c, scores[q * nc + c]});
        }
    }
    for (size_t q = 0; q < n_queries; q++) {
        SearchHit *h = heaps + q * (size_t)top_k;
        qsort(h, (size_t)sizes[q], sizeof *h, by_rank);
        for (int r = 0; r < top_k; r++)
            hits[q * (size_t)top_k + r] = r < sizes[q] ? h[r] : (SearchHit){SIZE_MAX, 0.0f};
    }
    free(scores);
    free(sizes);
    free(heaps);
}

void cos_sim_matrix(const float *a, size_t n_a, const float *b, size_t n_b, int dim, float *out)
{
    float *na = se_xmalloc((n_a ? n_a : 1) * (size_t)dim * sizeof *na);
    float *nb = se_xmalloc((n_b ? n_b : 1) * (size_t)dim * sizeof *nb);
    memcpy(na, a, n_a * (size_t)dim * sizeof *na);
    memcpy(nb, b, n_b * (size_t)dim * sizeof *nb);
    normalize_forward_cpu(na, (int)n_a, dim);
    normalize_forward_cpu(nb, (int)n_b, dim);
    if (n_a && n_b)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_a, (int)n_b, dim, 1.0f, na, dim, nb, dim, 0.0f,
                    out, (int)n_b);
    free(na);
    free(nb);
}
