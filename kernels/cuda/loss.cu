/* Fused losses on f32 embeddings in fp32, the math of the double references
 * trainer/loss_triplet.c, loss_mnrl.c and loss_softmax.c. Each op writes
 * grad = grad_scale * dLoss/demb for every row of emb, leaves one loss per row in the scratch
 * buffer and returns their mean, summed in double on the host (one copy, one sync).
 *
 * TripletLoss, one block per triplet (a, p, n) = row i of anchors, positives, negatives:
 *   euclidean  d(a,x) = ||a - x + eps||_2,  dd/da = (a - x + eps) / d   (0 where d = 0)
 *   manhattan  d(a,x) = ||a - x + eps||_1,  dd/da = sign(a - x + eps)   (dd/dx = -dd/da for both)
 *   cosine     d(a,x) = 1 - cos(a,x),  dd/da = -(x^ - cos a^) / |a|,  dd/dx = -(a^ - cos x^) / |x|
 *   z = d(a,p) - d(a,n) + margin, loss_i = relu(z); where z > 0, with g = grad_scale / rows:
 *   da = g (dd(a,p)/da - dd(a,n)/da),  dp = g dd(a,p)/dp,  dn = -g dd(a,n)/dn; else all 0.
 * eps = 1e-6 as torch's pairwise_distance; x^ = x / max(|x|, 1e-12) as the CPU's cos_sim.
 *
 * MultipleNegativesRankingLoss, anchors A [B, D] then candidates X [C, D], C = (columns - 1) B:
 *   a^, x^ = rows over their clamped norms; S = A^ X^^T (cosines, a tiled fp32 GEMM)
 *   z_ij = scale S_ij, loss_i = logsumexp_j z_ij - z_ii,
 *   G_ij = grad_scale scale (softmax_j(z_i) - [j == i]) / B   (a block per row)
 *   da_i = ((G X^)_i - r_i a^_i) / |a_i|,  r_i = sum_j G_ij S_ij
 *   dx_j = ((G^T A^)_j - q_j x^_j) / |x_j|, q_j = sum_i G_ij S_ij
 * (the CPU's cos_sim_backward summed over the batch: two more GEMMs, then a pointwise fix-up).
 *
 * SoftmaxLoss, u = rows 0..B-1, v = rows B..2B-1, x_i = concat(u_i, v_i, |u_i - v_i|) [3D]:
 *   z_il = W_l . x_i + b_l, loss_i = CE(z_i, y_i), g_il = grad_scale (softmax(z_i)_l - [l == y_i]) / B
 *   t = W^T g_i:  du_i = t[0:D] + s t[2D:3D],  dv_i = t[D:2D] - s t[2D:3D],  s = sign(u - v), 0 where u == v
 *   dW += sum_i g_i x_i^T,  db += sum_i g_i      (accumulated, like the other parameter gradients)
 * A label outside [0, L) makes its row's loss NaN (so the batch loss is NaN, which the trainer
 * reports) and gives that row no gradient.
 *
 * Cross entropies are taken as log1p(others / e_target) (e_j = exp(z_j - max z), others = the
 * sum without the target): when a row is confidently right its loss is << 1, and
 * log(sum) - (z_target - max) would lose it to cancellation in fp32. For the same reason the
 * target's softmax - 1 is computed as -others / sum. */
#include <math_constants.h>

#include "kernels/cuda/train_support.h"

#define THREADS 256
#define PAIRWISE_EPS 1e-6f
#define NORM_MIN 1e-12f
#define TILE 32
#define TILE_ROWS 8 /* thread rows of a GEMM block; each thread computes TILE / TILE_ROWS outputs */

/* The values of TripletMetric (trainer/loss.h), as ops.h documents them. */
enum { METRIC_EUCLIDEAN = 0, METRIC_COSINE = 1, METRIC_MANHATTAN = 2 };

/* log(sum / e_t) for a row whose exp(z - max) sum is `sum`, `others` of it off the target,
 * zt = z_target - max. When e_t underflows (a target far below the maximum), the plain form. */
__device__ static float cross_entropy(float sum, float others, float zt)
{
    const float e_t = expf(zt);
    return e_t >= 1e-30f ? log1pf(others / e_t) : logf(sum) - zt;
}

__device__ static float sign_of(float x)
{
    return (float)((x > 0.0f) - (x < 0.0f));
}

/* ---- TripletLoss ---- */

