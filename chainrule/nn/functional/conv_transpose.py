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

Float32 on the CPU with oneDNN installed takes :class:`OnednnConvTranspose` instead: the
convolution's input gradient computed directly (no zero-inserted input, whose zeros make
s^d - 1 of every s^d multiplications of the composed path useless).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.primitive import Primitive, apply, kernel
from chainrule.autograd.tensor import Tensor
from chainrule.backend import conv_onednn
from chainrule.nn.functional.conv import OnednnConv, conv_nd, ntuple
from chainrule.ops import shape as sh
from chainrule.ops.indexing import getitem
from chainrule.ops.window import Im2Col

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


class OnednnConvTranspose(Primitive):
    """y = convᵀ(x, W) + b on oneDNN: the input gradient of the convolution ``conv`` (stride s,
    padding p, dilation δ, groups G) that maps y's shape back to x's, for float32 on the CPU.

    Shapes: x (N, C_in, *S), W (C_in, C_out/G, *k) (the convolution's (C_out', C_in'/G, *k)
    with C_out' = C_in), b (C_out,), y (N, C_out, *S_out).  Being that convolution's adjoint,

        dL/dx = conv(g, W),   dL/dW = the convolution's weight gradient with input g and
        output gradient x,   dL/db = Σ_{n, positions} g.

    When the backward pass is recorded (create_graph), and in forward mode, the same maps are
    composed from differentiable ops (``Conv``'s composed rules)."""

    __slots__ = ("conv",)
    name = "conv_transpose"
    saves_output = False
    saves_inputs = (0, 1)  # x for dL/dW, W for dL/dx; b only by its shape

    def __init__(self, conv: OnednnConv) -> None:
        self.conv = conv

    def _transposed(self, m, a, w, ref):
        """convᵀ(a, W) composed from differentiable ops; ``ref`` is anything shaped like y."""
        return self.conv._vjp_composed(m, (True, False), a, ref, w, None)[0]

    def forward(self, m, x, w, b=None):
        geo = self.conv.geo
        y = m.conv_onednn_input_grad(x, w, (x.shape[0], w.shape[1] * self.conv.groups) + geo.spatial,
                                     self.conv.setup)
        if b is not None:
            y += b.reshape((-1,) + (1,) * len(geo.spatial))
        return y

    def vjp(self, m, need, g, y, x, w, b=None):
        c = self.conv
        gx = gw = gb = None
        if m.is_tensor:
            gx, gw = c._vjp_composed(m, (False, need[1]), x, g, w, None)
            if need[0]:
                geo = c.geo
                gx = conv_nd(g, w, None, geo.stride, geo.pads, geo.dilation, c.groups, len(geo.spatial), "conv")
        else:
            if need[0]:
                gx = m.conv_onednn_forward(g, w, None, c.geo.outs, c.setup)
            if need[1]:
                gw = m.conv_onednn_weight_grad(g, x, w.shape, False, c.setup)[0]
        if b is not None and need[2]:
            gb = m.sum(g, (0,) + tuple(range(2, g.ndim)))
        return (gx, gw) if b is None else (gx, gw, gb)

    def jvp(self, m, dxs, y, x, w, b=None):
        # linear in each argument: dy = convᵀ(dx, W) + convᵀ(x, dW) + db
        dy = self._transposed(m, dxs[0], w, y) + self._transposed(m, x, dxs[1], y)
        if b is not None:
            dy = dy + m.reshape(dxs[2], (-1,) + (1,) * (y.ndim - 2))
        return dy


def _onednn_transposed(x: Tensor, weight: Tensor, s: tuple, p: tuple, op: tuple, dl: tuple,
                       groups: int) -> OnednnConvTranspose | None:
    """The oneDNN primitive for this transposed convolution, or None where the composed path
    runs (not float32 on the CPU, no oneDNN, padding beyond the kernel's reach, or an
    output_padding the convolution's geometry cannot map back to x's size)."""
    if x.device.type != "cpu" or not conv_onednn.applies(x.dtype, (x.shape, weight.shape)):
        return None
    k = tuple(weight.shape[2:])
    if any(pi > di * (ki - 1) for pi, di, ki in zip(p, dl, k)):
        return None
    spatial = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
                    for n, si, pi, di, ki, oi in zip(x.shape[2:], s, p, dl, k, op))
    if min(spatial) < 1:  # (the composed path raises PyTorch's error)
        return None
    pads = tuple((pi, pi) for pi in p)
    geo = Im2Col(k, s, dl, pads, spatial)
    if tuple(geo.outs) != tuple(x.shape[2:]):
        return None
    return OnednnConvTranspose(OnednnConv(geo, groups, pads))


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
    if bias is not None and tuple(bias.shape) != (weight.shape[1] * groups,):
        raise ValueError(f"{name}: expected bias of shape ({weight.shape[1] * groups},), got {tuple(bias.shape)}")
    fast = _onednn_transposed(x, weight, s, p, op, dl, groups)
    if fast is not None and weight.dtype == x.dtype and (bias is None or bias.dtype == x.dtype):
        y = apply(fast, x, weight) if bias is None else apply(fast, x, weight, bias)
        return sh.squeeze(y, 0) if unbatched else y
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
