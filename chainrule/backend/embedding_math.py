"""The embedding entries of the back-end table (a base of ``ArrayMath``): the row lookup, its
scatter-add (``backend/scatter.py``), the ``max_norm`` renormalisation and ``embedding_bag``'s
bags.  W is a (V, D) table, idx an integer index array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend.pool import POOL
from chainrule.backend.scatter import scatter_add_rows


class EmbeddingMath:
    """Embedding table entries on NumPy arrays."""

    scatter_add_rows = staticmethod(scatter_add_rows)  # dst (U, C) += src's rows at rows (in place)

    @staticmethod
    def take_rows(w: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """W[idx] (idx.shape + (D,)) into a pooled array (the indices were checked: mode="clip"
        changes nothing but lets np.take write straight into the output)."""
        return np.take(w, idx, axis=0, out=POOL.empty(idx.shape + w.shape[1:], w.dtype), mode="clip")

    @staticmethod
    def renorm_rows_(w: np.ndarray, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
        """In place: every row of W named in idx whose ``norm_type``-norm exceeds ``max_norm`` is
        scaled to norm max_norm (PyTorch's factor max_norm / (norm + 1e-7))."""
        rows = np.unique(idx)
        norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
        big = norms > max_norm
        if big.any():
            w[rows[big]] *= (max_norm / (norms[big] + 1e-7)).astype(w.dtype)[:, None]

    @staticmethod
    def embedding_bags(flat: np.ndarray, starts: np.ndarray, stop: int, pad: int | None, dtype: Any) -> tuple:
        """The bags of ``embedding_bag``: index i of ``flat`` (n,) belongs to bag b when
        starts[b] <= i < starts[b + 1] (the last bag ends at ``stop``).  Returns (pos, bag, size):
        the positions that count (in a bag, not ``pad``), the bag of each, and max(bag size, 1)
        per bag as a (B, 1) column of ``dtype`` (the divisor of mode='mean')."""
        n = flat.shape[0]
        i = np.arange(n)
        bag = np.searchsorted(starts, i, side="right") - 1
        keep = (bag >= 0) & (i < stop)
        if pad is not None:
            keep &= flat != pad
        pos = np.flatnonzero(keep)
        bag = bag[pos]
        size = np.maximum(np.bincount(bag, minlength=starts.shape[0]), 1).astype(dtype)[:, None]
        return pos, bag, size
