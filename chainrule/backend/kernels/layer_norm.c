/* Layer normalisation over contiguous rows of D elements, forward and backward.
 *
 * x, y, g and gx are (R, D) in C order; w and b (D,), either may be NULL (no scale, no shift);
 * mean and rstd (R,) hold each row's mu and 1/sqrt(var + eps).  The sums run in double (NumPy's
 * twin sums in the arrays' dtype, pairwise), the element-wise steps in the arrays' dtype in the
 * twin's order:
 *
 *   forward:  mu = sum x / D,  var = sum (x - mu)^2 / D,  rstd = 1 / sqrt(var + eps),
 *             xhat = (x - mu) rstd,  y = xhat w + b
 *   backward: xhat recomputed from x, mu, rstd (the forward keeps no (R, D) array of its own),
 *             gg = g w,  gx = rstd ((gg - sum gg / D) - xhat (sum gg xhat / D)),
 *             per block of rows: part_w += g xhat, part_b += g (in double)
 *
 * Each row is read three times forward (its sum, its squared deviations, y) and twice backward
 * (the two row sums together with the block's column sums, then gx), from the cache after the
 * first.
 *
 * The forward does rows r0 <= r < r1, so threads can take a range each.  The backward cuts the
 * R rows into nblocks fixed blocks (block k: rows [R k / nblocks, R (k + 1) / nblocks)) and
 * does blocks k0 <= k < k1; each block sums its rows, in row order, into its own rows of the
 * (2, nblocks, D) double array part (NULL: no parameter gradients).  ln_sum_blocks then adds
 * the blocks in block order.  The blocks do not depend on the thread count: nor do the bits.
 */
#include <math.h>
#include <stddef.h>

