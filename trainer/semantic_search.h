/* Exact cosine-similarity search, as sentence_transformers.util.semantic_search: both
 * sides L2-normalized, scores by GEMM over chunks of queries x corpus, top-k per query
 * kept in a small heap. Ties are broken by the lower corpus id. */
#ifndef SENTEMBED_SEMANTIC_SEARCH_H
#define SENTEMBED_SEMANTIC_SEARCH_H

#include <stddef.h>

typedef struct {
    size_t corpus_id;
    float score;
} SearchHit;

/* hits[q * top_k + r], best first; when the corpus has fewer than top_k entries the rest
 * have corpus_id SIZE_MAX. queries and corpus are normalized in place. */
void semantic_search(float *queries, size_t n_queries, float *corpus, size_t n_corpus, int dim, int top_k,
                     SearchHit *hits);
/* cos_sim(a, b)[i, j] for a[n_a, dim], b[n_b, dim] (inputs left unchanged). */
void cos_sim_matrix(const float *a, size_t n_a, const float *b, size_t n_b, int dim, float *out);

#endif
