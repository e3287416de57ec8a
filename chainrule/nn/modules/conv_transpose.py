"""ConvTranspose1d and ConvTranspose2d (PyTorch's arguments, attributes and parameter layout).

``weight`` (in_channels, out_channels / groups, *kernel_size), ``bias`` (out_channels,); both start
U(-1/√fan_in, 1/√fan_in) with fan_in = out_channels / groups · Π kernel_size (PyTorch computes the
fan from the weight's dim 1).  forward(input, output_size=None): ``output_size`` picks the
output_padding that gives that size (a strided convolution maps several sizes to one).
Formulas in ``chainrule.nn.functional.conv_transpose``.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.backend.device import check_device
from chainrule.nn.functional.conv import ntuple
from chainrule.nn.functional.conv_transpose import conv_transpose_nd
from chainrule.nn.module import Module
from chainrule.nn.modules.conv import check_conv_groups, conv_extra_repr, make_conv_parameters, reset_conv_parameters

__all__ = ["ConvTranspose1d", "ConvTranspose2d"]


class _ConvTransposeNd(Module):
    _d = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        name = type(self).__name__
        check_device(device, name)
        super().__init__()
        d = self._d
        check_conv_groups(name, groups, in_channels, out_channels)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: Only \"zeros\" padding mode is supported for {name}, got {padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = ntuple(kernel_size, d, name, "kernel_size")
        self.stride = ntuple(stride, d, name, "stride")
        self.padding = ntuple(padding, d, name, "padding")
        self.output_padding = ntuple(output_padding, d, name, "output_padding")
        self.dilation = ntuple(dilation, d, name, "dilation")
        self.padding_mode = padding_mode
        self.transposed = True
        make_conv_parameters(self, (self.in_channels, self.out_channels // self.groups) + self.kernel_size, bias,
                             dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight, bias ~ U(-1/√fan_in, 1/√fan_in), fan_in = out_channels / groups · Π kernel_size."""
        reset_conv_parameters(self)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple:
        if output_size is None:
            return self.output_padding
        d, name = self._d, type(self).__name__
        size = tuple(int(v) for v in output_size)[-d:]
        if len(size) != d:
            raise ValueError(f"{name}: output_size must have {d} or {d + 2} elements, got {output_size!r}")
        spatial = tuple(input.shape[-d:])
        pads = []
        for a in range(d):
            lo = ((spatial[a] - 1) * self.stride[a] - 2 * self.padding[a]
                  + self.dilation[a] * (self.kernel_size[a] - 1) + 1)
            hi = lo + max(self.stride[a], self.dilation[a]) - 1
            if not lo <= size[a] <= hi:
                raise ValueError(f"{name}: requested an output size of {size}, but valid sizes range from "
                                 f"{lo} to {hi} (for an input of {spatial}) in dimension {a}")
            pads.append(size[a] - lo)
        return tuple(pads)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return conv_transpose_nd(input, self.weight, self.bias, self.stride, self.padding,
                                 self._output_padding(input, output_size), self.groups, self.dilation, self._d,
                                 type(self).__name__)

    def extra_repr(self) -> str:
        return conv_extra_repr(self)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: (N, C_in, L) -> (N, C_out, (L-1)s - 2p + δ(k-1) + output_padding + 1)."""
    _d = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out) (the "deconvolution" of
    decoders and GAN generators)."""
    _d = 2
