"""Adaptive max pooling (PyTorch's ``adaptive_max_pool1d`` / ``adaptive_max_pool2d``).

Output cell i of a dimension with input size n and output size m takes the maximum over input
positions [⌊i n/m⌋, ⌈(i+1) n/m⌉) (PyTorch's windows, which may overlap).  Each cell is an ``amax``
over a slice, so the gradient goes to the maximal element (shared equally at exact ties).
``return_indices`` also gives, per cell, the flat index of the maximum in the input's spatial plane.

Also here: power-average pooling ``lp_pool1d/2d/3d``, (Σ_window x^p)^(1/p), and
``local_response_norm`` (AlexNet's normalisation across channels).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import derived
from chainrule.nn.functional.pooling import _avg_pool, max_pool1d, max_pool2d
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "local_response_norm",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
]


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
    cells, where = [], []
    for pos in itertools.product(*[range(m) for m in out]):
        sl = tuple(slice(*wins[k][pos[k]]) for k in range(d))
        block = getitem(input, lead + sl)
        cells.append(rd.amax(block, axes))
        if return_indices:
            where.append(_global_argmax(block, [wins[k][pos[k]] for k in range(d)], spatial))
    shape = tuple(input.shape[:-d]) + out
    y = sh.reshape(sh.stack(cells, -1), shape)
    return (y, sh.reshape(sh.stack(where, -1), shape)) if return_indices else y


def _global_argmax(block: Tensor, win: list, spatial: tuple) -> Tensor:
    """The flat index into ``spatial`` of the (first) maximum of each window ``block``
    (lead..., *window sizes), the window starting at win[k][0] in dim k."""
    d = len(spatial)

    def build(m: Any, b: Any) -> Any:
        flat = m.argmax(b.reshape(b.shape[:-d] + (-1,)), -1)
        glob: Any = 0
        inner = 1  # the size of the window's dims after k (local) and of the input's (global)
        stride = 1
        for k in reversed(range(d)):
            size = win[k][1] - win[k][0]
            glob = glob + ((flat // inner) % size + win[k][0]) * stride
            inner *= size
            stride *= spatial[k]
        return glob

    return derived(build, block, where="adaptive_max_pool")


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """(N, C, L) or (C, L) -> (N, C, output_size): the max over each adaptive window."""
    return _adaptive_max(input, output_size, 1, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """(N, C, H, W) or (C, H, W) -> (N, C, *output_size); ``output_size`` an int, a pair, or None
    entries (keep that size)."""
    return _adaptive_max(input, output_size, 2, return_indices, "adaptive_max_pool2d")


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: Any, return_indices: bool = True) -> Any:
    """``adaptive_max_pool1d(..., return_indices=True)``: (output, indices)."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size: Any, return_indices: bool = True) -> Any:
    """``adaptive_max_pool2d(..., return_indices=True)``: (output, indices)."""
    return adaptive_max_pool2d(input, output_size, True)


def max_pool1d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = True) -> Any:
    """``max_pool1d(..., return_indices=True)``: (output, indices)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = True) -> Any:
    """``max_pool2d(..., return_indices=True)``: (output, indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _lp_pool(input: Tensor, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool, d: int,
             name: str) -> Tensor:
    """(Σ_window x^p)^(1/p) = (k · mean_window x^p)^(1/p), no padding (PyTorch's form, which also takes
    sign(s)·relu(|s|) of the window sum s before the root)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(input).__name__}")
    p = float(norm_type)
    k = (int(kernel_size),) * d if isinstance(kernel_size, (int, np.integer)) else tuple(int(v) for v in kernel_size)
    if len(k) != d:
        raise ValueError(f"{name}: kernel_size must be an int or a tuple of {d}, got {kernel_size!r}")
    out = _avg_pool(input ** p, k, stride, 0, ceil_mode, True, None, d, name)
    out = ew.sign(out) * ew.relu(ew.abs(out))
    return (out * float(math.prod(k))) ** (1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over windows of length k: (N, C, L) -> (N, C, L_out)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, "lp_pool1d")


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over kh×kw windows: (N, C, H, W) -> (N, C, H_out, W_out)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, "lp_pool2d")


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over kd×kh×kw windows."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3, "lp_pool3d")


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """b_c = a_c / (k + α/n Σ_{c'} a_{c'}²)^β over the n = ``size`` channels c' around c (zero-padded:
    size//2 before, (size-1)//2 after); input (N, C, *)."""
    name = "local_response_norm"
    if not isinstance(input, Tensor) or input.ndim < 3:
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{name}: expected 3-D or higher input (N, C, *), got {got}")
    if input.shape[0] == 0:
        return input
    C = input.shape[1]
    sq = input * input
    zeros_before = sq.new_zeros((input.shape[0], size // 2) + tuple(input.shape[2:]))
    zeros_after = sq.new_zeros((input.shape[0], (size - 1) // 2) + tuple(input.shape[2:]))
    padded = sh.cat([zeros_before, sq, zeros_after], 1)
    window = padded[:, 0:C]
    for j in range(1, size):  # the sum over the channel window, one shifted slice at a time
        window = window + padded[:, j:j + C]
    div = (window * (alpha / size) + k) ** beta
    return input / div
