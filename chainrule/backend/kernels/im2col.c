/* Batch-last im2col and col2im for 2-D windows (conv_math.py passes a 1-D window as W = KW = 1).
 *
 * im2col:  cols[c, u, v, i, j, n] = x[n, c, i*sh - ph + u*dh, j*sw - pw + v*dw]  (0 outside x)
 * col2im:  out[c, y, z, n] = sum of cols[c, u, v, i, j, n] over the (u, v, i, j) that read
 *          x[n, c, y, z] above (the transpose of im2col; the padding is cropped)
 *
 * x is read through its element strides (xn, xc, xy, xz), so any layout works; a batch-last
 * x (xn = 1, xz = N) makes each window row one contiguous copy.  im2col's cols is contiguous
 * (C, KH, KW, OH, OW, N).  col2im reads cols contiguous (OH/R, C, KH, KW, R, OW, N): blocks of R
 * output rows, each a (C*KH*KW, R*OW*N) matrix of its own (a convolution's input gradient is
 * made so), with C = ctot channels in all; R = OH is the plain layout.  out is contiguous
 * (C, H, W, N).  Only channels c0 <= c < c1 are done: the channels are independent, so threads can take a range each.  The padding is
 * never materialised: positions outside x are written as zeros (im2col) or skipped (col2im).
 */
#include <stddef.h>
#include <string.h>

/* the output columns j whose input column j*s - p + v*d lies in [0, w): [*lo, *hi) */
static void valid_range(ptrdiff_t ow, ptrdiff_t s, ptrdiff_t off, ptrdiff_t w, ptrdiff_t *lo, ptrdiff_t *hi)
{
    ptrdiff_t a = 0, b = ow;
    while (a < b && a * s + off < 0)
        a++;
    while (b > a && (b - 1) * s + off >= w)
        b--;
    *lo = a;
    *hi = b;
}

#define DEFINE_IM2COL(REAL, SUFFIX)                                                            \
void im2col_##SUFFIX(const REAL *x, REAL *cols, ptrdiff_t c0, ptrdiff_t c1, ptrdiff_t n,      \
                     ptrdiff_t h, ptrdiff_t w, ptrdiff_t xn, ptrdiff_t xc, ptrdiff_t xy,      \
                     ptrdiff_t xz, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t oh, ptrdiff_t ow,    \
                     ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t ph,    \
                     ptrdiff_t pw)                                                             \
{                                                                                              \
    const ptrdiff_t row = ow * n; /* one output row of cols: OW windows of N */               \
    const int runs = xn == 1 && xz == n && sw == 1; /* a window row is contiguous in x */     \
    for (ptrdiff_t c = c0; c < c1; c++)                                                        \
        for (ptrdiff_t u = 0; u < kh; u++)                                                     \
            for (ptrdiff_t v = 0; v < kw; v++) {                                               \
                REAL *dst = cols + ((c * kh + u) * kw + v) * oh * row;                         \
                ptrdiff_t lo, hi, off = v * dw - pw;                                           \
                valid_range(ow, sw, off, w, &lo, &hi);                                         \
                for (ptrdiff_t i = 0; i < oh; i++, dst += row) {                               \
                    ptrdiff_t y = i * sh - ph + u * dh;                                        \
                    if (y < 0 || y >= h || lo >= hi) {                                         \
                        memset(dst, 0, (size_t)row * sizeof(REAL));                            \
                        continue;                                                              \
                    }                                                                          \
                    const REAL *src = x + c * xc + y * xy;                                     \
                    memset(dst, 0, (size_t)(lo * n) * sizeof(REAL));                           \
                    memset(dst + hi * n, 0, (size_t)((ow - hi) * n) * sizeof(REAL));           \
                    if (runs) {                                                                \
                        memcpy(dst + lo * n, src + (lo + off) * xz,                            \
                               (size_t)((hi - lo) * n) * sizeof(REAL));                        \
                        continue;                                                              \
                    }                                                                          \
                    for (ptrdiff_t j = lo; j < hi; j++) {                                      \
                        const REAL *s = src + (j * sw + off) * xz;                             \
                        REAL *o = dst + j * n;                                                 \
                        if (xn == 1)                                                           \
                            memcpy(o, s, (size_t)n * sizeof(REAL));                            \
                        else                                                                   \
                            for (ptrdiff_t k = 0; k < n; k++)                                  \
                                o[k] = s[k * xn];                                              \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
}                                                                                              \
                                                                                               \
void col2im_##SUFFIX(const REAL *cols, REAL *out, ptrdiff_t c0, ptrdiff_t c1, ptrdiff_t n,    \
                     ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t oh,      \
                     ptrdiff_t ow, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw,    \
                     ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t r, ptrdiff_t ctot)                  \
{                                                                                              \
    const ptrdiff_t row = ow * n;                                                              \
    const ptrdiff_t next = ctot * kh * kw * r * row - (r - 1) * row;                           \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                      \
        REAL *plane = out + c * h * w * n;                                                     \
        memset(plane, 0, (size_t)(h * w * n) * sizeof(REAL));                                  \
        for (ptrdiff_t u = 0; u < kh; u++)                                                     \
            for (ptrdiff_t v = 0; v < kw; v++) {                                               \
                const REAL *first = cols + ((c * kh + u) * kw + v) * r * row;                  \
                ptrdiff_t lo, hi, off = v * dw - pw;                                           \
                valid_range(ow, sw, off, w, &lo, &hi);                                         \
                const REAL *src = first;                                                       \
                for (ptrdiff_t i = 0, ii = 0; i < oh; i++, src += (++ii < r) ? row : next) {   \
                    if (ii == r)                                                               \
                        ii = 0;                                                                \
                    ptrdiff_t y = i * sh - ph + u * dh;                                        \
                    if (y < 0 || y >= h || lo >= hi)                                           \
                        continue;                                                              \
                    REAL *dst = plane + y * w * n;                                             \
                    if (sw == 1) { /* the window row lands on one contiguous run */            \
                        REAL *restrict d = dst + (lo + off) * n;                               \
                        const REAL *restrict s = src + lo * n;                                 \
                        for (ptrdiff_t k = 0; k < (hi - lo) * n; k++)                          \
                            d[k] += s[k];                                                      \
                        continue;                                                              \
                    }                                                                          \
                    for (ptrdiff_t j = lo; j < hi; j++) {                                      \
                        REAL *restrict d = dst + (j * sw + off) * n;                           \
                        const REAL *restrict s = src + j * n;                                  \
                        for (ptrdiff_t k = 0; k < n; k++)                                      \
                            d[k] += s[k];                                                      \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
    }                                                                                          \
}

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)
