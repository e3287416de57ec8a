"""Adaptive max pooling (PyTorch's ``adaptive_max_pool1d`` / ``adaptive_max_pool2d``).

Output cell i of a dimension with input size n and output size m takes the maximum over input
positions [⌊i n/m⌋, ⌈(i+1) n/m⌉) (PyTorch's windows, which may overlap).  Each cell is an ``amax``
over a slice, so the gradient goes to the maximal element (shared equally at exact ties).
``return_indices`` also gives, per cell, the flat index of the maximum in the input's spatial plane.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = ["adaptive_max_pool1d", "adaptive_max_pool2d"]


def _windows(n: int, m: int) -> list[tuple[int, int]]:
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def _adaptive_max(input: Tensor, output_size: Any, d: int, return_indices: bool, name: str) -> Any:
    if not isinstance(input, Tensor) or input.ndim not in (d + 1, d + 2):
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{name}: expected {d + 1}-D or {d + 2}-D input (N, C, *spatial), got {got}")
    sizes = (output_size,) * d if isinstance(output_size, (int, np.integer)) or output_size is None \
        else tuple(output_size)
    if len(sizes) != d:
        raise ValueError(f"{name}: output_size must be an int or a tuple of {d}, got {output_size!r}")
    spatial = tuple(input.shape[-d:])
    out = tuple(spatial[k] if s is None else int(s) for k, s in enumerate(sizes))
    if any(n == 0 for n in spatial) or any(m <= 0 for m in out):
        raise ValueError(f"{name}: needs non-empty spatial dims and positive output_size, got input "
                         f"{tuple(input.shape)} and output_size {output_size!r}")
    lead = (slice(None),) * (input.ndim - d)
    wins = [_windows(n, m) for n, m in zip(spatial, out)]
    axes = tuple(range(input.ndim - d, input.ndim))
    cells = []
    idx = np.zeros(tuple(input.shape[:-d]) + out, dtype=np.int64)
    for pos in np.ndindex(*out):
        sl = tuple(slice(*wins[k][pos[k]]) for k in range(d))
        cells.append(rd.amax(getitem(input, lead + sl), axes))
        if return_indices:
            block = input.data[lead + sl]
            flat = block.reshape(block.shape[:-d] + (-1,)).argmax(-1)
            local = np.unravel_index(flat, block.shape[-d:])
            glob = [local[k] + wins[k][pos[k]][0] for k in range(d)]
            idx[(Ellipsis,) + pos] = np.ravel_multi_index(tuple(glob), spatial)
    y = sh.reshape(sh.stack(cells, -1), tuple(input.shape[:-d]) + out)
    return (y, Tensor._wrap(idx)) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """(N, C, L) or (C, L) -> (N, C, output_size): the max over each adaptive window."""
    return _adaptive_max(input, output_size, 1, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """(N, C, H, W) or (C, H, W) -> (N, C, *output_size); ``output_size`` an int, a pair, or None
    entries (keep that size)."""
    return _adaptive_max(input, output_size, 2, return_indices, "adaptive_max_pool2d")