__global__ static void triplet_kernel(float *grad, float *row_loss, const float *emb, int B, int D, int metric,
                                      float margin, float g)
{
    const size_t stride = (size_t)B * D, row = (size_t)blockIdx.x * D;
    const float *a = emb + row, *p = a + stride, *n = a + 2 * stride;
    float *da = grad + row, *dp = da + stride, *dn = da + 2 * stride;

    /* cosine: the dots a.p, a.n and the squared norms; else the two distances' sums */
    float s_p = 0.0f, s_n = 0.0f, s_aa = 0.0f, s_pp = 0.0f, s_nn = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float ad = a[d], pd = p[d], nd = n[d];
        if (metric == METRIC_COSINE) {
            s_p += ad * pd;
            s_n += ad * nd;
            s_aa += ad * ad;
            s_pp += pd * pd;
            s_nn += nd * nd;
        } else {
            const float ep = ad - pd + PAIRWISE_EPS, en = ad - nd + PAIRWISE_EPS;
            s_p += metric == METRIC_EUCLIDEAN ? ep * ep : fabsf(ep);
            s_n += metric == METRIC_EUCLIDEAN ? en * en : fabsf(en);
        }
    }
    s_p = block_sum(s_p);
    s_n = block_sum(s_n);
    float dist_p, dist_n, na = 1.0f, np = 1.0f, nn = 1.0f, cp = 0.0f, cn = 0.0f;
    if (metric == METRIC_COSINE) {
        na = fmaxf(sqrtf(block_sum(s_aa)), NORM_MIN);
        np = fmaxf(sqrtf(block_sum(s_pp)), NORM_MIN);
        nn = fmaxf(sqrtf(block_sum(s_nn)), NORM_MIN);
        cp = s_p / (na * np);
        cn = s_n / (na * nn);
        dist_p = 1.0f - cp;
        dist_n = 1.0f - cn;
    } else {
        dist_p = metric == METRIC_EUCLIDEAN ? sqrtf(s_p) : s_p;
        dist_n = metric == METRIC_EUCLIDEAN ? sqrtf(s_n) : s_n;
    }
    const float z = dist_p - dist_n + margin;
    if (threadIdx.x == 0)
        row_loss[blockIdx.x] = z > 0.0f ? z : 0.0f;
    const float gi = z > 0.0f ? g : 0.0f;

    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float ad = a[d], pd = p[d], nd = n[d];
        float ddp_a, ddp_p, ddn_a, ddn_n; /* dd(a,p)/da, dd(a,p)/dp, dd(a,n)/da, dd(a,n)/dn */
        if (metric == METRIC_COSINE) {
            const float ah = ad / na, ph = pd / np, nh = nd / nn;
            ddp_a = -(ph - cp * ah) / na;
            ddp_p = -(ah - cp * ph) / np;
            ddn_a = -(nh - cn * ah) / na;
            ddn_n = -(ah - cn * nh) / nn;
        } else {
            const float ep = ad - pd + PAIRWISE_EPS, en = ad - nd + PAIRWISE_EPS;
            if (metric == METRIC_EUCLIDEAN) {
                ddp_a = dist_p > 0.0f ? ep / dist_p : 0.0f;
                ddn_a = dist_n > 0.0f ? en / dist_n : 0.0f;
            } else {
                ddp_a = sign_of(ep);
                ddn_a = sign_of(en);
            }
            ddp_p = -ddp_a;
            ddn_n = -ddn_a;
        }
        da[d] = gi * (ddp_a - ddn_a);
        dp[d] = gi * ddp_p;
        dn[d] = -gi * ddn_n;
    }
}

double loss_triplet_cuda(float *grad, const float *emb, int rows, int D, int metric, float margin,
                         float grad_scale)
{
    if (metric != METRIC_EUCLIDEAN && metric != METRIC_COSINE && metric != METRIC_MANHATTAN) {
        fprintf(stderr, "sentembed: internal error: triplet metric %d is not 0, 1 or 2\n", metric);
        exit(1);
    }
    if (rows <= 0 || D <= 0)
        return 0.0;
    float *row_loss = (float *)train_scratch_cuda((size_t)rows * sizeof(float));
    triplet_kernel<<<rows, THREADS, 0, cuda_ctx.stream>>>(grad, row_loss, emb, rows, D, metric, margin,
                                                          grad_scale / (float)rows);
    CUDA_CHECK_LAUNCH();
    return sum_to_host_cuda(row_loss, (size_t)rows) / rows;
}

