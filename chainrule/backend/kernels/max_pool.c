/* Max pooling over 2 x 2 windows at stride 2 (no padding, no dilation), forward and backward,
 * the pooling of most convolutional networks (chainrule/backend/window_math.py; other windows
 * run the NumPy twin in chainrule/ops/window.py).  x is contiguous (N, C, H, W); y, argk and g
 * are contiguous (N, C, OH, OW) with OH = H / 2, OW = W / 2 (rounded down); gx is contiguous
 * (N, C, H, W).  Only planes p0 <= p < p1 (p = n*C + c) are done: the planes are independent,
 * so threads can take a range each.
 *
 * forward:   y[p, i, j] = max of x[p, 2i + u, 2j + v] over u, v in {0, 1}, walked in the twin's
 *            order (u, v) = (0, 0), (0, 1), (1, 0), (1, 1);  argk[p, i, j] = k = 2u + v of the
 *            first maximum (argk NULL: the maxima alone).  The twin's operations: k wins where
 *            x > best (strictly: a tie keeps the earlier k; a NaN never wins), and best =
 *            maximum(best, x) as NumPy's (NaN wins, a tie gives x): the twin's bits.
 * backward:  gx = 0, then gx[p, 2i + u, 2j + v] = g[p, i, j] at each window's argmax (2u + v =
 *            argk[p, i, j]), as PyTorch's: one store per output after a zeroing pass.  The twin
 *            multiplies instead (g · [argk == k] at every position): the same values for finite
 *            g, except that its product gives -0 where g < 0 and NaN where g is inf or NaN at
 *            the positions that are not the argmax, where this gives +0.  Four products with
 *            interleaved stores took 1.7-2.0 ms per million outputs here, the stores 0.4.
 * The forward's loop is branch-free selects over j, which the compiler vectorises (a branch on
 * random data would mispredict half the time: 3.9 against 0.27 ms per million outputs).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* NumPy's maximum(b, v): NaN wins, a tie gives v.  Written with v's test first: GCC (with
 * -fno-trapping-math) vectorises this form and not the one testing b first (3.9 -> 0.27 ms for
 * a million elements). */
#define MAXIMUM(b, v) (((v) >= (b) || (v) != (v)) ? (v) : (b))

/* Output j of a row pair (r0, r1): the window's maximum, its offset in *k.  Inlined into
 * loops over j that the compiler vectorises. */
#define DEFINE_WINDOW(REAL, SUFFIX)                                                              \
static inline REAL window_##SUFFIX(const REAL *restrict r0, const REAL *restrict r1,            \
                                   ptrdiff_t j, signed char *k)                                 \
{                                                                                                \
    REAL b = r0[2 * j], v;                                                                       \
    signed char a = 0;                                                                           \
    v = r0[2 * j + 1];                                                                           \
    a = v > b ? 1 : a;                                                                           \
    b = MAXIMUM(b, v);                                                                           \
    v = r1[2 * j];                                                                               \
    a = v > b ? 2 : a;                                                                           \
    b = MAXIMUM(b, v);                                                                           \
    v = r1[2 * j + 1];                                                                           \
    *k = v > b ? 3 : a;                                                                          \
    return MAXIMUM(b, v);                                                                        \
}

/* Eight outputs of one row (a constant count: a loop the compiler vectorises whole), through
 * a local buffer; for rows of 8 to 15 outputs, where the row loop below would run its scalar
 * remainder, whose comparisons branch and mispredict on random data (2.1 against 0.37 ms per
 * 131k outputs of 8-column rows). */
#define DEFINE_CHUNK8(REAL, SUFFIX)                                                              \
static inline void chunk8_##SUFFIX(const REAL *restrict r0, const REAL *restrict r1,            \
                                   REAL *restrict y, signed char *restrict arg)                 \
{                                                                                                \
    REAL best[8];                                                                                \
    signed char a[8];                                                                            \
    for (int j = 0; j < 8; j++)                                                                  \
        best[j] = window_##SUFFIX(r0, r1, j, &a[j]);                                             \
    for (int j = 0; j < 8; j++)                                                                  \
        y[j] = best[j];                                                                          \
    if (arg)                                                                                     \
        for (int j = 0; j < 8; j++)                                                              \
            arg[j] = a[j];                                                                       \
}