/* a*b + c with one rounding where the CPU has a fused multiply-add (the sums of products are in
 * double and differ from the twin's by rounding anyway), else the two operations */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define MADD(a, b, c) fma(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

/* Each row sum runs in LANES independent partial sums (four vectors), added at the end: one
 * running sum would wait for each add to finish, and a row of 128 is only 32 vector adds. */
#define LANES 16
/* Rows are done GROUP at a time, each step over the whole group before the next: the rows'
 * sums do not wait on each other, so the CPU overlaps them (a row alone is a chain: its mean,
 * then its variance, then its output). */
#define GROUP 8

/* the LANES partial sums' total, added as a tree (a chain of 16 adds would be the row's
 * critical path) */
static double lanes_total(double *acc)
{
    for (int h = LANES / 2; h > 0; h /= 2)
        for (int j = 0; j < h; j++)
            acc[j] += acc[j + h];
    return acc[0];
}

/* row_dots' loop over whole LANES: gg is GG; PARAMS (a constant) adds the column sums */
#define ROW_DOTS_LOOP(REAL, GG, PARAMS)                                                        \
    for (; i + LANES <= D; i += LANES) {                                                       \
        _Pragma("omp simd")                                                                    \
        for (int j = 0; j < LANES; j++) {                                                      \
            const REAL h = (xs[i + j] - mu) * iv, gg = (GG);                                   \
            acc_a[j] += (double)gg;                                                            \
            acc_c[j] = MADD((double)gg, (double)h, acc_c[j]);                                  \
            if (PARAMS) {                                                                      \
                pw[i + j] = MADD((double)gs[i + j], (double)h, pw[i + j]);                     \
                pb[i + j] += (double)gs[i + j];                                                \
            }                                                                                  \
        }                                                                                      \
    }

#define DEFINE_LAYER_NORM(REAL, SUFFIX, SQRT)                                                  \
static double row_sum_##SUFFIX(const REAL *restrict xs, ptrdiff_t D)                           \
{                                                                                              \
    double acc[LANES] = {0}, s = 0.0;                                                          \
    ptrdiff_t i = 0;                                                                           \
    for (; i + LANES <= D; i += LANES) {                                                       \
        _Pragma("omp simd")                                                                    \
        for (int j = 0; j < LANES; j++)                                                        \
            acc[j] += (double)xs[i + j];                                                       \
    }                                                                                          \
    for (; i < D; i++)                                                                         \
        s += (double)xs[i];                                                                    \
    return s + lanes_total(acc);                                                               \
}                                                                                              \
                                                                                               \
/* sum of (x - mu)^2, the difference rounded to REAL as the twin's */                          \
static double row_sq_dev_##SUFFIX(const REAL *restrict xs, REAL mu, ptrdiff_t D)               \
{                                                                                              \
    double acc[LANES] = {0}, q = 0.0;                                                          \
    ptrdiff_t i = 0;                                                                           \
    for (; i + LANES <= D; i += LANES) {                                                       \
        _Pragma("omp simd")                                                                    \
        for (int j = 0; j < LANES; j++) {                                                      \
            const double d = (double)(REAL)(xs[i + j] - mu);                                   \
            acc[j] = MADD(d, d, acc[j]);                                                       \
        }                                                                                      \
    }                                                                                          \
    for (; i < D; i++) {                                                                       \
        const double d = (double)(REAL)(xs[i] - mu);                                           \
        q += d * d;                                                                            \
    }                                                                                          \
    return q + lanes_total(acc);                                                               \
}                                                                                              \
                                                                                               \
/* *a = sum gg, *c = sum gg xhat with gg = g w (w NULL: g), xhat = (x - mu) iv; where pw is not\
 * NULL, in the same pass, pw += g xhat and pb += g (the block's column sums, in row order) */ \
static void row_dots_##SUFFIX(const REAL *restrict gs, const REAL *restrict xs,                \
                              const REAL *restrict w, REAL mu, REAL iv, ptrdiff_t D,           \
                              double *a, double *c, double *restrict pw, double *restrict pb)  \
{                                                                                              \
    double acc_a[LANES] = {0}, acc_c[LANES] = {0}, sa = 0.0, sc = 0.0;                         \
    ptrdiff_t i = 0;                                                                           \
    if (w && pw)                                                                               \
        ROW_DOTS_LOOP(REAL, gs[i + j] * w[i + j], 1)                                           \
    else if (w)                                                                                \
        ROW_DOTS_LOOP(REAL, gs[i + j] * w[i + j], 0)                                           \
    else if (pw)                                                                               \
        ROW_DOTS_LOOP(REAL, gs[i + j], 1)                                                      \
    else                                                                                       \
        ROW_DOTS_LOOP(REAL, gs[i + j], 0)                                                      \
    for (; i < D; i++) {                                                                       \
        const REAL h = (xs[i] - mu) * iv, gg = w ? gs[i] * w[i] : gs[i];                       \
        sa += (double)gg;                                                                      \
        sc += (double)gg * (double)h;                                                          \
        if (pw) {                                                                              \
            pw[i] = MADD((double)gs[i], (double)h, pw[i]);                                     \
            pb[i] += (double)gs[i];                                                            \
        }                                                                                      \
    }                                                                                          \
    *a = sa + lanes_total(acc_a);                                                              \
    *c = sc + lanes_total(acc_c);                                                              \
}                                                                                              \
/* y = (x - mu) iv w + b, one loop per case: no branch inside the vectorised loop */           \
static void row_out_##SUFFIX(const REAL *restrict xs, const REAL *restrict w,                  \
                             const REAL *restrict b, REAL mu, REAL iv, ptrdiff_t D,            \
                             REAL *restrict ys)                                                \
{                                                                                              \
    if (w && b) {                                                                              \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++)                                                      \
            ys[i] = (xs[i] - mu) * iv * w[i] + b[i];                                           \
    } else if (w) {                                                                            \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++)                                                      \
            ys[i] = (xs[i] - mu) * iv * w[i];                                                  \
    } else if (b) {                                                                            \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++)                                                      \
            ys[i] = (xs[i] - mu) * iv + b[i];                                                  \
    } else {                                                                                   \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++)                                                      \
            ys[i] = (xs[i] - mu) * iv;                                                         \
    }                                                                                          \
}                                                                                              \
                                                                                               \
