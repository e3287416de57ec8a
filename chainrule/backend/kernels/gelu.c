/* erf, erfc and GELU, elementwise, in one pass each.
 *
 * NumPy has no erf: chainrule's NumPy twin (backend/special.py, Cody's rational
 * approximations) makes about twenty passes over memory with temporaries.  Here each
 * element is read once and written once, and the loops vectorise with glibc's vector
 * erf/erff/exp/expf/tanh/tanhf (libmvec, declared below; compiled with -fopenmp-simd).
 *
 *   erf_*(n, x, y)                 y = erf(x)
 *   erfc_*(n, x, y)                y = erfc(x)
 *   gelu_*(n, x, y)                y = x Φ(x),  Φ(x) = (1 + erf(x / √2)) / 2
 *   gelu_backward_*(n, x, g, dx)   dx = g (Φ(x) + x φ(x)),  φ(x) = e^(-x²/2) / √(2π)
 *   gelu_tanh_*(n, x, y)           y = x/2 (1 + tanh u),  u = √(2/π) (x + 0.044715 x³)
 *   gelu_tanh_backward_*(n, x, g, dx)
 *                                  dx = g ((1 + t)/2 + x/2 (1 - t²) √(2/π) (1 + 3·0.044715 x²)), t = tanh u
 *
 * All arrays contiguous, n elements.  IEEE semantics (no -ffast-math): NaN in, NaN out.
 * Each function exists for float (_f32) and double (_f64).
 */
#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
float erfcf(float);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
double erf(double);
#pragma omp declare simd notinbranch
double erfc(double);
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double tanh(double);
#endif

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_C 0.044715

#define DEFINE_GELU(REAL, SUFFIX, ERF, ERFC, EXP, TANH)                                       \
void erf_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y)                      \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++)                                                         \
        y[i] = ERF(x[i]);                                                                     \
}                                                                                             \
void erfc_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y)                     \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++)                                                         \
        y[i] = ERFC(x[i]);                                                                    \
}                                                                                             \
void gelu_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y)                     \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++)                                                         \
        y[i] = x[i] * ((REAL)0.5 + (REAL)0.5 * ERF(x[i] * (REAL)INV_SQRT2));                  \
}                                                                                             \
void gelu_backward_##SUFFIX(ptrdiff_t n, const REAL *restrict x, const REAL *restrict g,      \
                            REAL *restrict dx)                                                \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        REAL v = x[i];                                                                        \
        REAL cdf = (REAL)0.5 + (REAL)0.5 * ERF(v * (REAL)INV_SQRT2);                          \
        dx[i] = g[i] * (cdf + v * EXP((REAL)-0.5 * v * v) * (REAL)INV_SQRT_2PI);              \
    }                                                                                         \
}                                                                                             \
void gelu_tanh_##SUFFIX(ptrdiff_t n, const REAL *restrict x, REAL *restrict y)                \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        REAL v = x[i];                                                                        \
        REAL t = TANH((v + v * v * v * (REAL)GELU_C) * (REAL)SQRT_2_OVER_PI);                 \
        y[i] = v * (REAL)0.5 * (1 + t);                                                       \
    }                                                                                         \
}                                                                                             \
void gelu_tanh_backward_##SUFFIX(ptrdiff_t n, const REAL *restrict x, const REAL *restrict g, \
                                 REAL *restrict dx)                                           \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        REAL v = x[i], v2 = v * v;                                                            \
        REAL t = TANH((v + v2 * v * (REAL)GELU_C) * (REAL)SQRT_2_OVER_PI);                    \
        REAL du = (v2 * (REAL)(3 * GELU_C) + 1) * (REAL)SQRT_2_OVER_PI;                       \
        dx[i] = g[i] * ((t + 1) * (REAL)0.5 + v * (REAL)0.5 * (1 - t * t) * du);              \
    }                                                                                         \
}

DEFINE_GELU(float, f32, erff, erfcf, expf, tanhf)
DEFINE_GELU(double, f64, erf, erfc, exp, tanh)