/* Planes whose rows have fewer than 8 outputs (LeNet's 10 x 10 -> 5 x 5): eight outputs at a
 * time in the plane's row-major order, the last eight ending at the plane's end, their windows
 * first copied into two rows of 16 through a table of the windows' offsets in a plane (copies
 * that neither branch nor divide), then chunk8's selects.  A plane of fewer than 8 outputs, or
 * no memory for the table: the windows one by one. */
#define DEFINE_SMALL_ROWS(REAL, SUFFIX)                                                          \
static void small_rows_##SUFFIX(const REAL *restrict x, REAL *restrict y, signed char *restrict argk, \
                                ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t h, ptrdiff_t w)           \
{                                                                                                \
    const ptrdiff_t oh = h / 2, ow = w / 2, n = oh * ow;                                         \
    ptrdiff_t *off = n >= 8 ? malloc((size_t)n * sizeof *off) : NULL;                            \
    for (ptrdiff_t q = 0; off && q < n; q++)                                                     \
        off[q] = 2 * (q / ow) * w + 2 * (q % ow);                                                \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        const REAL *xp = x + p * h * w;                                                          \
        REAL *yp = y + p * n;                                                                    \
        signed char *ap = argk ? argk + p * n : NULL, k;                                         \
        if (!off) {                                                                              \
            for (ptrdiff_t q = 0; q < n; q++) {                                                  \
                const REAL *r0 = xp + 2 * (q / ow) * w;                                          \
                yp[q] = window_##SUFFIX(r0, r0 + w, q % ow, &k);                                 \
                if (ap)                                                                          \
                    ap[q] = k;                                                                   \
            }                                                                                    \
            continue;                                                                            \
        }                                                                                        \
        for (ptrdiff_t q0 = 0; q0 < n; q0 += 8) {                                                \
            const ptrdiff_t q = q0 + 8 <= n ? q0 : n - 8;                                        \
            REAL b0[16], b1[16];                                                                 \
            for (int t = 0; t < 8; t++) {                                                        \
                const REAL *r0 = xp + off[q + t];                                                \
                b0[2 * t] = r0[0];                                                               \
                b0[2 * t + 1] = r0[1];                                                           \
                b1[2 * t] = r0[w];                                                               \
                b1[2 * t + 1] = r0[w + 1];                                                       \
            }                                                                                    \
            chunk8_##SUFFIX(b0, b1, yp + q, ap ? ap + q : NULL);                                 \
        }                                                                                        \
    }                                                                                            \
    free(off);                                                                                   \
}

/* A row of ow >= 16 outputs: one loop over j (vectorised; its remainder is short next to the
 * row).  8 <= ow < 16: chunks of eight, the last one ending at ow (it may overlap the one
 * before: the same values written twice).  ow < 8: small_rows. */
