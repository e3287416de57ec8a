"""Table entries for a product of a stack of rows with one matrix: x (..., k) @ W (k, p).

Every row of x meets the same W, so the whole stack is one matrix product over x's rows,
R = x.size / k of them.  The rows are taken in x's memory order (its leading axes permuted
outermost-first, a view when x is dense in any order of those axes; otherwise copied once), so
that OpenBLAS sees one (R, k) matrix.  NumPy's own ``x @ W`` runs a batched product, one small
matrix per leading index, and reads a transposed view of x row by row: on the attention's
projections (x (64, 16, 128), a view of a (16, 64, 128) array, W (128, 128) a transposed
view) that took 0.83 ms where the single product takes 0.34 ms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend.gemm_onednn import matmul
from chainrule.backend.pool import memory_order


def _rows(x: Any, order: list[int]) -> Any:
    """x's leading axes permuted to ``order``, as an (R, k) matrix (a view where the strides allow)."""
    xp = x.transpose(order + [x.ndim - 1])
    shape = (math.prod(x.shape[:-1]), x.shape[-1])
    try:
        return np.reshape(xp, shape, copy=False)
    except (ValueError, TypeError):  # needs a copy (or NumPy < 2.1, which has no copy argument)
        return xp.reshape(shape)


def _memory_order(x: Any) -> list[int]:
    """x's leading axes (all but the last), outermost in memory first."""
    last = x.ndim - 1
    return [i for i in memory_order(x) if i != last]


class ProductMath:
    """x (..., k) @ W (k, p) as one product over all rows, and its weight gradient (a base of
    ``ArrayMath``)."""

    @staticmethod
    def matmul_rows(x: Any, w: Any) -> Any:
        """x (..., k) @ w (k, p) -> (..., p), laid out in memory as x is."""
        order = _memory_order(x)
        y = matmul(_rows(x, order), w)  # (R, p)
        y = y.reshape(tuple(x.shape[i] for i in order) + (w.shape[1],))
        return y.transpose(list(np.argsort(order)) + [x.ndim - 1])

    @staticmethod
    def matmul_rows_grad(x: Any, g: Any, transposed: bool = False) -> Any:
        """Σ over the rows r of xᵣᵀ gᵣ: x (..., k), g (..., p) -> (k, p), the weight gradient of
        ``matmul_rows``; with ``transposed`` computed as (gᵀ x)ᵀ, laid out as a transposed view
        (then the gradient of a weight used as ``W.T`` is C-ordered like that weight)."""
        order = _memory_order(x)
        x2, g2 = _rows(x, order), _rows(g, order)
        if transposed:
            return matmul(g2.T, x2).T
        return matmul(x2.T, g2)