/* gx = iv ((gg - ma) - xhat mc), gg = g w (w NULL: g) */                                     \
static void row_gx_##SUFFIX(const REAL *restrict gs, const REAL *restrict xs,                  \
                            const REAL *restrict w, REAL mu, REAL iv, REAL ma, REAL mc,        \
                            ptrdiff_t D, REAL *restrict out)                                   \
{                                                                                              \
    if (w) {                                                                                   \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++) {                                                    \
            const REAL h = (xs[i] - mu) * iv;                                                  \
            out[i] = iv * (gs[i] * w[i] - ma - h * mc);                                        \
        }                                                                                      \
    } else {                                                                                   \
        _Pragma("omp simd")                                                                    \
        for (ptrdiff_t i = 0; i < D; i++) {                                                    \
            const REAL h = (xs[i] - mu) * iv;                                                  \
            out[i] = iv * (gs[i] - ma - h * mc);                                               \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
void ln_forward_##SUFFIX(ptrdiff_t D, ptrdiff_t r0, ptrdiff_t r1, const REAL *x,               \
                         const REAL *w, const REAL *b, REAL eps, REAL *y, REAL *mean,          \
                         REAL *rstd)                                                           \
{                                                                                              \
    for (ptrdiff_t r = r0; r < r1; r += GROUP) {                                               \
        const ptrdiff_t n = r1 - r < GROUP ? r1 - r : GROUP;                                   \
        for (ptrdiff_t j = r; j < r + n; j++)                                                  \
            mean[j] = (REAL)(row_sum_##SUFFIX(x + j * D, D) / (double)D);                      \
        for (ptrdiff_t j = r; j < r + n; j++) {                                                \
            const REAL v = (REAL)(row_sq_dev_##SUFFIX(x + j * D, mean[j], D) / (double)D);     \
            rstd[j] = (REAL)1 / SQRT(v + eps);                                                 \
        }                                                                                      \
        for (ptrdiff_t j = r; j < r + n; j++)                                                  \
            row_out_##SUFFIX(x + j * D, w, b, mean[j], rstd[j], D, y + j * D);                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
void ln_backward_##SUFFIX(ptrdiff_t D, ptrdiff_t R, ptrdiff_t nblocks, ptrdiff_t k0,           \
                          ptrdiff_t k1, const REAL *g, const REAL *x, const REAL *mean,        \
                          const REAL *rstd, const REAL *w, REAL *gx, double *part)             \
{                                                                                              \
    for (ptrdiff_t k = k0; k < k1; k++) {                                                      \
        double *restrict pw = part ? part + k * D : NULL;                                      \
        double *restrict pb = part ? part + (nblocks + k) * D : NULL;                          \
        if (part)                                                                              \
            for (ptrdiff_t i = 0; i < D; i++)                                                  \
                pw[i] = pb[i] = 0.0;                                                           \
        const ptrdiff_t end = R * (k + 1) / nblocks;                                           \
        for (ptrdiff_t r = R * k / nblocks; r < end; r += GROUP) {                             \
            const ptrdiff_t n = end - r < GROUP ? end - r : GROUP;                             \
            if (part && !gx)                                                                   \
                for (ptrdiff_t j = r; j < r + n; j++) {                                        \
                    const REAL *restrict gs = g + j * D, *restrict xs = x + j * D;             \
                    const REAL mu = mean[j], iv = rstd[j];                                     \
                    _Pragma("omp simd")                                                        \
                    for (ptrdiff_t i = 0; i < D; i++) {                                        \
                        const REAL h = (xs[i] - mu) * iv;                                      \
                        pw[i] = MADD((double)gs[i], (double)h, pw[i]);                         \
                        pb[i] += (double)gs[i];                                                \
                    }                                                                          \
                }                                                                              \
            if (!gx)                                                                           \
                continue;                                                                      \
            REAL ma[GROUP], mc[GROUP];                                                         \
            for (ptrdiff_t j = 0; j < n; j++) {                                                \
                double a, c;                                                                   \
                row_dots_##SUFFIX(g + (r + j) * D, x + (r + j) * D, w, mean[r + j],            \
                                  rstd[r + j], D, &a, &c, pw, pb);                             \
                ma[j] = (REAL)(a / (double)D);                                                 \
                mc[j] = (REAL)(c / (double)D);                                                 \
            }                                                                                  \
            for (ptrdiff_t j = 0; j < n; j++)                                                  \
                row_gx_##SUFFIX(g + (r + j) * D, x + (r + j) * D, w, mean[r + j], rstd[r + j], \
                                ma[j], mc[j], D, gx + (r + j) * D);                            \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
void ln_sum_blocks_##SUFFIX(ptrdiff_t D, ptrdiff_t nblocks, const double *part, REAL *gw,      \
                            REAL *gb)                                                          \
{                                                                                              \
    for (ptrdiff_t i = 0; i < D; i++) {                                                        \
        double sw = 0.0, sb = 0.0;                                                             \
        for (ptrdiff_t k = 0; k < nblocks; k++) {                                              \
            sw += part[k * D + i];                                                             \
            sb += part[(nblocks + k) * D + i];                                                 \
        }                                                                                      \
        gw[i] = (REAL)sw;                                                                      \
        gb[i] = (REAL)sb;                                                                      \
    }                                                                                          \
}

DEFINE_LAYER_NORM(float, f32, sqrtf)
DEFINE_LAYER_NORM(double, f64, sqrt)
