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
#include <stddef.h>
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

/* A row of ow >= 16 outputs: one loop over j (vectorised; its remainder is short next to the
 * row).  8 <= ow < 16: chunks of eight, the last one ending at ow (it may overlap the one
 * before: the same values written twice).  (window_math.py sends rows of fewer than 8 outputs
 * to the twin, faster there.) */
#define DEFINE_MAX_POOL(REAL, SUFFIX)                                                            \
DEFINE_WINDOW(REAL, SUFFIX)                                                                      \
DEFINE_CHUNK8(REAL, SUFFIX)                                                                      \
void max_pool2x2_##SUFFIX(const REAL *restrict x, REAL *restrict y, signed char *restrict argk, \
                          ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t h, ptrdiff_t w)                 \
{                                                                                                \
    const ptrdiff_t oh = h / 2, ow = w / 2;                                                      \
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

DEFINE_MAX_POOL(float, f32)
DEFINE_MAX_POOL(double, f64)
