"""Where a view's elements lie in its base (for an in-place operation through a view).

An in-place operation on a view of a tensor while a graph is recorded (``x[:, 0].mul_(2)``,
``out[:, t].copy_(h)``) writes into the memory the view shares with its base, and the base's
history then says which of its elements changed (``ops/inplace.py``).  Both need, for each
element of the view, its position in the base: :func:`element_positions` reads it from the
two arrays' addresses and strides, whatever chain of slices, transposes and reshapes made the
view.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend.registry import memory_of


def memory_root(a: Any) -> Any:
    """The object that owns a NumPy array's memory (views chain to it through ``.base``; a
    compiled capture's traced array answers for the array it stands for), or None for anything
    else (another back end's arrays: no view tracking there)."""
    a = memory_of(a)
    if a is None:
        return None
    while getattr(a, "base", None) is not None:  # (as_strided's views chain through a holder object)
        a = a.base
    return a


def _offsets(a: np.ndarray, start: int, k: int) -> np.ndarray:
    """Each element's distance from ``start`` in items of ``k`` bytes, in a's shape."""
    off = np.full(a.shape, start, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(a.shape, a.strides)):
        step = np.arange(n, dtype=np.int64) * (s // k)
        off += step.reshape((1,) * axis + (n,) + (1,) * (a.ndim - axis - 1))
    return off


def element_positions(base: np.ndarray, view: np.ndarray) -> np.ndarray | None:
    """For each element of ``view`` (an array in ``base``'s memory), its index in base's C-order
    flattening (int64, view's shape); None where there is no such index for every element (a
    stride that is not a whole number of items, an element outside base) or where two of
    view's elements are one of base's (a broadcast view: a write would be ambiguous)."""
    base, view = memory_of(base), memory_of(view)
    if base is None or view is None:
        return None
    k = base.itemsize
    if view.dtype != base.dtype or any(s % k for s in base.strides + view.strides):
        return None
    gap = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if gap % k:
        return None
    at_base = _offsets(base, 0, k)
    at_view = _offsets(view, gap // k, k)
    if not base.size or not view.size:
        return np.zeros(view.shape, np.int64) if not view.size else None
    lo = int(at_base.min())
    span = int(at_base.max()) - lo + 1
    table = np.full(span, -1, dtype=np.int64)
    table[(at_base - lo).ravel()] = np.arange(base.size, dtype=np.int64)
    rel = at_view - lo
    if rel.min() < 0 or rel.max() >= span:
        return None
    pos = table[rel]
    if pos.min() < 0 or np.unique(pos).size != pos.size:
        return None
    return pos


def diagonal_view(a: Any, offset: int, d1: int, d2: int) -> np.ndarray | None:
    """The ``offset`` diagonal of a's (d1, d2) planes as a writable view of a's memory, the
    diagonal as the last axis (PyTorch's layout, ``ops/arrange.py``'s ``diagonal``); None for an
    array of another back end.  (NumPy's own ``diagonal`` is read-only.)"""
    a = memory_of(a)
    if a is None:
        return None
    index: list[Any] = [slice(None)] * a.ndim
    index[d2 if offset >= 0 else d1] = slice(abs(offset), None)
    start = a[tuple(index)]  # (its first element is the diagonal's)
    n = max(0, min(start.shape[d1], start.shape[d2]))
    keep = [i for i in range(a.ndim) if i not in (d1, d2)]
    shape = tuple(start.shape[i] for i in keep) + (n,)
    strides = tuple(start.strides[i] for i in keep) + (start.strides[d1] + start.strides[d2],)
    return np.lib.stride_tricks.as_strided(start, shape, strides)
