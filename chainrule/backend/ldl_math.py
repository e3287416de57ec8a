"""LDLᵀ factorisation of symmetric matrices with Bunch–Kaufman pivoting, and its solve (NumPy has
neither): the table's ``ldl_factor`` and ``ldl_solve`` for ``chainrule/ops/ldl_ops.py``.

The pivot choices (1 × 1 or 2 × 2 blocks, which row) differ from matrix to matrix, so each matrix
of a batch is factorised on its own; the right-hand sides of a solve are handled together."""

from __future__ import annotations

import math

import numpy as np

_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0  # Bunch–Kaufman's threshold: bounds the growth of the entries


def _factor_one(a: np.ndarray, piv: np.ndarray) -> int:
    """Factorise one symmetric n × n matrix in place (its full, symmetric working copy ``a``) as
    LAPACK's ``sytrf`` with ``uplo='L'`` does; returns info (0, or k + 1 for the first exactly zero
    pivot column k).

    For column k: λ = max_{i>k} |a_ik| at row r.  Use a 1 × 1 pivot a_kk when |a_kk| >= α λ (or when
    |a_kk| λ_r... see below), else bring row r forward as a 1 × 1 pivot when |a_rr| >= α σ
    (σ = max_{j≠r} |a_rj| over the trailing block), else use the 2 × 2 block of rows k, r
    (row r moved to k + 1).  Only the trailing block a[k:, k:] is permuted (as LAPACK does), so the
    pivots must be replayed in order.  A 1 × 1 step eliminates with l = a[k+1:, k] / d; a 2 × 2 step
    with L = W D⁻¹, W = a[k+2:, k:k+2], D = the 2 × 2 block."""
    n = a.shape[0]
    info = 0
    k = 0
    while k < n:
        absakk = abs(a[k, k])
        if k + 1 < n:
            r = k + 1 + int(np.argmax(np.abs(a[k + 1:, k])))
            colmax = abs(a[r, k])
        else:
            r, colmax = k, 0.0
        step, kp = 1, k
        if max(absakk, colmax) == 0:
            info = info or k + 1
        elif absakk < _ALPHA * colmax:
            others = np.abs(np.concatenate([a[r, k:r], a[r + 1:, r]]))
            rowmax = float(others.max())
            if absakk >= _ALPHA * colmax * (colmax / rowmax):
                kp = k
            elif abs(a[r, r]) >= _ALPHA * rowmax:
                kp = r
            else:
                kp, step = r, 2
        kk = k + step - 1  # the row that row kp is moved to
        if kp != kk:  # swap rows and columns kk, kp of the trailing block (kept symmetric)
            a[[kk, kp], k:] = a[[kp, kk], k:]
            a[k:, [kk, kp]] = a[k:, [kp, kk]]
        if step == 1:
            if a[k, k] != 0:
                x = a[k + 1:, k].copy()
                a[k + 1:, k + 1:] -= np.outer(x, x) / a[k, k]
                a[k + 1:, k] = x / a[k, k]
            piv[k] = kp + 1
        else:
            d = a[k:k + 2, k:k + 2].copy()
            w = a[k + 2:, k:k + 2].copy()
            lw = np.linalg.solve(d, w.T).T  # W D⁻¹ (D symmetric)
            a[k + 2:, k + 2:] -= lw @ w.T
            a[k + 2:, k:k + 2] = lw
            piv[k] = piv[k + 1] = -(kp + 1)
        k += step
    return info


class LDLMath:
    """LDLᵀ entries of the back-end table (static methods, one of ``ArrayMath``'s bases)."""

    @staticmethod
    def ldl_factor(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(LD, pivots, info) of the symmetric A (*, n, n), read from its lower triangle: A = P L D Lᵀ Pᵀ
        with the permutations interleaved as LAPACK's ``sytrf`` (``uplo='L'``) stores them.  LD (*, n, n)
        holds L's multipliers below the diagonal (unit diagonal implied) and D's 1 × 1 and 2 × 2 blocks;
        pivots (*, n) int32: k + 1 > 0 for a 1 × 1 block at k that swapped rows k and pivots[k] - 1,
        -(p + 1) at both rows of a 2 × 2 block whose second row was swapped with row p; info (*) int32."""
        n = a.shape[-1]
        batch = a.shape[:-2]
        nb = int(np.prod(batch, dtype=np.int64))
        low = np.tril(a)
        work = (low + np.swapaxes(np.tril(a, -1), -1, -2)).reshape((nb, n, n))  # (a new array: worked in place)
        piv = np.zeros((nb, n), dtype=np.int32)
        info = np.zeros((nb,), dtype=np.int32)
        for b in range(nb):
            info[b] = _factor_one(work[b], piv[b])
        return np.tril(work).reshape(a.shape), piv.reshape(batch + (n,)), info.reshape(batch)

    @staticmethod
    def ldl_solve(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray) -> np.ndarray:
        """X with A X = B from :meth:`ldl_factor`'s LD (*, n, n) and pivots (*, n), B (*, n, k) (batch
        shapes already equal): replay the row swaps and L⁻¹ forwards, divide by D's blocks, then Lᵀ⁻¹
        and the swaps backwards (LAPACK's ``sytrs`` order)."""
        n, batch = ld.shape[-1], ld.shape[:-2]
        nb = int(np.prod(batch, dtype=np.int64))
        L = ld.reshape((nb, n, n))
        P = np.asarray(pivots).reshape((nb, n))
        X = np.array(b, dtype=np.result_type(ld, b)).reshape((nb, n, b.shape[-1]))
        for i in range(nb):
            a, p, x = L[i], P[i], X[i]
            k = 0
            while k < n:  # forward: swaps, L⁻¹ and D⁻¹
                if p[k] > 0:
                    kp = p[k] - 1
                    x[[k, kp]] = x[[kp, k]]
                    x[k + 1:] -= np.outer(a[k + 1:, k], x[k])
                    x[k] /= a[k, k]
                    k += 1
                else:
                    kp = -p[k] - 1
                    x[[k + 1, kp]] = x[[kp, k + 1]]
                    x[k + 2:] -= np.outer(a[k + 2:, k], x[k]) + np.outer(a[k + 2:, k + 1], x[k + 1])
                    d = np.array([[a[k, k], a[k + 1, k]], [a[k + 1, k], a[k + 1, k + 1]]])
                    x[k:k + 2] = np.linalg.solve(d, x[k:k + 2])
                    k += 2
            k = n - 1
            while k >= 0:  # backward: Lᵀ⁻¹ and the swaps in reverse
                if p[k] > 0:
                    x[k] -= a[k + 1:, k] @ x[k + 1:]
                    kp = p[k] - 1
                    x[[k, kp]] = x[[kp, k]]
                    k -= 1
                else:
                    x[k] -= a[k + 1:, k] @ x[k + 1:]
                    x[k - 1] -= a[k + 1:, k - 1] @ x[k + 1:]
                    kp = -p[k] - 1
                    x[[k, kp]] = x[[kp, k]]
                    k -= 2
        return X.reshape(batch + (n, b.shape[-1]))
