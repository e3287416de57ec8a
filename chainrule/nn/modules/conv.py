"""Convolution layers: Conv1d, Conv2d and CausalConv1d.

PyTorch's constructor arguments, attributes and parameter layout:

* ``weight`` (out_channels, in_channels / groups, *kernel_size), ``bias`` (out_channels,) or None;
* both start as U(-1/√fan_in, 1/√fan_in) with fan_in = in_channels / groups · Π kernel_size
  (PyTorch's kaiming_uniform_(a=√5), which works out to that bound);
* attributes ``in_channels``, ``out_channels``, ``kernel_size``, ``stride``,
  ``padding``, ``dilation``, ``groups`` (tuples like PyTorch's), used by
  layer statistics: a conv layer with I input and J output channels, a K×K
  kernel and a W×H output has K²·I·J/groups weights, W·H·J output units and
  W·H·K²·I·J/groups connections (the notes' table, with groups).

``padding_mode``: 'zeros' (the convolution pads), or 'reflect', 'replicate', 'circular' (the
input is padded by ``F.pad`` in that mode first, then convolved without padding, as PyTorch).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn import init
from chainrule.nn.functional.conv import conv_nd, fold, ntuple, resolve_padding, unfold
from chainrule.nn.functional.padding import pad
from chainrule.nn.module import Module
from chainrule.nn.modules._elsewhere import reexports
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import empty

__all__ = ["CausalConv1d", "Conv1d", "Conv2d", "Fold", "Unfold"]


def reset_conv_parameters(m: Module) -> None:
    """Draw ``m.weight`` and ``m.bias`` (if not None) from U(-1/√fan_in, 1/√fan_in), weight first.

    fan_in = weight.shape[1] · Π kernel_size, as PyTorch computes it: in_channels / groups for a
    convolution (weight (C_out, C_in / groups, *k)), out_channels / groups for a transposed one
    (weight (C_in, C_out / groups, *k)).  Shared by ``_ConvNd`` and ``_ConvTransposeNd``.
    """
    shape = m.weight.shape
    fan_in = shape[1] * math.prod(shape[2:])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(m.weight, -bound, bound)
    if m.bias is not None:
        init.uniform_(m.bias, -bound, bound)


def check_conv_groups(name: str, groups: int, in_channels: int, out_channels: int) -> None:
    """A (transposed) convolution's ``groups`` must divide both channel counts (ValueError)."""
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"{name}: groups={groups} must divide in_channels ({in_channels}) "
                         f"and out_channels ({out_channels})")


def make_conv_parameters(m: Module, weight_shape: tuple, bias: bool, dtype: Any) -> None:
    """Give ``m`` its ``weight`` of ``weight_shape`` and its ``bias`` (out_channels,), or a None
    bias, in ``dtype`` (None: the default dtype), their values not set yet (``reset_parameters``
    draws them).  Shared by ``_ConvNd`` and ``_ConvTransposeNd``."""
    dt = to_numpy_dtype(dtype) if dtype is not None else get_default_dtype()
    m.weight = Parameter(empty(weight_shape, dtype=dt))
    if bias:
        m.bias = Parameter(empty(m.out_channels, dtype=dt))
    else:
        m.register_parameter("bias", None)


