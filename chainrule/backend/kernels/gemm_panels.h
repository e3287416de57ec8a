/* The register-blocked product on packed panels, shared by packed_gemm.c (one product per
 * call) and lstm_cell.c (an LSTM's whole time loop per call).  Include it only where the
 * compiler targets AVX2 with FMA (__AVX2__ and __FMA__ defined).
 *
 * B (K, N) is packed into panels of NR = 16 columns: panel p holds B[k][16p + j] at
 * P[p][k][j], zero past column N.  panel_product() computes the (at most) 16 columns of C one
 * panel gives: a 6 x 16 register block over the rows of A, K in chunks of KC = 256 so that the
 * panel's chunk (16 KB) stays in the level-1 cache while the row blocks reuse it.  Every
 * element of C is one fused multiply-add chain over k = 0 .. K-1 in order, so the result does
 * not depend on how the panels are shared among threads.
 */
#ifndef CHAINRULE_GEMM_PANELS_H
#define CHAINRULE_GEMM_PANELS_H

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define NR 16  /* columns of a panel: two 8-float vectors */
/* rows of a register block: MR x 2 accumulators + 2 panel vectors + 1 broadcast in registers:
 * 15 of AVX2's 16, or, where AVX-512VL gives 32 vector registers, 8 rows (19): a batch of 32
 * rows is then four full blocks instead of five and one of two rows, the whole block as fast
 * per row (docs/performance.md#panel-rows).  Each element of C is the same chain either way. */
#if defined(__AVX512VL__)
#define MR 8
#else
#define MR 6
#endif
#define KC 256 /* depth of a chunk: 256 x 16 floats = 16 KB of panel */

/* Panel p of B (K, N), element (k, n) at B[k * sk + n * sn] (strides in elements, so a
 * transposed view packs as it is), into q: K x 16 floats, zero past column N. */
static void pack_panel(ptrdiff_t K, ptrdiff_t N, const float *B, ptrdiff_t sk, ptrdiff_t sn, ptrdiff_t p,
                       float *q)
{
    ptrdiff_t cols = N - p * NR < NR ? N - p * NR : NR;
    for (ptrdiff_t k = 0; k < K; k++) {
        const float *b = B + k * sk + p * NR * sn;
        for (ptrdiff_t j = 0; j < cols; j++)
            q[k * NR + j] = b[j * sn];
        for (ptrdiff_t j = cols; j < NR; j++)
            q[k * NR + j] = 0.0f;
    }
}

/* One register block: rows r < `rows` (at most MR) of C's 16 columns at C (the first `cols`
 * of them written), += A (rows, K) @ panel (K, 16) when `accumulate`, else =.  The rows' two
 * accumulators are named variables, not arrays, so that they stay in registers. */
#define BLOCK_LOAD(r)                                                                          \
    if (rows > r) {                                                                            \
        float t[NR] = {0};                                                                     \
        memcpy(t, C + r * ldc, (size_t)cols * sizeof(float));                                  \
        x##r = _mm256_loadu_ps(t);                                                             \
        y##r = _mm256_loadu_ps(t + 8);                                                         \
    }
#define BLOCK_STEP(r)                                                                          \
    if (rows > r) {                                                                            \
        __m256 a = _mm256_broadcast_ss(A + r * lda + k);                                       \
        x##r = _mm256_fmadd_ps(a, b0, x##r);                                                   \
        y##r = _mm256_fmadd_ps(a, b1, y##r);                                                   \
    }
#define BLOCK_STORE(r)                                                                         \
    if (rows > r) {                                                                            \
        if (cols == NR) {                                                                      \
            _mm256_storeu_ps(C + r * ldc, x##r);                                               \
            _mm256_storeu_ps(C + r * ldc + 8, y##r);                                           \
        } else {                                                                               \
            float t[NR];                                                                       \
            _mm256_storeu_ps(t, x##r);                                                         \
            _mm256_storeu_ps(t + 8, y##r);                                                     \
            memcpy(C + r * ldc, t, (size_t)cols * sizeof(float));                              \
        }                                                                                      \
    }
#define DEFINE_BLOCK(ROWS)                                                                     \
static void block_##ROWS(ptrdiff_t K, const float *A, ptrdiff_t lda, const float *panel,      \
                         float *C, ptrdiff_t ldc, ptrdiff_t cols, int accumulate)              \
{                                                                                              \
    const int rows = ROWS;                                                                     \
    __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0; \
    __m256 y0 = x0, y1 = x0, y2 = x0, y3 = x0, y4 = x0, y5 = x0, y6 = x0, y7 = x0;             \
    if (accumulate) {                                                                          \
        BLOCK_LOAD(0) BLOCK_LOAD(1) BLOCK_LOAD(2) BLOCK_LOAD(3) BLOCK_LOAD(4) BLOCK_LOAD(5)    \
        BLOCK_LOAD(6) BLOCK_LOAD(7)                                                            \
    }                                                                                          \
    for (ptrdiff_t k = 0; k < K; k++) {                                                        \
        __m256 b0 = _mm256_loadu_ps(panel + k * NR), b1 = _mm256_loadu_ps(panel + k * NR + 8); \
        BLOCK_STEP(0) BLOCK_STEP(1) BLOCK_STEP(2) BLOCK_STEP(3) BLOCK_STEP(4) BLOCK_STEP(5)    \
        BLOCK_STEP(6) BLOCK_STEP(7)                                                            \
    }                                                                                          \
    BLOCK_STORE(0) BLOCK_STORE(1) BLOCK_STORE(2) BLOCK_STORE(3) BLOCK_STORE(4) BLOCK_STORE(5)  \
    BLOCK_STORE(6) BLOCK_STORE(7)                                                              \
}
DEFINE_BLOCK(1)
DEFINE_BLOCK(2)
DEFINE_BLOCK(3)
DEFINE_BLOCK(4)
DEFINE_BLOCK(5)
DEFINE_BLOCK(6)
#if MR == 8
DEFINE_BLOCK(7)
DEFINE_BLOCK(8)
#endif

typedef void (*block_fn)(ptrdiff_t, const float *, ptrdiff_t, const float *, float *, ptrdiff_t, ptrdiff_t,
                         int);
#if MR == 8
static const block_fn BLOCKS[MR + 1] = {0, block_1, block_2, block_3, block_4, block_5, block_6, block_7, block_8};
#else
static const block_fn BLOCKS[MR + 1] = {0, block_1, block_2, block_3, block_4, block_5, block_6};
#endif

/* The first `cols` (at most 16) columns of C (M rows, ldc apart) = A (M, K), rows lda apart,
 * @ one packed panel (K x 16). */
static void panel_product(ptrdiff_t M, ptrdiff_t K, const float *A, ptrdiff_t lda, const float *panel, float *C,
                          ptrdiff_t ldc, ptrdiff_t cols)
{
    if (K == 0) { /* an empty sum: zeros */
        for (ptrdiff_t i = 0; i < M; i++)
            memset(C + i * ldc, 0, (size_t)cols * sizeof(float));
    }
    for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {
        ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;
        for (ptrdiff_t i = 0; i < M; i += MR) {
            int rows = (int)(M - i < MR ? M - i : MR);
            BLOCKS[rows](kc, A + i * lda + k0, lda, panel + k0 * NR, C + i * ldc, ldc, cols, k0 > 0);
        }
    }
}

#endif
