"""The back-end table's entries for ``ops/arrange.py``: orders, running arg-extremes, modes,
triangle masks, counts, unique values and sorted search.  Each takes its array first (so
``kernel("sort_order", x, axis=1)`` runs on x's device) and returns indices, masks or counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ArrangeMath:
    """Index and count kernels of ops/arrange.py (a base of ``ArrayMath``)."""

    @staticmethod
    def scatter_reduce_into(base: Any, index: Any, src: Any, reduce: str) -> Any:
        """A copy of ``base`` with each src[p] combined into out[index[p]] by ``reduce``
        ('amax', 'amin' or 'prod'; repeated positions combine them all, NaN propagates)."""
        out = base.copy()
        with np.errstate(invalid="ignore"):  # (a NaN propagates without a warning, as in PyTorch)
            {"amax": np.maximum, "amin": np.minimum, "prod": np.multiply}[reduce].at(out, index, src)
        return out

    @staticmethod
    def tri_mask(x: Any, k: int = 0, lower: bool = True) -> Any:
        """bool (r, c) over x's last two dims (r, c): j <= i + k (lower) or j >= i + k (upper)."""
        r, c = x.shape[-2:]
        return np.tri(r, c, k, dtype=bool) if lower else ~np.tri(r, c, k - 1, dtype=bool)

    @staticmethod
    def sort_order(x: Any, axis: int, descending: bool = False) -> Any:
        """The stable argsort along ``axis`` (int64); NaN counts as the largest value (first when
        descending), as PyTorch."""
        if x.dtype == np.bool_:
            x = x.astype(np.int8)
        if not descending:
            return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
        if x.dtype.kind != "f":
            return np.argsort(-x.astype(np.int64), axis=axis, kind="stable").astype(np.int64, copy=False)
        order = np.argsort(np.where(np.isnan(x), -np.inf, -x), axis=axis, kind="stable")
        nan_first = np.argsort(~np.isnan(np.take_along_axis(x, order, axis)), axis=axis, kind="stable")
        return np.take_along_axis(order, nan_first, axis).astype(np.int64, copy=False)

    @staticmethod
    def cum_extreme_index(x: Any, axis: int, largest: bool) -> Any:
        """Where the running maximum (minimum) along ``axis`` stands: the last j <= i with
        x_j equal to it (ties take the later index, as PyTorch), the last NaN once there is one."""
        a = np.moveaxis(x, axis, -1)
        run = (np.maximum if largest else np.minimum).accumulate(a, axis=-1)
        hit = (a == run) | (a != a)  # a record (or a tie with it), or a NaN (the run is NaN from there)
        pos = np.where(hit, np.arange(a.shape[-1]), 0)
        return np.moveaxis(np.maximum.accumulate(pos, axis=-1), -1, axis).astype(np.int64)

    @staticmethod
    def mode_index(x: Any, axis: int) -> Any:
        """Per row along ``axis`` (kept, size 1): the last index of the most frequent value (the
        smallest of equally frequent ones), as PyTorch on the CPU."""
        a = np.moveaxis(x, axis, -1)
        rows = a.reshape(-1, a.shape[-1])
        best = np.empty(rows.shape[0], dtype=np.int64)
        for r, row in enumerate(rows):
            vals, counts = np.unique(row, return_counts=True)  # sorted: argmax takes the smallest
            best[r] = np.flatnonzero(row == vals[np.argmax(counts)])[-1]
        return np.moveaxis(best.reshape(a.shape[:-1] + (1,)), -1, axis)

    @staticmethod
    def argwhere(x: Any) -> Any:
        """(n, ndim) int64: the coordinates of the n non-zero elements, in row-major order."""
        return np.argwhere(x).astype(np.int64, copy=False)

    @staticmethod
    def cumprod(x: Any, axis: int) -> Any:
        return np.cumprod(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def repeat_index(counts: Any) -> Any:
        """0, 1, ..., len(counts) - 1, each i repeated counts[i] times (int64)."""
        return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)

    @staticmethod
    def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
        """Counts (int64) of each value 0..max of x, or the sums of ``weights`` (float64 unless floating)."""
        out = np.bincount(x, weights=weights, minlength=minlength)
        if weights is None:
            return out.astype(np.int64)
        return out.astype(weights.dtype if weights.dtype.kind == "f" else np.float64)

    @staticmethod
    def searchsorted(seq: Any, v: Any, sorter: Any = None, right: bool = False, out_int32: bool = False) -> Any:
        """Where each value of v goes in the sorted innermost rows of ``seq`` (one row: for all of v)."""
        side: Any = "right" if right else "left"
        if sorter is not None:
            seq = np.take_along_axis(seq, sorter, -1)
        if seq.ndim <= 1:
            out = np.searchsorted(seq, v, side=side)
        else:
            rows, vrows = seq.reshape(-1, seq.shape[-1]), v.reshape(-1, v.shape[-1])
            out = np.stack([np.searchsorted(r, q, side=side) for r, q in zip(rows, vrows)]).reshape(v.shape)
        return np.asarray(out, dtype=np.int32 if out_int32 else np.int64)

    @staticmethod
    def histc(x: Any, bins: int, lo: float, hi: float) -> Any:
        """Counts of x's elements in ``bins`` equal bins of [lo, hi] (others ignored), in x's
        floating dtype (float32 for other dtypes)."""
        a = x.reshape(-1)
        counts, _ = np.histogram(a[(a >= lo) & (a <= hi)], bins=bins, range=(lo, hi))
        return counts.astype(x.dtype if x.dtype.kind == "f" else np.float32)

    @staticmethod
    def unique(x: Any, axis: int | None = None, part: int = 0) -> Any:
        """np.unique's sorted values (part 0), inverse indices (1, x's shape when axis is None)
        or counts (2), the last two int64."""
        vals, inv, counts = np.unique(x, return_inverse=True, return_counts=True, axis=axis)
        if part == 0:
            return vals
        return (inv.reshape(x.shape if axis is None else -1) if part == 1 else counts).astype(np.int64)
