"""Transposed convolution (PyTorch's ``conv_transpose1d`` / ``conv_transpose2d``), built on ``conv_nd``.

The transposed convolution is the adjoint (the input gradient) of the convolution with the same
stride, padding and dilation: every input element scatters a copy of the kernel, scaled by its
value, into the output at stride s.  It is computed here as an ordinary convolution:

1. insert s - 1 zeros between neighbouring input elements (along each spatial dim);
2. pad by δ(k - 1) - p before and δ(k - 1) - p + output_padding after (negative = crop);
3. convolve (stride 1, dilation δ) with the kernel flipped in space and its in/out channel axes
   swapped per group: weight (C_in, C_out/g, *k) -> (C_out, C_in/g, *k).

Output size per dim: (n - 1)s - 2p + δ(k - 1) + output_padding + 1.  All steps are
differentiable ops, so gradients and second derivatives come from conv's.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.primitive import kernel
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.conv import conv_nd, ntuple
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem

__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose_nd"]


def _dilate(x: Tensor, axis: int, s: int) -> Tensor:
    """Insert s - 1 zeros between neighbours along ``axis``: n -> (n - 1)s + 1."""
    n = x.shape[axis]
    if s == 1 or n == 0:
        return x
    z = kernel("zeros_like", x)
    y = sh.stack([x] + [z] * (s - 1), axis + 1)  # (..., n, s, ...)
    y = sh.reshape(y, tuple(x.shape[:axis]) + (n * s,) + tuple(x.shape[axis + 1:]))
    return getitem(y, (slice(None),) * axis + (slice(0, (n - 1) * s + 1),))


def conv_transpose_nd(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
                      output_padding: Any, groups: int, dilation: Any, d: int, name: str) -> Tensor:
    """The d-dimensional transposed convolution (see the module docstring)."""
    if not isinstance(input, Tensor) or input.ndim not in (d + 1, d + 2):
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{name}: expected {d + 2}-D input (N, C_in, *spatial) or unbatched {d + 1}-D, got {got}")
    if weight.ndim != d + 2:
        raise ValueError(f"{name}: expected a {d + 2}-D weight (C_in, C_out/groups, *kernel), got "
                         f"{tuple(weight.shape)}")
    unbatched = input.ndim == d + 1
    x = sh.unsqueeze(input, 0) if unbatched else input
    s = ntuple(stride, d, name, "stride")
    p = ntuple(padding, d, name, "padding")
    op = ntuple(output_padding, d, name, "output_padding")
    dl = ntuple(dilation, d, name, "dilation")
    # (RuntimeError, as PyTorch's shape checks of the transposed convolution)
    if any(v < 1 for v in s + dl) or any(v < 0 for v in p + op):
        raise RuntimeError(f"{name}: stride and dilation must be positive and padding, output_padding non-negative, "
                           f"got stride {s}, dilation {dl}, padding {p}, output_padding {op}")
    if any(o >= max(si, di) for o, si, di in zip(op, s, dl)):
        raise RuntimeError(f"{name}: output_padding {op} must be smaller than either stride {s} or dilation {dl}")
    c_in = weight.shape[0]
    if groups < 1 or c_in % groups:
        raise ValueError(f"{name}: groups={groups} must divide the weight's in_channels ({c_in})")
    if x.shape[1] != c_in:
        raise ValueError(f"{name}: expected input with {c_in} channels (weight {tuple(weight.shape)}), got "
                         f"input {tuple(input.shape)}")
    k = tuple(weight.shape[2:])
    c_og = weight.shape[1]
    # (C_in, C_out/g, *k) -> (g, C_in/g, C_out/g, *k) -> (g, C_out/g, C_in/g, *k) -> (C_out, C_in/g, *k), flipped
    w = sh.reshape(weight, (groups, c_in // groups, c_og) + k)
    w = sh.reshape(sh.transpose(w, 1, 2), (groups * c_og, c_in // groups) + k)
    w = sh.flip(w, tuple(range(2, d + 2)))
    for a in range(d):
        x = _dilate(x, 2 + a, s[a])
    pads = []
    crop: list[Any] = [slice(None)] * x.ndim
    cropped = False
    for a in range(d):
        before = dl[a] * (k[a] - 1) - p[a]
        after = before + op[a]
        if before < 0 or after < 0:  # padding larger than the kernel's reach: cut instead of pad
            crop[2 + a] = slice(max(-before, 0), x.shape[2 + a] - max(-after, 0))
            cropped = True
        pads.append((max(before, 0), max(after, 0)))
    if cropped:
        x = getitem(x, tuple(crop))
    y = conv_nd(x, w, bias, 1, tuple(pads), dl, groups, d, name)
    return sh.squeeze(y, 0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """input (N, C_in, L), weight (C_in, C_out/groups, k) -> (N, C_out, (L-1)s - 2p + δ(k-1) + output_padding + 1)."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                             "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw) -> (N, C_out, H_out, W_out), each
    H_out = (H-1)s - 2p + δ(kh-1) + output_padding + 1."""
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                             "conv_transpose2d")
