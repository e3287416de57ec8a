/* Shifted exponentials of each row, the work of softmax, log-softmax and cross-entropy:
 *
 *   m_i = max_j x_ij,   z_ij = x_ij - m_i,   e_ij = exp(z_ij),   s_i = sum_j e_ij
 *
 * so that softmax = e / s and log-softmax = z - log s, with no overflow (z <= 0).  Every row
 * is shifted by its maximum whatever it is, as PyTorch's softmax (and chainrule/ops/reduction.py):
 * a row holding +inf (inf - inf) or only -inf (-inf + inf) has NaN in z and s; a NaN in the row
 * makes m_i NaN, so the whole row is NaN.
 * x, z, e (M, C) row-major and contiguous, s (M,), C >= 1.
 * Used by chainrule/backend/softmax_rows.py; NumPy's
 * float32 exp is not vectorised on every build (4 ns per element on an AVX2 machine,
 * against about 1 ns for glibc's vector expf called here).
 */
#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 22))
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
#endif

/* Three passes: the row maxima and z; exp over the whole array at once (one long vector
 * loop: with rows as short as C = 65, a per-row exp loop spends much of its time in the
 * scalar remainder); the row sums. */
#define DEFINE_SHIFTED_EXP(REAL, SUFFIX, EXP)                                                 \
void shifted_exp_rows_##SUFFIX(ptrdiff_t M, ptrdiff_t C, const REAL *restrict x,            \
                               REAL *restrict z, REAL *restrict e, REAL *restrict s)        \
{                                                                                            \
    for (ptrdiff_t i = 0; i < M; i++) {                                                      \
        const REAL *xi = x + i * C;                                                          \
        REAL *zi = z + i * C;                                                                \
        REAL m = xi[0];                                                                      \
        int nan = 0;                                                                         \
        _Pragma("omp simd reduction(max:m) reduction(|:nan)")                               \
        for (ptrdiff_t j = 0; j < C; j++) {                                                  \
            m = xi[j] > m ? xi[j] : m;                                                       \
            nan |= xi[j] != xi[j];                                                           \
        }                                                                                    \
        if (nan)                                                                             \
            m = (REAL)NAN;                                                                   \
        for (ptrdiff_t j = 0; j < C; j++)                                                    \
            zi[j] = xi[j] - m;                                                               \
    }                                                                                        \
    ptrdiff_t n = M * C;                                                                     \
    for (ptrdiff_t k = 0; k < n; k++)                                                        \
        e[k] = EXP(z[k]);                                                                    \
    for (ptrdiff_t i = 0; i < M; i++) {                                                      \
        const REAL *ei = e + i * C;                                                          \
        REAL sum = 0;                                                                        \
        _Pragma("omp simd reduction(+:sum)")                                                 \
        for (ptrdiff_t j = 0; j < C; j++)                                                    \
            sum += ei[j];                                                                    \
        s[i] = sum;                                                                          \
    }                                                                                        \
}

DEFINE_SHIFTED_EXP(float, f32, expf)
DEFINE_SHIFTED_EXP(double, f64, exp)
