"""AdaptiveMaxPool1d and AdaptiveMaxPool2d (formulas in ``chainrule.nn.functional.pooling_extra``)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.pooling_extra import adaptive_max_pool1d, adaptive_max_pool2d
from chainrule.nn.module import Module

__all__ = ["AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]


class AdaptiveMaxPool1d(Module):
    """(N, C, L) -> (N, C, output_size) by max over adaptive windows; ``return_indices`` also returns
    the argmax positions."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor) -> Any:
        return adaptive_max_pool1d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """(N, C, H, W) -> (N, C, *output_size) by max over adaptive windows."""

    def forward(self, input: Tensor) -> Any:
        return adaptive_max_pool2d(input, self.output_size, self.return_indices)
