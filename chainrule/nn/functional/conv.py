"""Convolutions: conv1d, conv2d and the causal 1-D convolution, as im2col + one matrix product.

For input x (N, C_in, *spatial), weight W (C_out, C_in / groups, *kernel) and
bias b (C_out,), output position o of channel j is (cross-correlation, the
kernel is not flipped — as the notes' "Implementation: not flipped kernel")

    y[n, j, o] = b[j] + Σ_c Σ_k W[j, c, k] · x_pad[n, g·C_in/G + c, o·s + k·δ]

where g = j // (C_out / G) is j's group.  ``Unfold`` lays the windows out as
columns (N, G, C_in/G · K, L) (K = kernel size product, L = number of output
positions), so the whole layer is one batched product W_g @ cols_g.  Its
gradients follow from those of Unfold (its vjp is Fold/col2im) and matmul,
so the convolution is differentiable twice.

Output size per spatial dim: (n + 2 pad - δ (k - 1) - 1) // s + 1, which is the
notes' (n - k + 2 pad) / s + 1 for δ = 1.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.ops.linalg import matmul
from chainrule.ops.window import unfold_nd

_DIMS = {1: "(N, C, L)", 2: "(N, C, H, W)"}


def ntuple(value: Any, d: int, name: str, what: str) -> tuple:
    """An int or a length-d sequence of ints as a d-tuple (PyTorch's _pair/_single)."""
    if isinstance(value, (tuple, list)):
        if len(value) != d:
            raise ValueError(f"{name}: {what} must be an int or a tuple of {d} ints, got {value!r}")
        out = tuple(int(v) for v in value)
    else:
        out = (int(value),) * d
    return out


def resolve_padding(padding: Any, d: int, kernel: tuple, dilation: tuple, stride: tuple, name: str) -> tuple:
    """Padding as ((before, after), ...) per spatial dim.

    'valid' is no padding; 'same' pads δ (k - 1) in total, the extra element
    (when that is odd) going after, as PyTorch does; it needs stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (stride {stride})")
            pads = []
            for k, dl in zip(kernel, dilation):
                total = dl * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    p = ntuple(padding, d, name, "padding")
    if any(v < 0 for v in p):
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    return tuple((v, v) for v in p)


def _batched(input: Tensor, d: int, name: str) -> tuple:
    """(input with a batch dim, whether one was added): PyTorch also accepts unbatched (C, *spatial)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim == d + 2:
        return input, False
    if input.ndim == d + 1:
        return input.unsqueeze(0), True
    raise ValueError(
        f"{name}: expected {d + 2}-D input {_DIMS[d]} (or {d + 1}-D unbatched), got shape {tuple(input.shape)}"
    )


def conv_nd(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    pads: tuple,
    dilation: Any,
    groups: int,
    d: int,
    name: str,
) -> Tensor:
    """The d-dimensional convolution with explicit ((before, after), ...) padding (see module docstring)."""
    x, unbatched = _batched(input, d, name)
    if weight.ndim != d + 2:
        raise ValueError(
            f"{name}: expected a {d + 2}-D weight (C_out, C_in/groups, *kernel), got shape {tuple(weight.shape)}"
        )
    stride = ntuple(stride, d, name, "stride")
    dilation = ntuple(dilation, d, name, "dilation")
    if any(s < 1 for s in stride) or any(v < 1 for v in dilation):
        raise ValueError(f"{name}: stride and dilation must be positive, got stride {stride}, dilation {dilation}")
    n, c_in = x.shape[:2]
    c_out, c_g = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"{name}: groups={groups} must divide both in_channels ({c_in}) and out_channels ({c_out})"
        )
    if c_g * groups != c_in:
        raise ValueError(
            f"{name}: expected input with {c_g * groups} channels (weight {tuple(weight.shape)}, groups={groups}), "
            f"got {c_in} channels (input shape {tuple(input.shape)})"
        )
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"{name}: expected bias of shape ({c_out},), got {tuple(bias.shape)}")
    for n_i, k, dl, (pb, pa) in zip(x.shape[2:], kernel, dilation, pads):
        if n_i + pb + pa < dl * (k - 1) + 1:
            raise ValueError(
                f"{name}: input spatial size {tuple(x.shape[2:])} (padded by {pads}) is smaller than the "
                f"dilated kernel {tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))}"
            )
    cols = unfold_nd(x, kernel, stride, dilation, pads)  # (N, C_in, *kernel, *outs)
    outs = tuple(cols.shape[2 + d:])
    positions = math.prod(outs)
    ck = c_g * math.prod(kernel)
    if groups == 1:
        y = matmul(weight.reshape(c_out, ck), cols.reshape(n, ck, positions))  # (N, C_out, L)
    else:
        w = weight.reshape(groups, c_out // groups, ck)
        y = matmul(w, cols.reshape(n, groups, ck, positions))  # (N, G, C_out/G, L)
    y = y.reshape((n, c_out) + outs)
    if bias is not None:
        y = y + bias.reshape((c_out,) + (1,) * d)
    return y.squeeze(0) if unbatched else y


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, k), bias (C_out,) -> (N, C_out, L_out).

    L_out = (L + 2 pad - δ (k - 1) - 1) // s + 1.  ``padding`` is an int, 'same' or 'valid'.
    """
    k = ntuple(weight.shape[2:], 1, "conv1d", "kernel") if weight.ndim == 3 else (1,)
    pads = resolve_padding(padding, 1, k, ntuple(dilation, 1, "conv1d", "dilation"),
                           ntuple(stride, 1, "conv1d", "stride"), "conv1d")
    return conv_nd(input, weight, bias, stride, pads, dilation, groups, 1, "conv1d")


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out), with H_out = (H + 2 pad - δ (kh - 1) - 1) // s + 1 (same for W).

    ``stride``, ``padding``, ``dilation`` are ints or pairs; ``padding`` may also be 'same' or 'valid'.
    """
    k = tuple(weight.shape[2:]) if weight.ndim == 4 else (1, 1)
    pads = resolve_padding(padding, 2, k, ntuple(dilation, 2, "conv2d", "dilation"),
                           ntuple(stride, 2, "conv2d", "stride"), "conv2d")
    return conv_nd(input, weight, bias, stride, pads, dilation, groups, 2, "conv2d")


def causal_conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """Causal 1-D convolution (the notes' convolutional autoregressive models; a chainrule extension).

    The input is padded with δ (k - 1) zeros on the left only, so the output
    keeps the length L and y[t] depends on x[t], x[t - δ], ..., x[t - δ (k - 1)]
    — never on inputs after t.  input (N, C_in, L) -> (N, C_out, L).
    """
    if weight.ndim != 3:
        raise ValueError(f"causal_conv1d: expected a 3-D weight (C_out, C_in/groups, k), got {tuple(weight.shape)}")
    dl = int(dilation)
    pads = ((dl * (weight.shape[2] - 1), 0),)
    return conv_nd(input, weight, bias, 1, pads, dl, groups, 1, "causal_conv1d")
