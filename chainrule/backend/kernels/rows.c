/* Row scatter-add: dst[rows[r], :] += src[r, :] for r = 0 .. R-1 (repeated rows accumulate).
 *
 * src (R, C) row-major with row stride lds (>= C: its rows may be a view's), dst (U, C) row-major
 * and contiguous, rows (R,) int64 in [0, U).  Used by
 * the LSTM layer (chainrule/nn/functional/_rnn_kernel.py) when its input rows repeat: the
 * gradient of the input weights is then S^T [X_u | 1] with S the gate adjoints summed per
 * distinct input row.  NumPy's np.add.at does the same about 40 times slower.
 */
#include <stddef.h>
#include <stdint.h>

#define DEFINE_SCATTER_ADD(REAL, SUFFIX)                                                     \
void scatter_add_rows_##SUFFIX(ptrdiff_t R, ptrdiff_t C, const REAL *restrict src,          \
                               ptrdiff_t lds, const int64_t *restrict rows,                 \
                               REAL *restrict dst)                                          \
{                                                                                            \
    for (ptrdiff_t r = 0; r < R; r++) {                                                      \
        REAL *d = dst + rows[r] * C;                                                         \
        const REAL *s = src + r * lds;                                                       \
        for (ptrdiff_t j = 0; j < C; j++)                                                    \
            d[j] += s[j];                                                                    \
    }                                                                                        \
}

DEFINE_SCATTER_ADD(float, f32)
DEFINE_SCATTER_ADD(double, f64)