def conv_extra_repr(m: Module) -> str:
    """PyTorch's ``extra_repr`` of a (transposed) convolution: the arguments that differ from the defaults.

    ``output_padding`` appears only when it is not all zeros (always zeros for a plain convolution).
    """
    d = m._d
    s = f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}"
    if m.padding != (0,) * d:
        s += f", padding={m.padding!r}"
    if m.output_padding != (0,) * d:
        s += f", output_padding={m.output_padding}"
    if m.dilation != (1,) * d:
        s += f", dilation={m.dilation}"
    if m.groups != 1:
        s += f", groups={m.groups}"
    if m.bias is None:
        s += ", bias=False"
    return s


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared constructor and initialisation of Conv1d / Conv2d (d spatial dims)."""

    _d = 2
    _layer = "Conv"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        d, name = self._d, self._layer
        check_conv_groups(name, groups, in_channels, out_channels)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = ntuple(kernel_size, d, name, "kernel_size")
        self.stride = ntuple(stride, d, name, "stride")
        self.dilation = ntuple(dilation, d, name, "dilation")
        self.padding = padding if isinstance(padding, str) else ntuple(padding, d, name, "padding")
        self._pads = resolve_padding(padding, d, self.kernel_size, self.dilation, self.stride, name)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        self.transposed = False
        self.output_padding = (0,) * d
        make_conv_parameters(self, (self.out_channels, self.in_channels // self.groups) + self.kernel_size, bias,
                             dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight, bias ~ U(-1/√fan_in, 1/√fan_in), fan_in = in_channels / groups · Π kernel_size."""
        reset_conv_parameters(self)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":  # (pad by the mode first, then convolve without padding, as PyTorch)
            flat = tuple(p for before_after in reversed(self._pads) for p in before_after)  # (last dim first)
            return conv_nd(pad(input, flat, mode=self.padding_mode), self.weight, self.bias, self.stride,
                           ((0, 0),) * self._d, self.dilation, self.groups, self._d, self._layer)
        return conv_nd(input, self.weight, self.bias, self.stride, self._pads, self.dilation, self.groups,
                       self._d, self._layer)

    def extra_repr(self) -> str:
        s = conv_extra_repr(self)
        return s if self.padding_mode == "zeros" else s + f", padding_mode={self.padding_mode}"


class Conv1d(_ConvNd):
    """1-D convolution: (N, C_in, L) -> (N, C_out, L_out), L_out = (L + 2 pad - δ (k - 1) - 1) // s + 1.

    weight (C_out, C_in / groups, k), bias (C_out,).  ``padding``: int, 'same' or 'valid'.
    """

    _d = 1
    _layer = "Conv1d"


class Conv2d(_ConvNd):
    """2-D convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = (H + 2 pad - δ (kh - 1) - 1) // s + 1 (the notes' (H - K + 2 pad)/s + 1), same for W.

    weight (C_out, C_in / groups, kh, kw), bias (C_out,).  ``padding``: int, pair, 'same' or 'valid'.
    """

    _d = 2
    _layer = "Conv2d"


class CausalConv1d(Conv1d):
    """Causal (optionally dilated) 1-D convolution for autoregressive sequence models (a chainrule layer).

    Pads δ (k - 1) zeros on the left only, so (N, C_in, L) -> (N, C_out, L) and
    the output at time t depends only on inputs at t, t - δ, ..., t - δ (k - 1):
    the notes' causal convolution ("each prediction only depends on earlier
    inputs").  Stacking layers with dilations 1, 2, 4, ... grows the receptive
    field exponentially (the notes' dilated convolutions): 1 + Σ_l δ_l (k - 1).
    """

    _layer = "CausalConv1d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, 1, 0, dilation, groups, bias, "zeros",
                         device, dtype)
        self.causal_padding = self.dilation[0] * (self.kernel_size[0] - 1)
        self._pads = ((self.causal_padding, 0),)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", causal_padding={self.causal_padding}"


class Unfold(Module):
    """im2col as a layer: (N, C, H, W) -> (N, C·kh·kw, L) (see ``nn.functional.unfold``)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """col2im as a layer: (N, C·kh·kw, L) -> (N, C, H, W), overlaps summed (see ``nn.functional.fold``)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

# PyTorch keeps these classes in torch.nn.modules.conv; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "Conv3d": "chainrule.nn.modules.three_d",
    "ConvTranspose1d": "chainrule.nn.modules.conv_transpose",
    "ConvTranspose2d": "chainrule.nn.modules.conv_transpose",
    "ConvTranspose3d": "chainrule.nn.modules.three_d",
    **{f"Lazy{c}{d}d": "chainrule.nn.modules.lazy" for c in ("Conv", "ConvTranspose") for d in (1, 2, 3)},
})