/* ---- MultipleNegativesRankingLoss ---- */

/* xhat[r,:] = x[r,:] / norms[r], norms[r] = max(||x[r,:]||_2, 1e-12); a block per row. */
__global__ static void normalize_rows_kernel(float *xhat, float *norms, const float *x, int D)
{
    const size_t row = (size_t)blockIdx.x * D;
    float sq = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        sq += x[row + d] * x[row + d];
    const float norm = fmaxf(sqrtf(block_sum(sq)), NORM_MIN);
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        xhat[row + d] = x[row + d] / norm;
    if (threadIdx.x == 0)
        norms[blockIdx.x] = norm;
}

/* out[M,N] (row-major) = sum_k A(m,k) B(k,n) with A(m,k) = a[m a_m + k a_k] and
 * B(k,n) = b[k b_k + n b_n]: one strided form for the three products of MNRL (S = A^ X^^T,
 * G X^, G^T A^). A block computes a TILE x TILE tile of out with TILE x TILE_ROWS threads.
 * Each operand tile is read with threadIdx.x along whichever index is contiguous in memory,
 * so the global reads coalesce for every layout; the padded shared tiles avoid bank
 * conflicts either way. Each k-tile is summed on its own before joining the total, which
 * keeps the fp32 rounding of long dot products small. */
__global__ static void gemm_strided_kernel(float *out, const float *a, const float *b, int M, int N, int K,
                                           size_t a_m, size_t a_k, size_t b_k, size_t b_n)
{
    __shared__ float as[TILE][TILE + 1], bs[TILE][TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;
    float acc[TILE / TILE_ROWS] = {0.0f};
    for (int k0 = 0; k0 < K; k0 += TILE) {
        for (int r = ty; r < TILE; r += TILE_ROWS) {
            const int mi = a_k == 1 ? r : tx, ki = a_k == 1 ? tx : r;
            const int m = m0 + mi, ka = k0 + ki;
            as[mi][ki] = m < M && ka < K ? a[(size_t)m * a_m + (size_t)ka * a_k] : 0.0f;
            const int kj = b_n == 1 ? r : tx, nj = b_n == 1 ? tx : r;
            const int kb = k0 + kj, n = n0 + nj;
            bs[kj][nj] = kb < K && n < N ? b[(size_t)kb * b_k + (size_t)n * b_n] : 0.0f;
        }
        __syncthreads();
        float part[TILE / TILE_ROWS] = {0.0f};
        for (int kk = 0; kk < TILE; kk++) {
            const float bv = bs[kk][tx];
#pragma unroll
            for (int r = 0; r < TILE / TILE_ROWS; r++)
                part[r] += as[ty + r * TILE_ROWS][kk] * bv;
        }
#pragma unroll
        for (int r = 0; r < TILE / TILE_ROWS; r++)
            acc[r] += part[r];
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < TILE / TILE_ROWS; r++) {
        const int m = m0 + ty + r * TILE_ROWS, n = n0 + tx;
        if (m < M && n < N)
            out[(size_t)m * N + n] = acc[r];
    }
}

static void gemm_strided(float *out, const float *a, const float *b, int M, int N, int K, size_t a_m, size_t a_k,
                         size_t b_k, size_t b_n)
{
    const dim3 grid((unsigned int)((N + TILE - 1) / TILE), (unsigned int)((M + TILE - 1) / TILE));
    gemm_strided_kernel<<<grid, dim3(TILE, TILE_ROWS), 0, cuda_ctx.stream>>>(out, a, b, M, N, K, a_m, a_k, b_k,
                                                                             b_n);
    CUDA_CHECK_LAUNCH();
}

/* The logit scale * cos, rounded on its own (never fused into a following subtraction), so
 * that every recomputation of it in a row gives the same value. */
__device__ static float mnrl_logit(float scale, float cos)
{
    return __fmul_rn(scale, cos);
}

/* Row i of the softmax over C candidates: writes G[i,:], r[i] = sum_j G_ij S_ij and the row's
 * loss. g = grad_scale * scale / B. */
__global__ static void mnrl_rows_kernel(float *G, float *r, float *row_loss, const float *S, int C, float scale,
                                        float g)
{
    const int i = blockIdx.x;
    const float *s = S + (size_t)i * C;
    float *gi = G + (size_t)i * C;
    float mx = -CUDART_INF_F;
    for (int j = threadIdx.x; j < C; j += blockDim.x)
        mx = fmaxf(mx, mnrl_logit(scale, s[j]));
    mx = block_max(mx);
    float sum = 0.0f, others = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        const float e = expf(mnrl_logit(scale, s[j]) - mx);
        sum += e;
        others += j != i ? e : 0.0f;
    }
    sum = block_sum(sum);
    others = block_sum(others);
    if (threadIdx.x == 0)
        row_loss[i] = cross_entropy(sum, others, mnrl_logit(scale, s[i]) - mx);
    float rs = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        const float gij = g * (j == i ? -others : expf(mnrl_logit(scale, s[j]) - mx)) / sum;
        gi[j] = gij;
        rs += gij * s[j];
    }
    rs = block_sum(rs);
    if (threadIdx.x == 0)
        r[i] = rs;
}

