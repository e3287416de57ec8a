"""Pooling: max, average and adaptive average, in 1-D and 2-D.

Pooling replaces each window of a feature map by a summary statistic (the
notes): its maximum or its mean, per channel.  With kernel k, stride s
(default k), padding p and dilation δ the output size is

    out = (n + 2p - δ (k - 1) - 1) // s + 1          (ceil_mode=False)
    out = ceil((n + 2p - δ (k - 1) - 1) / s) + 1     (ceil_mode=True; a window that
                                                     would start in the right padding is dropped)

(floor and ceil of a negative numerator round towards -inf, as PyTorch's: with ceil_mode an
input shorter than the kernel still has the windows that start in it), an error when out < 1;
padding is at most k // 2.

Max pooling pads with -inf and sends each window's adjoint to its (first)
maximum; average pooling is the mean of ``Unfold``'s columns, divided by the
whole window (count_include_pad=True) or by the non-padding elements only.
Adaptive average pooling uses PyTorch's bins start = floor(i·n/out),
end = ceil((i+1)·n/out), written as two averaging matrices: y = P_h x P_wᵀ.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional._const import constant_like
from chainrule.nn.functional.conv import _batched, ntuple
from chainrule.ops.inplace import has_tangent
from chainrule.ops.linalg import matmul
from chainrule.ops.window import Unfold, argmax_indices, max_pool_nd, unfold_nd


def _geometry(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
              d: int, name: str) -> tuple:
    """kernel, stride, dilation, ((pad, pad + extra), ...) and the plain padding per dim.

    ``extra`` is the additional right padding that makes the floor formula give
    the ceil_mode size (PyTorch's rule: the last window must start inside the
    input or the left padding).
    """
    kernel = ntuple(kernel_size, d, name, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else ntuple(stride, d, name, "stride")
    pad = ntuple(padding, d, name, "padding")
    dil = ntuple(dilation, d, name, "dilation")
    if any(k < 1 for k in kernel) or any(s < 1 for s in stride) or any(v < 1 for v in dil):
        raise ValueError(f"{name}: kernel_size, stride and dilation must be positive, got {kernel}, {stride}, {dil}")
    for k, p in zip(kernel, pad):
        # PyTorch's bound is half the kernel size itself, whatever the dilation
        if p < 0 or p > k // 2:
            raise ValueError(f"{name}: padding should be at most half of the kernel size, got "
                             f"padding {pad} for kernel {kernel}")
    pads = []
    for n, k, s, p, v in zip(x.shape[2:], kernel, stride, pad, dil):
        span = n + 2 * p - v * (k - 1) - 1  # negative: the padded input is shorter than the window
        extra = 0
        if ceil_mode:
            # ceil(span / s) + 1 (floor division of a negative span rounds down, as PyTorch's
            # div_rtn): an input shorter than the kernel still gets the windows that start in it
            out = -(-span // s) + 1
            if (out - 1) * s >= n + p:
                out -= 1
            extra = max((out - 1) * s + v * (k - 1) + 1 - (n + 2 * p), 0)
        else:
            out = span // s + 1
        if out < 1:
            raise ValueError(f"{name}: input spatial size {tuple(x.shape[2:])} is too small for kernel {kernel} "
                             f"(padding {pad}, dilation {dil}, stride {stride}, ceil_mode={ceil_mode}): "
                             f"output size {out}")
        pads.append((p, p + extra))
    return kernel, stride, dil, tuple(pads), pad


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, d, name):
    x, unbatched = _batched(input, d, name)
    kernel, stride, dil, pads, _ = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, d, name)
    # the argmaxes serve the backward pass, forward-mode tangents and return_indices: without
    # any of these (inference), the maxima alone
    keep = return_indices or (is_grad_enabled() and x.requires_grad) or has_tangent(x)
    y, op = max_pool_nd(x, kernel, stride, dil, pads, keep)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    idx = argmax_indices(op)
    return y, constant_like(y, lambda m: idx[0] if unbatched else idx, name)


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over windows of length k: (N, C, L) -> (N, C, L_out); with return_indices also the argmax positions."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over kh×kw windows: (N, C, H, W) -> (N, C, H_out, W_out).

    With ``return_indices`` also returns, per output, the flat index h·W + w
    of the maximum in its input plane (as PyTorch, for ``max_unpool2d``).
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, d, name):
    x, unbatched = _batched(input, d, name)
    kernel, stride, dil, pads, pad = _geometry(x, kernel_size, stride, padding, 1, ceil_mode, d, name)
    cols = unfold_nd(x, kernel, stride, dil, pads)  # (N, C, *kernel, *outs)
    total = cols.sum(dim=tuple(range(2, 2 + d)))
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{name}: divisor_override must be non-zero")
        y = total / float(divisor_override)
    else:
        y = total / constant_like(
            x, lambda m: _divisor(m, x.shape[2:], kernel, stride, dil, pads, pad, count_include_pad, x.dtype), name)
    return y.squeeze(0) if unbatched else y


def _divisor(m, spatial, kernel, stride, dil, pads, pad, count_include_pad, dtype) -> Any:
    """How many elements each window averages: the window clipped to the padded input
    (count_include_pad) or to the input itself; the ceil_mode overhang never counts."""
    region = m.zeros((1, 1) + tuple(n + 2 * p for n, p in zip(spatial, pad)), dtype=dtype)
    if count_include_pad:
        region[...] = 1
    else:
        region[(Ellipsis,) + tuple(slice(p, p + n) for n, p in zip(spatial, pad))] = 1
    # the region already holds the symmetric padding; only the ceil_mode overhang is added
    extra = tuple((0, pa - p) for (_, pa), p in zip(pads, pad))
    op = Unfold(kernel, stride, dil, extra, region.shape[2:])
    counts = op.forward(m, region).sum(axis=tuple(range(2, 2 + len(kernel))))[0, 0]
    return counts


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of length k: (N, C, L) -> (N, C, L_out)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kh×kw windows: (N, C, H, W) -> (N, C, H_out, W_out).

    y = (1 / |window|) Σ_window x_pad, |window| = kh·kw with count_include_pad
    (zeros of the padding count), else the number of real input elements.
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


def _bins(x: Tensor, n_in: int, n_out: int, transpose: bool = False) -> Tensor:
    """P (n_out, n_in) (Pᵀ if ``transpose``) on x's device, of x's dtype: row i averages
    x[floor(i·n/out) : ceil((i+1)·n/out)]."""

    def build(m: Any) -> Any:
        p = m.zeros((n_in, n_out) if transpose else (n_out, n_in), x.dtype)
        for i in range(n_out):
            start = (i * n_in) // n_out
            end = -(-((i + 1) * n_in) // n_out)
            p[(slice(start, end), i) if transpose else (i, slice(start, end))] = 1.0 / (end - start)
        return p

    return constant_like(x, build, "adaptive_avg_pool")


def _adaptive_sizes(output_size: Any, spatial: tuple, d: int, name: str) -> tuple:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != d:
            raise ValueError(f"{name}: output_size must be an int or a tuple of {d}, got {output_size!r}")
        sizes = tuple(n if o is None else int(o) for o, n in zip(output_size, spatial))
    else:
        sizes = (int(output_size),) * d
    if any(o < 1 for o in sizes):
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    return sizes


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """(N, C, L) -> (N, C, out): mean over PyTorch's adaptive bins, y = x P_Lᵀ."""
    x, unbatched = _batched(input, 1, "adaptive_avg_pool1d")
    (o,) = _adaptive_sizes(output_size, x.shape[2:], 1, "adaptive_avg_pool1d")
    y = matmul(x, _bins(x, x.shape[2], o, True))
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """(N, C, H, W) -> (N, C, out_h, out_w): y = P_h x P_wᵀ with PyTorch's adaptive bins.

    ``output_size`` is an int, a pair, or a pair with None entries (keep that size).
    """
    x, unbatched = _batched(input, 2, "adaptive_avg_pool2d")
    oh, ow = _adaptive_sizes(output_size, x.shape[2:], 2, "adaptive_avg_pool2d")
    h, w = x.shape[2:]
    y = x
    if (oh, ow) == (1, 1):
        y = x.mean(dim=(2, 3), keepdim=True)
    else:
        if ow != w:  # ow == w: every bin is one column (the identity)
            y = matmul(y, _bins(x, w, ow, True))
        if oh != h:
            y = matmul(_bins(x, h, oh), y)
    return y.squeeze(0) if unbatched else y
