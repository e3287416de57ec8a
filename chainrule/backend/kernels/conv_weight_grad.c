/* The weight gradient of a 2-D convolution at stride 1 with few input values per output
 * (C_in * KH * KW small: a network's first layer), summed directly from x and g
 * (chainrule/backend/conv_weight_grad.py says when it is used):
 *
 *   gw[o, c, kh, kw] = sum over n, i, j of g[n, o, i, j] * x[n, c, i + kh*dh - pt, j + kw*dw - pl]
 *
 * with x read as zero outside its (H, W) plane.  x is contiguous (N, C, H, W), g contiguous
 * (N, O, OH, OW), gw contiguous (O, C, KH, KW).  Only the pairs q0 <= q < q1 (q = o*C + c) are
 * done: each pair's sums are independent, so threads take a range each.
 *
 * As a matrix product (gw = g colsᵀ) the inner dimension is C_in*KH*KW: 25 for LeNet's first
 * layer, where BLAS and oneDNN reach a tenth of their usual speed.  Here each plane is laid out
 * once in a row stride WP = OW + (KW-1)*dw: x's plane zero-padded (its margins and one more row,
 * so that every read below stays inside), g's plane with zeros after each row's OW values.  A
 * whole (kh, kw) term is then one long dot product over the flat index t = i*WP + j:
 *
 *   sum over t of gp[t] * xp[t + kh*dh*WP + kw*dw]
 *
 * because gp is zero where j >= OW, the reads that run past a row's end add nothing.  The dots
 * are vectorised (an OpenMP simd reduction, in float lanes); each (n) plane's dot is added into a
 * double sum, so the rounding does not grow with the batch.  Not NumPy's or BLAS's order of
 * summation: the results agree with them to float rounding, not bit for bit.
 * Returns 0, or -1 when the two planes' buffers cannot be allocated.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DEFINE_WGRAD(REAL, SUFFIX)                                                              \
int conv_weight_grad_##SUFFIX(const REAL *x, const REAL *g, REAL *gw,                           \
                              ptrdiff_t N, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,               \
                              ptrdiff_t O, ptrdiff_t OH, ptrdiff_t OW,                          \
                              ptrdiff_t KH, ptrdiff_t KW, ptrdiff_t dh, ptrdiff_t dw,           \
                              ptrdiff_t pt, ptrdiff_t pl, ptrdiff_t q0, ptrdiff_t q1)           \
{                                                                                                \
    const ptrdiff_t WP = OW + (KW - 1) * dw, HP = OH + (KH - 1) * dh + 1;                       \
    const ptrdiff_t T = OH * WP, K = KH * KW;                                                   \
    REAL *xp = malloc(sizeof(REAL) * (size_t)(HP * WP));                                        \
    REAL *gp = malloc(sizeof(REAL) * (size_t)(T > 0 ? T : 1));                                  \
    const ptrdiff_t Q = q1 - q0;                                                                 \
    double *sums = calloc((size_t)(Q * K > 0 ? Q * K : 1), sizeof(double));                     \
    if (!xp || !gp || !sums) {                                                                   \
        free(xp); free(gp); free(sums);                                                          \
        return -1;                                                                               \
    }                                                                                            \
    for (ptrdiff_t n = 0; n < N; n++) {                                                          \
        ptrdiff_t laid = -1;  /* the channel whose plane of sample n is in xp */                 \
        for (ptrdiff_t q = q0; q < q1; q++) {                                                    \
            const ptrdiff_t o = q / C, c = q % C;                                                \
            const REAL *gs = g + (n * O + o) * OH * OW;                                          \
            double *sums_q = sums + (q - q0) * K;                                                \
            if (c != laid) {                                                                     \
                const REAL *xs = x + (n * C + c) * H * W;                                        \
                memset(xp, 0, sizeof(REAL) * (size_t)(HP * WP));                                 \
                /* x's row r lands at padded row r + pt, column pl; the bounds only matter     \
                 * for shapes that do not fit together (they keep every write inside xp) */     \
                const ptrdiff_t cols = W < WP - pl ? W : WP - pl;                                \
                for (ptrdiff_t r = 0; r < H && r + pt < HP; r++)                                 \
                    if (cols > 0) memcpy(xp + (r + pt) * WP + pl, xs + r * W, sizeof(REAL) * (size_t)cols); \
                laid = c;                                                                        \
            }                                                                                    \
            for (ptrdiff_t i = 0; i < OH; i++) {                                                 \
                memcpy(gp + i * WP, gs + i * OW, sizeof(REAL) * (size_t)OW);                     \
                for (ptrdiff_t j = OW; j < WP; j++) gp[i * WP + j] = 0;                          \
            }                                                                                    \
            for (ptrdiff_t kh = 0; kh < KH; kh++) {                                              \
                const REAL *xk = xp + kh * dh * WP;                                              \
                ptrdiff_t kw = 0;                                                                \
                for (; kw + 4 <= KW; kw += 4) {  /* four sums at once: four chains of adds */    \
                    const REAL *a = xk + kw * dw, *b = a + dw, *e = b + dw, *f = e + dw;         \
                    REAL s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                         \
                    _Pragma("omp simd reduction(+:s0, s1, s2, s3)")                              \
                    for (ptrdiff_t t = 0; t < T; t++) {                                          \
                        const REAL v = gp[t];                                                    \
                        s0 += v * a[t]; s1 += v * b[t]; s2 += v * e[t]; s3 += v * f[t];          \
                    }                                                                            \
                    double *out = sums_q + kh * KW + kw;                                         \
                    out[0] += (double)s0; out[1] += (double)s1; out[2] += (double)s2; out[3] += (double)s3; \
                }                                                                                \
                for (; kw < KW; kw++) {                                                          \
                    const REAL *a = xk + kw * dw;                                                \
                    REAL s0 = 0;                                                                 \
                    _Pragma("omp simd reduction(+:s0)")                                          \
                    for (ptrdiff_t t = 0; t < T; t++) s0 += gp[t] * a[t];                        \
                    sums_q[kh * KW + kw] += (double)s0;                                          \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    for (ptrdiff_t k = 0; k < Q * K; k++) gw[q0 * K + k] = (REAL)sums[k];                        \
    free(xp); free(gp); free(sums);                                                              \
    return 0;                                                                                    \
}

DEFINE_WGRAD(float, f32)
DEFINE_WGRAD(double, f64)