/* q[j] = sum_i G_ij S_ij, a thread per column (reads coalesce along j). */
__global__ static void mnrl_columns_kernel(float *q, const float *G, const float *S, int B, int C)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    float s = 0.0f;
    for (int i = 0; i < B; i++)
        s += G[(size_t)i * C + j] * S[(size_t)i * C + j];
    q[j] = s;
}

/* grad[r,:] = (grad[r,:] - coef[r] xhat[r,:]) / norms[r] over all rows (anchors, then candidates). */
__global__ static void mnrl_grad_kernel(float *grad, const float *xhat, const float *norms, const float *coef,
                                        size_t total, int D)
{
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const size_t row = idx / D;
        grad[idx] = (grad[idx] - coef[row] * xhat[idx]) / norms[row];
    }
}

double loss_mnrl_cuda(float *grad, const float *emb, int rows, int columns, int D, float scale, float grad_scale)
{
    if (columns < 2) {
        fprintf(stderr, "sentembed: internal error: MNRL needs at least 2 columns, got %d\n", columns);
        exit(1);
    }
    if (rows <= 0 || D <= 0)
        return 0.0;
    const int B = rows, C = (columns - 1) * rows, R = columns * rows;
    const size_t n_emb = (size_t)R * D, n_sim = (size_t)B * C;
    /* scratch: xhat [R, D], norms [R], S [B, C], G [B, C], coef [R] (r then q), row_loss [B] */
    float *xhat = (float *)train_scratch_cuda((n_emb + R + 2 * n_sim + R + B) * sizeof(float));
    float *norms = xhat + n_emb, *S = norms + R, *G = S + n_sim, *coef = G + n_sim, *row_loss = coef + R;
    const float *ahat = xhat, *chat = xhat + (size_t)B * D;

    normalize_rows_kernel<<<R, THREADS, 0, cuda_ctx.stream>>>(xhat, norms, emb, D);
    CUDA_CHECK_LAUNCH();
    gemm_strided(S, ahat, chat, B, C, D, D, 1, 1, D); /* S = A^ X^^T */
    mnrl_rows_kernel<<<B, THREADS, 0, cuda_ctx.stream>>>(G, coef, row_loss, S, C, scale,
                                                         grad_scale * scale / (float)B);
    CUDA_CHECK_LAUNCH();
    mnrl_columns_kernel<<<(C + THREADS - 1) / THREADS, THREADS, 0, cuda_ctx.stream>>>(coef + B, G, S, B, C);
    CUDA_CHECK_LAUNCH();
    gemm_strided(grad, G, chat, B, D, C, C, 1, D, 1);                    /* G X^ */
    gemm_strided(grad + (size_t)B * D, G, ahat, C, D, B, 1, C, D, 1);    /* G^T A^ */
    mnrl_grad_kernel<<<grid_blocks(n_emb, THREADS), THREADS, 0, cuda_ctx.stream>>>(grad, xhat, norms, coef, n_emb,
                                                                                  D);
    CUDA_CHECK_LAUNCH();
    return sum_to_host_cuda(row_loss, (size_t)B) / B;
}

/* ---- SoftmaxLoss ---- */

/* Row i: the L logits (a block reduction each), the row's loss, g_i (into G [B, L]) and du_i,
 * dv_i. Dynamic shared memory: 2 L floats (logits, g_i). g = grad_scale / B. */
