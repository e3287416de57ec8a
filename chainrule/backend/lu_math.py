"""LU factorisation with partial pivoting on NumPy arrays (NumPy has no LU of its own).

The table's entries for ``chainrule/ops/lu_ops.py``:

* :meth:`LUMath.lu_factor` — A (*, m, n) = P L U, packed as LAPACK's ``getrf`` packs it.
* :meth:`LUMath.lu_factor_packed` — the same in one array, for the primitive.
* :meth:`LUMath.lu_permutation` — P (*, m, m) from the 1-based pivots.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LUMath:
    """LU entries of the back-end table (static methods, one of ``ArrayMath``'s bases)."""

    @staticmethod
    def lu_factor(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(LU, pivots) of A (*, m, n), k = min(m, n), by Gaussian elimination with partial pivoting.

        Algorithm (right-looking, vectorised over the batch): for each column j < k,
          1. p = j + argmax_{i >= j} |A[i, j]| (the first of equal magnitudes) and swap rows j, p
             of the whole working matrix; pivots[j] = p + 1 (LAPACK's 1-based convention);
          2. if the pivot A[j, j] is non-zero, divide the column below it by it (the multipliers
             l_ij, stored in place of the zeros they create); a zero pivot leaves them as they are
             (nothing to eliminate: the column below is zero too);
          3. subtract the rank-1 update l_{:j} u_{j:} from the trailing block A[j+1:, j+1:].
        On exit the strict lower part (m × k) holds L's multipliers (unit diagonal implied) and the
        upper part (k × n) holds U, so that P A_orig = L U with P the product of the row swaps.
        Returns LU (*, m, n) in A's dtype and pivots (*, k) int32."""
        lu = np.array(a, copy=True)
        m, n = lu.shape[-2], lu.shape[-1]
        k = min(m, n)
        batch = lu.shape[:-2]
        nb = int(np.prod(batch, dtype=np.int64))  # the matrices of the batch
        flat = lu.reshape((nb, m, n))
        piv = np.zeros((nb, k), dtype=np.int32)
        rows = np.arange(nb)
        for j in range(k):
            p = j + np.argmax(np.abs(flat[:, j:, j]), axis=1)
            piv[:, j] = p + 1
            top = flat[rows, j, :].copy()
            flat[rows, j, :] = flat[rows, p, :]
            flat[rows, p, :] = top
            pivot = flat[:, j, j]
            safe = np.where(pivot == 0, 1, pivot)
            flat[:, j + 1:, j] /= safe[:, None]
            flat[:, j + 1:, j + 1:] -= flat[:, j + 1:, j, None] * flat[:, j, None, j + 1:]
        return flat.reshape(lu.shape), piv.reshape(batch + (k,))

    @staticmethod
    def lu_factor_packed(a: np.ndarray) -> np.ndarray:
        """:meth:`lu_factor` packed in one array (*, m + 1, n): LU over one row holding the pivots
        (as A's dtype, in the first k entries; exact for any realistic size)."""
        lu, piv = LUMath.lu_factor(a)
        row = np.zeros(lu.shape[:-2] + (1, lu.shape[-1]), dtype=lu.dtype)
        row[..., 0, :piv.shape[-1]] = piv
        return np.concatenate([lu, row], axis=-2)

    @staticmethod
    def lu_permutation(pivots: Any, m: int, dtype: Any) -> np.ndarray:
        """P (*, m, m) in ``dtype`` with A = P L U, from the 1-based pivots (*, k): the swaps
        j <-> pivots[j] - 1, applied in order to the row order 0..m-1, give ``perm`` with
        (P^T A)[i] = A[perm[i]], so P[perm[i], i] = 1."""
        piv = np.asarray(pivots).astype(np.int64) - 1
        batch, k = piv.shape[:-1], piv.shape[-1]
        nb = int(np.prod(batch, dtype=np.int64))
        flat = piv.reshape((nb, k))
        perm = np.broadcast_to(np.arange(m), (nb, m)).copy()
        rows = np.arange(nb)
        for j in range(k):
            p = flat[:, j]
            if np.any((p < 0) | (p >= m)):
                raise RuntimeError(f"lu_unpack: the pivots must lie between 1 and {m} (LU's rows), "
                                   f"got {sorted(set((p + 1).tolist()))} at position {j}")
            top = perm[rows, j].copy()
            perm[rows, j] = perm[rows, p]
            perm[rows, p] = top
        out = np.zeros((nb, m, m), dtype=dtype)
        out[rows[:, None], perm, np.arange(m)[None, :]] = 1
        return out.reshape(batch + (m, m))
