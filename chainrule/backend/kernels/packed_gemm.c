/* C = A B with B packed once and used for many products: a recurrent layer's steps.
 *
 * Used by chainrule/backend/packed_gemm.py.  An LSTM multiplies each step's state by the same
 * W_hh, 64 times a sequence on w4.  A BLAS call packs its B operand into cache-sized panels on
 * every call; for w4's (32 x 256) @ (256 x 1024) that copy of 1 MiB is a large part of a
 * product of only 16.8 MFLOP.  Here B is packed once per sequence (gemm_panels.h says how) and
 * each product only reads the panels; each thread takes a contiguous share of the panels
 * (OpenMP, static).  Every element of C is one thread's fused multiply-add chain over k in
 * order, so the result does not depend on the number of threads (a BLAS's sums may).
 *
 * float32 only, and only where the compiler targets AVX2 with FMA (-march=native on such a
 * CPU): packed_gemm_available() says 0 elsewhere and the caller keeps the BLAS product.
 */
#include <stddef.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include "gemm_panels.h"

int packed_gemm_available(void) { return 1; }

/* Pack B (K, N), element (k, n) at B[k * sk + n * sn], into P: ceil(N / 16) panels of K x 16. */
void pack_panels_f32(int threads, ptrdiff_t K, ptrdiff_t N, const float *B, ptrdiff_t sk, ptrdiff_t sn,
                     float *P)
{
    ptrdiff_t panels = (N + NR - 1) / NR;
#pragma omp parallel for num_threads(threads) if(threads > 1) schedule(static)
    for (ptrdiff_t p = 0; p < panels; p++)
        pack_panel(K, N, B, sk, sn, p, P + p * K * NR);
}

/* C (M, N), rows ldc apart, = A (M, K), rows lda apart, @ the packed B (pack_panels_f32). */
void gemm_panels_f32(int threads, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda,
                     const float *P, float *C, ptrdiff_t ldc)
{
    ptrdiff_t panels = (N + NR - 1) / NR;
#pragma omp parallel for num_threads(threads) if(threads > 1) schedule(static)
    for (ptrdiff_t p = 0; p < panels; p++) {
        ptrdiff_t cols = N - p * NR < NR ? N - p * NR : NR;
        panel_product(M, K, A, lda, P + p * K * NR, C + p * NR, ldc, cols);
    }
}

#else /* no AVX2 with FMA: the caller keeps the BLAS product */

int packed_gemm_available(void) { return 0; }

#endif