__global__ static void softmax_rows_kernel(float *grad, float *G, float *row_loss, const float *emb,
                                           const int32_t *labels, const float *W, const float *b, int B, int D,
                                           int L, float g)
{
    extern __shared__ float shared[];
    float *z = shared, *gl = shared + L;
    const size_t F = 3 * (size_t)D, i = blockIdx.x;
    const float *u = emb + i * D, *v = emb + ((size_t)B + i) * D;
    for (int l = 0; l < L; l++) {
        const float *w = W + l * F;
        float s = 0.0f;
        for (int d = threadIdx.x; d < D; d += blockDim.x)
            s += w[d] * u[d] + w[D + d] * v[d] + w[2 * D + d] * fabsf(u[d] - v[d]);
        s = block_sum(s);
        if (threadIdx.x == 0)
            z[l] = s + b[l];
    }
    __syncthreads();
    /* L is small: every thread takes the softmax itself */
    const int y = labels[i];
    const bool valid = y >= 0 && y < L;
    float mx = -CUDART_INF_F, sum = 0.0f, others = 0.0f;
    for (int l = 0; l < L; l++)
        mx = fmaxf(mx, z[l]);
    for (int l = 0; l < L; l++) {
        const float e = expf(z[l] - mx);
        sum += e;
        others += l != y ? e : 0.0f;
    }
    if (threadIdx.x == 0)
        row_loss[i] = valid ? cross_entropy(sum, others, z[y] - mx) : CUDART_NAN_F;
    for (int l = threadIdx.x; l < L; l += blockDim.x) {
        const float gv = valid ? g * (l == y ? -others : expf(z[l] - mx)) / sum : 0.0f;
        gl[l] = gv;
        G[i * L + l] = gv;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float tu = 0.0f, tv = 0.0f, tabs = 0.0f;
        for (int l = 0; l < L; l++) {
            tu += gl[l] * W[l * F + d];
            tv += gl[l] * W[l * F + D + d];
            tabs += gl[l] * W[l * F + 2 * D + d];
        }
        const float s = sign_of(u[d] - v[d]);
        grad[i * D + d] = tu + s * tabs;
        grad[((size_t)B + i) * D + d] = tv - s * tabs;
    }
}

/* dW[l,f] += sum_i G[i,l] x_i[f], a thread per weight (reads coalesce along f). */
__global__ static void softmax_dw_kernel(float *dW, const float *G, const float *emb, int B, int D, int L)
{
    const size_t F = 3 * (size_t)D, n = (size_t)L * F;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        const size_t l = idx / F, f = idx % F;
        float s = 0.0f;
        for (int i = 0; i < B; i++) {
            const float *u = emb + (size_t)i * D, *v = emb + ((size_t)B + i) * D;
            const float x = f < (size_t)D ? u[f] : f < 2 * (size_t)D ? v[f - D] : fabsf(u[f - 2 * D] - v[f - 2 * D]);
            s += G[(size_t)i * L + l] * x;
        }
        dW[idx] += s;
    }
}

/* db[l] += sum_i G[i,l] */
__global__ static void softmax_db_kernel(float *db, const float *G, int B, int L)
{
    for (int l = threadIdx.x; l < L; l += blockDim.x) {
        float s = 0.0f;
        for (int i = 0; i < B; i++)
            s += G[(size_t)i * L + l];
        db[l] += s;
    }
}

double loss_softmax_cuda(float *grad, float *dW, float *db, const float *emb, const int32_t *labels,
                         const float *W, const float *b, int rows, int D, int L, float grad_scale)
{
    if (rows <= 0 || D <= 0 || L <= 0)
        return 0.0;
    const int B = rows;
    /* scratch: G [B, L], row_loss [B] */
    float *G = (float *)train_scratch_cuda(((size_t)B * L + B) * sizeof(float)), *row_loss = G + (size_t)B * L;
    softmax_rows_kernel<<<B, THREADS, 2 * L * sizeof(float), cuda_ctx.stream>>>(grad, G, row_loss, emb, labels, W,
                                                                                 b, B, D, L, grad_scale / (float)B);
    CUDA_CHECK_LAUNCH();
    const size_t n_w = (size_t)L * 3 * D;
    softmax_dw_kernel<<<grid_blocks(n_w, THREADS), THREADS, 0, cuda_ctx.stream>>>(dW, G, emb, B, D, L);
    CUDA_CHECK_LAUNCH();
    softmax_db_kernel<<<1, 32, 0, cuda_ctx.stream>>>(db, G, B, L);
    CUDA_CHECK_LAUNCH();
    return sum_to_host_cuda(row_loss, (size_t)B) / B;
}
