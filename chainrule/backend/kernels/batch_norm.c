/* Training-mode batch normalisation, forward and backward, one channel at a time.
 *
 * x is laid out (outer, C, inner) in memory: a channel's m = outer*inner values are outer runs
 * of inner contiguous elements (NCHW: outer = N, inner = H*W; a batch-last map (C, H, W, N):
 * outer = 1).  y, xhat, g and gx share x's layout.  Only channels c0 <= c < c1 are done, so
 * threads can take a range each.  The sums run in double (NumPy's twin sums in the arrays'
 * dtype, pairwise), the element-wise steps in the arrays' dtype in the twin's order:
 *
 *   forward:  mu = sum x / m,  var = sum (x - mu)^2 / m,  inv = 1 / sqrt(var + eps),
 *             xhat = (x - mu) inv,  y = xhat w + b
 *   backward: gb = sum g,  gw = sum g xhat,  k = w inv,
 *             gx = g k - (k gb) / m - xhat ((k gw) / m)      (gx NULL: parameters only)
 */
#include <math.h>
#include <stddef.h>

#define DEFINE_BATCH_NORM(REAL, SUFFIX, SQRT)                                                  \
void bn_forward_##SUFFIX(ptrdiff_t outer, ptrdiff_t C, ptrdiff_t inner, ptrdiff_t c0,          \
                         ptrdiff_t c1, const REAL *x, const REAL *w, const REAL *b, REAL eps,  \
                         REAL *y, REAL *xhat, REAL *mean, REAL *var, REAL *inv)               \
{                                                                                              \
    const double m = (double)(outer * inner);                                                  \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                      \
        double s = 0.0;                                                                        \
        for (ptrdiff_t o = 0; o < outer; o++) {                                                \
            const REAL *xs = x + (o * C + c) * inner;                                          \
            _Pragma("omp simd reduction(+:s)")                                                 \
            for (ptrdiff_t i = 0; i < inner; i++)                                              \
                s += (double)xs[i];                                                            \
        }                                                                                      \
        const REAL mu = (REAL)(s / m);                                                         \
        double q = 0.0;                                                                        \
        for (ptrdiff_t o = 0; o < outer; o++) {                                                \
            const REAL *xs = x + (o * C + c) * inner;                                          \
            _Pragma("omp simd reduction(+:q)")                                                 \
            for (ptrdiff_t i = 0; i < inner; i++) {                                            \
                const double d = (double)(REAL)(xs[i] - mu);                                   \
                q += d * d;                                                                    \
            }                                                                                  \
        }                                                                                      \
        const REAL v = (REAL)(q / m);                                                          \
        const REAL iv = (REAL)1 / SQRT(v + eps);                                               \
        const REAL wc = w[c], bc = b[c];                                                       \
        mean[c] = mu;                                                                          \
        var[c] = v;                                                                            \
        inv[c] = iv;                                                                           \
        for (ptrdiff_t o = 0; o < outer; o++) {                                                \
            const ptrdiff_t at = (o * C + c) * inner;                                          \
            const REAL *restrict xs = x + at;                                                  \
            REAL *restrict ys = y + at, *restrict hs = xhat + at;                              \
            _Pragma("omp simd")                                                                \
            for (ptrdiff_t i = 0; i < inner; i++) {                                            \
                const REAL h = (xs[i] - mu) * iv;                                              \
                hs[i] = h;                                                                     \
                ys[i] = h * wc + bc;                                                           \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
void bn_backward_##SUFFIX(ptrdiff_t outer, ptrdiff_t C, ptrdiff_t inner, ptrdiff_t c0,         \
                          ptrdiff_t c1, const REAL *g, const REAL *xhat, const REAL *w,        \
                          const REAL *inv, REAL *gx, REAL *gw, REAL *gb)                       \
{                                                                                              \
    const REAL m = (REAL)(outer * inner);                                                      \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                      \
        double sb = 0.0, sw = 0.0;                                                             \
        for (ptrdiff_t o = 0; o < outer; o++) {                                                \
            const ptrdiff_t at = (o * C + c) * inner;                                          \
            const REAL *gs = g + at, *hs = xhat + at;                                          \
            _Pragma("omp simd reduction(+:sb, sw)")                                            \
            for (ptrdiff_t i = 0; i < inner; i++) {                                            \
                sb += (double)gs[i];                                                           \
                sw += (double)gs[i] * (double)hs[i];                                           \
            }                                                                                  \
        }                                                                                      \
        gb[c] = (REAL)sb;                                                                      \
        gw[c] = (REAL)sw;                                                                      \
        if (!gx)                                                                               \
            continue;                                                                          \
        const REAL k = w[c] * inv[c];                                                          \
        const REAL a = k * gb[c] / m, e = k * gw[c] / m;                                       \
        for (ptrdiff_t o = 0; o < outer; o++) {                                                \
            const ptrdiff_t at = (o * C + c) * inner;                                          \
            const REAL *restrict gs = g + at, *restrict hs = xhat + at;                        \
            REAL *restrict out = gx + at;                                                      \
            _Pragma("omp simd")                                                                \
            for (ptrdiff_t i = 0; i < inner; i++)                                              \
                out[i] = gs[i] * k - a - hs[i] * e;                                            \
        }                                                                                      \
    }                                                                                          \
}

DEFINE_BATCH_NORM(float, f32, sqrtf)
DEFINE_BATCH_NORM(double, f64, sqrt)
