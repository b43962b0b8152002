/* Sentence-embedding losses on the CPU, in double (the embeddings of a batch are few):
 * each returns the batch loss as sentence-transformers computes it (mean reduction) and,
 * for every gradient pointer that is not NULL, writes dLoss/d(input). Embeddings are
 * row-major [B, D]. These are the reference the fused CUDA losses are tested against. */
#ifndef SENTEMBED_LOSS_H
#define SENTEMBED_LOSS_H

typedef enum { TRIPLET_EUCLIDEAN, TRIPLET_COSINE, TRIPLET_MANHATTAN } TripletMetric;

/* TripletLoss: mean(relu(d(a, p) - d(a, n) + margin)), sentence-transformers v4's
 * formula: euclidean and manhattan as torch.nn.functional.pairwise_distance (p = 2 / 1,
 * eps 1e-6 added to the difference), cosine as 1 - cos. Default margin 5. */
double loss_triplet(const double *a, const double *p, const double *n, int B, int D, TripletMetric metric,
                    double margin, double *da, double *dp, double *dn);

/* MultipleNegativesRankingLoss: cross entropy over scale * cos(a_i, c_j), where the
 * candidates c are the positives [B, D] followed by n_neg_cols columns of negatives
 * ([n_neg_cols * B, D]), target j = i. Default scale 20. */
double loss_mnrl(const double *a, const double *cand, int B, int n_neg_cols, int D, double scale, double *da,
                 double *dcand);

/* CosineSimilarityLoss: mean((cos(u, v) - label)^2). */
double loss_cosine_similarity(const double *u, const double *v, const double *labels, int B, int D, double *du,
                              double *dv);

/* CoSENTLoss: log(1 + sum over pairs with label_i < label_j of exp(scale * (cos_i - cos_j))),
 * default scale 20. */
double loss_cosent(const double *u, const double *v, const double *labels, int B, int D, double scale, double *du,
                   double *dv);

/* ContrastiveLoss with cosine distance d = 1 - cos: mean(0.5 * (y d^2 + (1 - y) relu(margin - d)^2)),
 * default margin 0.5. */
double loss_contrastive(const double *u, const double *v, const double *labels, int B, int D, double margin,
                        double *du, double *dv);

/* OnlineContrastiveLoss (cosine distance d = 1 - cos, margin 0.5): only the hard pairs
 * count, positives farther than the closest negative and negatives closer than the
 * farthest positive: sum(d^2 over them) + sum(relu(margin - d)^2 over them) (a sum, as
 * sentence-transformers computes it). Labels 0/1; other labels are ignored. */
double loss_online_contrastive(const double *u, const double *v, const double *labels, int B, int D, double margin,
                               double *du, double *dv);

/* BatchHardTripletLoss (euclidean distance, margin 5) on one column of sentences with
 * class labels: for each anchor, the farthest same-label sentence and the closest
 * other-label one: mean(relu(d(a, hardest p) - d(a, hardest n) + margin)). */
double loss_batch_hard_triplet(const double *e, const double *labels, int B, int D, double margin, double *de);

/* SoftmaxLoss: cross entropy of W [L, 3D] @ concat(u, v, |u - v|) + b over L labels. */
double loss_softmax(const double *u, const double *v, const int *labels, int B, int D, int L, const double *W,
                    const double *b, double *du, double *dv, double *dW, double *db);

#endif
