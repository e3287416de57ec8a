/* ReLU, leaky ReLU, ELU and dropout, forward and backward, one pass each
 * (chainrule/backend/mask_math.py; the NumPy twins are there).
 *
 * NumPy computes g · [y > 0] as a comparison into a bool temporary and a mixed-type multiply,
 * and where(x > 0, x, s x) as three passes, the last one branching on each element; here each
 * element is read once and written once.
 *
 *   relu_*(n, x, y)                          y = max(x, 0)          (NaN stays NaN)
 *   relu_backward_*(n, y, g, dx)             dx = g · [y > 0]
 *   leaky_relu_*(n, x, y, s)                 y = x if x > 0, else s x
 *   leaky_relu_backward_*(n, x, g, dx, s)    dx = g if x > 0, else s g
 *   elu_*(n, x, y, a)                        y = x if x > 0, else a (e^min(x, 0) - 1)
 *   elu_backward_*(n, x, y, g, dx, a)        dx = g if x > 0, else g (y + a)
 *   dropout_*(n, x, u, y, p, c)              y = x · (c if u >= p, else 0)
 *
 * Each is its twin's operations in its order, in the arrays' precision, compiled without
 * -ffast-math (no fused multiply-add; the selects keep NaN where NumPy's maximum/minimum do),
 * so the results are the twin's bits -- except elu_*'s expm1 (glibc's vector expm1, NumPy's
 * may differ in the last bit).  All arrays contiguous, n elements.
 * Each function exists for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float expm1f(float);
#pragma omp declare simd notinbranch
double expm1(double);
#endif

/* ELU's loop is bound by expm1: where the CPU has AVX-512, glibc's 16-lane expm1f/expm1 take
 * half the time of the 8-lane ones the file's flags (-mprefer-vector-width=256) would pick
 * (512k float32: 405 -> 210 us on the development machine; NumPy's own expm1 is as fast). */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE_VECTORS __attribute__((target("prefer-vector-width=512")))
#else
#define WIDE_VECTORS
#endif

#define DEFINE_MASKS(REAL, SUFFIX, EXPM1)                                                         \
void relu_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y)                         \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        REAL v = x[i];                                                                            \
        y[i] = (v > 0 || v != v) ? v : (REAL)0; /* NumPy's maximum(x, 0): NaN wins, -0 -> 0 */    \
    }                                                                                             \
}                                                                                                 \
void relu_backward_##SUFFIX(ptrdiff_t n, const REAL *restrict y, const REAL *restrict g,          \
                            REAL *restrict dx)                                                    \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++)                                                             \
        dx[i] = g[i] * (y[i] > 0 ? (REAL)1 : (REAL)0); /* a product: -0, NaN as NumPy's */       \
}                                                                                                 \
void leaky_relu_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y, REAL s)           \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        REAL v = x[i];                                                                            \
        y[i] = v > 0 ? v : v * s;                                                                 \
    }                                                                                             \
}                                                                                                 \
void leaky_relu_backward_##SUFFIX(ptrdiff_t n, const REAL *restrict x, const REAL *restrict g,    \
                                  REAL *restrict dx, REAL s)                                      \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++)                                                             \
        dx[i] = x[i] > 0 ? g[i] : g[i] * s;                                                       \
}                                                                                                 \
WIDE_VECTORS void elu_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y, REAL a)     \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        REAL v = x[i];                                                                            \
        REAL e = EXPM1((v < 0 || v != v) ? v : (REAL)0) * a; /* NumPy's minimum(x, 0) */          \
        y[i] = v > 0 ? v : e;                                                                     \
    }                                                                                             \
}                                                                                                 \
void elu_backward_##SUFFIX(ptrdiff_t n, const REAL *restrict x, const REAL *restrict y,           \
                           const REAL *restrict g, REAL *restrict dx, REAL a)                     \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        REAL t = g[i];                                                                            \
        dx[i] = x[i] > 0 ? t : t * (y[i] + a);                                                    \
    }                                                                                             \
}                                                                                                 \
void dropout_##SUFFIX(ptrdiff_t n, const REAL *restrict x, const REAL *restrict u,                \
                      REAL *restrict y, REAL p, REAL c)                                           \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++)                                                             \
        y[i] = x[i] * (u[i] >= p ? c : (REAL)0);                                                  \
}

DEFINE_MASKS(float, f32, expm1f)
DEFINE_MASKS(double, f64, expm1)
