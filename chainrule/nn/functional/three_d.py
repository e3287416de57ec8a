"""The 3-D (volumetric) forms: conv3d, conv_transpose3d, max_pool3d, avg_pool3d, adaptive_avg_pool3d,
adaptive_max_pool3d.

The convolution and pooling code is written for any number d of spatial dimensions; these are the
d = 3 entry points with PyTorch's signatures: input (N, C, D, H, W) or unbatched (C, D, H, W).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.conv import _batched, conv_nd, ntuple, resolve_padding
from chainrule.nn.functional.conv_transpose import conv_transpose_nd
from chainrule.nn.functional.pooling import _adaptive_sizes, _avg_pool, _bins, _max_pool
from chainrule.nn.functional.pooling_extra import _adaptive_max
from chainrule.ops import shape as sh
from chainrule.ops.linalg import matmul

__all__ = ["adaptive_avg_pool3d", "adaptive_max_pool3d", "avg_pool3d", "conv3d", "conv_transpose3d", "max_pool3d"]


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-D convolution: input (N, C_in, D, H, W), weight (C_out, C_in/groups, kd, kh, kw) -> (N, C_out, *out),
    each out = (n + 2 pad - δ(k - 1) - 1) // s + 1; ``padding`` an int, a triple, 'same' or 'valid'."""
    k = tuple(weight.shape[2:]) if weight.ndim == 5 else (1, 1, 1)
    pads = resolve_padding(padding, 3, k, ntuple(dilation, 3, "conv3d", "dilation"),
                           ntuple(stride, 3, "conv3d", "stride"), "conv3d")
    return conv_nd(input, weight, bias, stride, pads, dilation, groups, 3, "conv3d")


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """3-D transposed convolution: weight (C_in, C_out/groups, kd, kh, kw); see ``conv_transpose2d``."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, 3,
                             "conv_transpose3d")


def max_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over kd×kh×kw windows: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3, "max_pool3d")


def avg_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kd×kh×kw windows: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3,
                     "avg_pool3d")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """(N, C, D, H, W) -> (N, C, *output_size): the mean over PyTorch's adaptive bins along each axis
    (one bin matrix per axis, applied by matmul; None keeps that size)."""
    x, unbatched = _batched(input, 3, "adaptive_avg_pool3d")
    sizes = _adaptive_sizes(output_size, x.shape[2:], 3, "adaptive_avg_pool3d")
    y = x
    for axis, (n, o) in enumerate(zip(x.shape[2:], sizes)):
        if n == o:
            continue
        a = 2 + axis
        y = sh.movedim(matmul(sh.movedim(y, a, -1), _bins(x, n, o, True)), -1, a)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """(N, C, D, H, W) -> (N, C, *output_size): the max over adaptive windows."""
    return _adaptive_max(input, output_size, 3, return_indices, "adaptive_max_pool3d")