#define DEFINE_MAX_POOL(REAL, SUFFIX)                                                            \
DEFINE_WINDOW(REAL, SUFFIX)                                                                      \
DEFINE_CHUNK8(REAL, SUFFIX)                                                                      \
DEFINE_SMALL_ROWS(REAL, SUFFIX)                                                                  \
void max_pool2x2_##SUFFIX(const REAL *restrict x, REAL *restrict y, signed char *restrict argk, \
                          ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t h, ptrdiff_t w)                 \
{                                                                                                \
    const ptrdiff_t oh = h / 2, ow = w / 2;                                                      \
    if (ow < 8) {                                                                                \
        small_rows_##SUFFIX(x, y, argk, p0, p1, h, w);                                           \
        return;                                                                                  \
    }                                                                                            \
    for (ptrdiff_t p = p0; p < p1; p++)                                                          \
        for (ptrdiff_t i = 0; i < oh; i++) {                                                     \
            const REAL *r0 = x + (p * h + 2 * i) * w, *r1 = r0 + w;                              \
            REAL *yr = y + (p * oh + i) * ow;                                                    \
            signed char *ar = argk ? argk + (p * oh + i) * ow : NULL;                            \
            if (ow < 16) {                                                                       \
                for (ptrdiff_t j0 = 0; j0 < ow; j0 += 8) {                                       \
                    ptrdiff_t j = j0 + 8 <= ow ? j0 : ow - 8;                                    \
                    chunk8_##SUFFIX(r0 + 2 * j, r1 + 2 * j, yr + j, ar ? ar + j : NULL);         \
                }                                                                                \
            } else if (ar) {                                                                     \
                for (ptrdiff_t j = 0; j < ow; j++)                                               \
                    yr[j] = window_##SUFFIX(r0, r1, j, &ar[j]);                                  \
            } else {                                                                             \
                for (ptrdiff_t j = 0; j < ow; j++) {                                             \
                    REAL best = MAXIMUM(r0[2 * j], r0[2 * j + 1]);                               \
                    best = MAXIMUM(best, r1[2 * j]);                                             \
                    yr[j] = MAXIMUM(best, r1[2 * j + 1]);                                        \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
}                                                                                                \
/* (the loop of any window's backward below, with the window's offset decoded by shifts and  \
 * stored, not added, into the zeroed plane: 0.49 against 0.85 ms per million inputs) */       \
void max_pool2x2_backward_##SUFFIX(const REAL *restrict g, const signed char *restrict argk,    \
                                   REAL *restrict gx, ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t h,   \
                                   ptrdiff_t w)                                                  \
{                                                                                                \
    const ptrdiff_t oh = h / 2, ow = w / 2;                                                      \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        REAL *gxp = gx + p * h * w;                                                              \
        memset(gxp, 0, (size_t)(h * w) * sizeof(REAL));                                          \
        for (ptrdiff_t i = 0; i < oh; i++) {                                                     \
            const REAL *gr = g + (p * oh + i) * ow;                                              \
            const signed char *ar = argk + (p * oh + i) * ow;                                    \
            REAL *d0 = gxp + 2 * i * w; /* the window's rows: d0 and d0 + w */                   \
            for (ptrdiff_t j = 0; j < ow; j++) {                                                 \
                int a = ar[j];                                                                   \
                d0[(a >> 1) * w + 2 * j + (a & 1)] = gr[j];                                      \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
}


/* ---- any window: K = KH x KW offsets (K <= 127), stride, dilation, padding -------------------
 *
 * forward:   x is read through its element strides (xn, xc, xy, xz), any layout; y and argk
 *            contiguous (N, C, OH, OW).  Each output row starts at best = -inf, argk = 0, and
 *            takes the offsets k = u*KW + v in order over the columns that read inside x, with
 *            the 2 x 2 loop's selects (k wins where x > best; best = NumPy's maximum(best, x)).
 *            That gives the twin's bits: the twin starts at offset 0's value, which the first
 *            select reaches from -inf (a NaN too: it is not > -inf, and maximum keeps it), and
 *            a padding position is -inf, which moves neither best nor k, so it is skipped.
 * backward:  gx (N, C, H, W) contiguous = 0, then each g (contiguous like y) added at its
 *            window's argmax, outputs in row-major order (PyTorch's order); an argmax in the
 *            padding is dropped.  Where an input is the argmax of three or more windows the
 *            twin, which adds offset by offset, may round the sum differently.
 */
static void valid_range(ptrdiff_t ow, ptrdiff_t s, ptrdiff_t off, ptrdiff_t w, ptrdiff_t *lo, ptrdiff_t *hi)
{   /* the output columns j whose input column j*s + off lies in [0, w): [*lo, *hi) */
    ptrdiff_t a = 0, b = ow;
    while (a < b && a * s + off < 0)
        a++;
    while (b > a && (b - 1) * s + off >= w)
        b--;
    *lo = a;
    *hi = b;
}

#define DEFINE_MAX_POOL_ANY(REAL, SUFFIX)                                                        \
static void offset_row_##SUFFIX(const REAL *restrict src, ptrdiff_t step, REAL *restrict best,  \
                                int *restrict arg, ptrdiff_t n, int k)                           \
{   /* (arg as int: with 8-bit lanes beside the 32-bit compare GCC does not vectorise it) */     \
    for (ptrdiff_t j = 0; j < n; j++) {                                                          \
        REAL v = src[j * step], b = best[j];                                                     \
        arg[j] = v > b ? k : arg[j];                                                             \
        best[j] = MAXIMUM(b, v);                                                                 \
    }                                                                                            \
}                                                                                                \
int max_pool2d_##SUFFIX(const REAL *x, REAL *restrict y, signed char *restrict argk,            \
                        ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t c, ptrdiff_t h, ptrdiff_t w,      \
                        ptrdiff_t xn, ptrdiff_t xc, ptrdiff_t xy, ptrdiff_t xz, ptrdiff_t kh,   \
                        ptrdiff_t kw, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t sh, ptrdiff_t sw,   \
                        ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t ph, ptrdiff_t pw)                 \
{                                                                                                \
    const ptrdiff_t step = sw * xz;                                                              \
    int *arg = malloc((size_t)ow * sizeof(int));                                                 \
    if (!arg)                                                                                    \
        return -1;                                                                               \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        const REAL *xp = x + (p / c) * xn + (p % c) * xc;                                        \
        for (ptrdiff_t i = 0; i < oh; i++) {                                                     \
            REAL *best = y + (p * oh + i) * ow;                                                  \
            for (ptrdiff_t j = 0; j < ow; j++) {                                                 \
                best[j] = (REAL)-INFINITY;                                                       \
                arg[j] = 0;                                                                      \
            }                                                                                    \
            for (ptrdiff_t u = 0; u < kh; u++) {                                                 \
                ptrdiff_t yy = i * sh - ph + u * dh;                                             \
                if (yy < 0 || yy >= h)                                                           \
                    continue;                                                                    \
                for (ptrdiff_t v = 0; v < kw; v++) {                                             \
                    ptrdiff_t lo, hi, off = v * dw - pw;                                         \
                    valid_range(ow, sw, off, w, &lo, &hi);                                       \
                    const REAL *src = xp + yy * xy + (lo * sw + off) * xz;                       \
                    int k = (int)(u * kw + v);                                                   \
                    if (step == 1)                                                               \
                        offset_row_##SUFFIX(src, 1, best + lo, arg + lo, hi - lo, k);            \
                    else if (step == 2)                                                          \
                        offset_row_##SUFFIX(src, 2, best + lo, arg + lo, hi - lo, k);            \
                    else                                                                         \
                        offset_row_##SUFFIX(src, step, best + lo, arg + lo, hi - lo, k);         \
                }                                                                                \
            }                                                                                    \
            if (argk) {                                                                          \
                signed char *ar = argk + (p * oh + i) * ow;                                      \
                for (ptrdiff_t j = 0; j < ow; j++)                                               \
                    ar[j] = (signed char)arg[j];                                                 \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    free(arg);                                                                                   \
    return 0;                                                                                    \
}                                                                                                \
void max_pool2d_backward_##SUFFIX(const REAL *restrict g, const signed char *restrict argk,     \
                                  REAL *restrict gx, ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t h,    \
                                  ptrdiff_t w, ptrdiff_t kw, ptrdiff_t oh, ptrdiff_t ow,         \
                                  ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw,        \
                                  ptrdiff_t ph, ptrdiff_t pw)                                    \
{                                                                                                \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        REAL *gxp = gx + p * h * w;                                                              \
        memset(gxp, 0, (size_t)(h * w) * sizeof(REAL));                                          \
        for (ptrdiff_t i = 0; i < oh; i++) {                                                     \
            const REAL *gr = g + (p * oh + i) * ow;                                              \
            const signed char *ar = argk + (p * oh + i) * ow;                                    \
            for (ptrdiff_t j = 0; j < ow; j++) {                                                 \
                ptrdiff_t u = ar[j] / kw, v = ar[j] % kw;                                        \
                ptrdiff_t yy = i * sh - ph + u * dh, zz = j * sw - pw + v * dw;                  \
                if (yy >= 0 && yy < h && zz >= 0 && zz < w)                                      \
                    gxp[yy * w + zz] += gr[j];                                                   \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
}

DEFINE_MAX_POOL(float, f32)
DEFINE_MAX_POOL(double, f64)
DEFINE_MAX_POOL_ANY(float, f32)
DEFINE_MAX_POOL_ANY(double, f64)
