"""3-D layers: Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d
(the d = 3 forms of the N-d convolution and pooling layers; PyTorch's arguments and parameters)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import three_d as F
from chainrule.nn.module import Module
from chainrule.nn.modules.conv import _ConvNd
from chainrule.nn.modules.conv_transpose import _ConvTransposeNd
from chainrule.nn.modules.pooling import _AvgPoolNd, _MaxPoolNd
from chainrule.nn.modules.pooling_extra import AdaptiveMaxPool1d

__all__ = ["AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "AvgPool3d", "Conv3d", "ConvTranspose3d", "MaxPool3d"]


class Conv3d(_ConvNd):
    """3-D convolution: (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out); weight
    (C_out, C_in / groups, kd, kh, kw)."""

    _d = 3
    _layer = "Conv3d"


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution; weight (C_in, C_out / groups, kd, kh, kw)."""

    _d = 3


class MaxPool3d(_MaxPoolNd):
    """Max over kd×kh×kw windows; stride defaults to kernel_size."""

    _d = 3
    _layer = "MaxPool3d"


class AvgPool3d(_AvgPoolNd):
    """Mean over kd×kh×kw windows."""

    _d = 3
    _layer = "AvgPool3d"


class AdaptiveAvgPool3d(Module):
    """(N, C, D, H, W) -> (N, C, *output_size) by the mean over adaptive bins."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool3d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(AdaptiveMaxPool1d):
    """(N, C, D, H, W) -> (N, C, *output_size) by the max over adaptive windows."""

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)
