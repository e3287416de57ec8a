"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d (no parameters).

Sizes and semantics are those of ``chainrule.nn.functional.pooling`` (PyTorch's).
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import pooling as P  # the submodule (no function has that name)
from chainrule.nn.module import Module
from chainrule.nn.modules._elsewhere import reexports

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"]


class _MaxPoolNd(Module):
    _d = 2
    _layer = "MaxPool"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return P._max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                           self.return_indices, self._d, self._layer)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of length k: (N, C, L) -> (N, C, L_out); stride defaults to kernel_size."""

    _d = 1
    _layer = "MaxPool1d"


class MaxPool2d(_MaxPoolNd):
    """Max over kh×kw windows: (N, C, H, W) -> (N, C, H_out, W_out), H_out = (H + 2p - δ(kh-1) - 1)//s + 1.

    The gradient of each window goes to its (first) maximum.
    """

    _d = 2
    _layer = "MaxPool2d"


class _AvgPoolNd(Module):
    _d = 2
    _layer = "AvgPool"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return P._avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override, self._d, self._layer)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of length k: (N, C, L) -> (N, C, L_out)."""

    _d = 1
    _layer = "AvgPool1d"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over kh×kw windows: (N, C, H, W) -> (N, C, H_out, W_out) (zeros of the padding
    count in the mean when count_include_pad=True)."""

    _d = 2
    _layer = "AvgPool2d"


class AdaptiveAvgPool1d(Module):
    """(N, C, L) -> (N, C, output_size): mean over bins [floor(i·L/out), ceil((i+1)·L/out))."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return P.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(Module):
    """(N, C, H, W) -> (N, C, out_h, out_w): mean over PyTorch's adaptive bins (None keeps that size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return P.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

# PyTorch keeps these classes in torch.nn.modules.pooling; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "AdaptiveAvgPool3d": "chainrule.nn.modules.three_d",
    "AdaptiveMaxPool1d": "chainrule.nn.modules.pooling_extra",
    "AdaptiveMaxPool2d": "chainrule.nn.modules.pooling_extra",
    "AdaptiveMaxPool3d": "chainrule.nn.modules.three_d",
    "AvgPool3d": "chainrule.nn.modules.three_d",
    "FractionalMaxPool2d": "chainrule.nn.modules.pooling_extra",
    "FractionalMaxPool3d": "chainrule.nn.modules.pooling_extra",
    "LPPool1d": "chainrule.nn.modules.pooling_extra",
    "LPPool2d": "chainrule.nn.modules.pooling_extra",
    "LPPool3d": "chainrule.nn.modules.pooling_extra",
    "MaxPool3d": "chainrule.nn.modules.three_d",
    "MaxUnpool1d": "chainrule.nn.modules.unpool",
    "MaxUnpool2d": "chainrule.nn.modules.unpool",
    "MaxUnpool3d": "chainrule.nn.modules.unpool",
})
