/* Evaluators, as sentence-transformers computes them:
 *   EmbeddingSimilarityEvaluator: Pearson and Spearman correlation (average ranks for
 *     ties, as scipy) between the cosine similarity of each pair and its gold score;
 *   TripletEvaluator: the share of (anchor, positive, negative) with
 *     cos(a, p) > cos(a, n). */
#ifndef SENTEMBED_EVALUATOR_H
#define SENTEMBED_EVALUATOR_H

#include "trainer/dataset.h"
#include "trainer/sentence_model.h"

typedef struct {
    double pearson, spearman; /* similarity; NaN when undefined (see undefined) */
    const char *undefined;    /* why the correlations are undefined (a constant side), or NULL */
    double accuracy;          /* triplets */
    size_t n;
} EvalResult;

/* Runs the evaluator that fits the data: 2 columns + a label -> similarity,
 * 3 columns -> triplets. Fails (with a message) for other shapes. */
int evaluate(SentenceModel *m, const Dataset *d, EvalResult *out, SeError *err);

/* Exposed for tests: Pearson and Spearman (average ranks) of x and y. */
double pearson_correlation(const double *x, const double *y, size_t n);
double spearman_correlation(const double *x, const double *y, size_t n);

#endif
