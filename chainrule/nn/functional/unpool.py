"""Max unpooling (``F.max_unpool1d/2d/3d``), the partial inverse of max pooling, and the
``*_with_indices`` spellings of the 3-d max pools.

``max_unpool`` puts every input value back at the position its max pool took it from —
``indices`` are flat positions within each (n, c) plane of the *unpooled* output, as
``max_pool*d(..., return_indices=True)`` gives them — and zeros everywhere else:

    out[n, c].flatten()[indices[n, c, j]] = input[n, c, j]

Output size per spatial dim (unless ``output_size``): (in - 1)·stride - 2·padding + kernel_size.
Gradient: dL/dinput[n, c, j] = dL/dout[n, c].flatten()[indices[n, c, j]] (a gather).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.ops import scatter


def _tuple(v: Any, d: int, what: str, where: str) -> tuple[int, ...]:
    t = tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * d
    if len(t) != d:
        raise ValueError(f"{where}: {what} must be an int or a {d}-tuple, got {v!r}")
    return t


def _max_unpool(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any, padding: Any, output_size: Any,
                d: int, where: str) -> Tensor:
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{where}: input and indices must be Tensors")
    if input.ndim not in (d + 1, d + 2):
        raise RuntimeError(f"{where}: expected a {d + 1}-D or {d + 2}-D input, got shape {tuple(input.shape)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{where}: indices {tuple(indices.shape)} must have the input's shape {tuple(input.shape)}")
    if indices.dtype.kind not in "iu":
        raise RuntimeError(f"{where}: indices must be an integer tensor, got {indices.dtype}")
    k = _tuple(kernel_size, d, "kernel_size", where)
    s = _tuple(stride if stride is not None else kernel_size, d, "stride", where)
    p = _tuple(padding, d, "padding", where)
    spatial = tuple(input.shape[-d:])
    default = tuple((i - 1) * si - 2 * pi + ki for i, si, pi, ki in zip(spatial, s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(x) for x in output_size)[-d:]
        if len(out) != d:
            raise ValueError(f"{where}: output_size must have {d} (or {d + 2}) elements, got {output_size!r}")
        for o, df, si in zip(out, default, s):
            if not df - si < o < df + si:
                lo, hi = tuple(x - y for x, y in zip(default, s)), tuple(x + y for x, y in zip(default, s))
                raise ValueError(f"{where}: invalid output_size {tuple(output_size)} (expected each size between "
                                 f"{lo} and {hi}, exclusive)")
    lead = tuple(input.shape[:-d])
    plane = math.prod(out)
    idx = indices.reshape(*lead, -1)
    if idx.numel() and (idx.min().item() < 0 or idx.max().item() >= plane):
        raise RuntimeError(f"{where}: found an index outside the output plane of {plane} elements {out}")
    zeros = constant_like(input, lambda m: m.zeros(lead + (plane,), input.dtype), where)
    flat = scatter(zeros, input.ndim - d, idx.long(), input.reshape(*lead, -1))
    return flat.reshape(*lead, *out)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """(N, C, L_in) -> (N, C, L_out), L_out = (L_in - 1)·stride - 2·padding + kernel_size."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """(N, C, H_in, W_in) -> (N, C, H_out, W_out), each size (in - 1)·stride - 2·padding + kernel."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """(N, C, D_in, H_in, W_in) -> (N, C, D_out, H_out, W_out)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")


def max_pool3d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = True) -> Any:
    """``max_pool3d(..., return_indices=True)``: (output, indices)."""
    from chainrule.nn.functional.three_d import max_pool3d

    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: Any, return_indices: bool = True) -> Any:
    """``adaptive_max_pool3d(..., return_indices=True)``: (output, indices)."""
    from chainrule.nn.functional.three_d import adaptive_max_pool3d

    return adaptive_max_pool3d(input, output_size, True)
