"""Dropout layers: Dropout, Dropout1d, Dropout2d (inverted dropout; identity in eval mode).

In training each unit (Dropout) or each whole channel (Dropout1d/2d) is kept
with probability 1 - p and scaled by 1/(1 - p); ``model.eval()`` turns them off.
"""

from __future__ import annotations

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.dropout import _check_p, dropout, dropout1d, dropout2d
from chainrule.nn.functional.dropout_extra import alpha_dropout, dropout3d, feature_alpha_dropout
from chainrule.nn.module import Module

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    _layer = "Dropout"

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = _check_p(p, self._layer)
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """y = x · mask / (1 - p), mask_i ~ Bernoulli(1 - p), in training; y = x in eval."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) inputs in training."""

    _layer = "Dropout1d"

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole feature maps of (N, C, H, W) inputs in training."""

    _layer = "Dropout2d"

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole 3-D feature maps of (N, C, D, H, W) inputs in training."""

    _layer = "Dropout3d"

    def forward(self, input: Tensor) -> Tensor:
        return dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Alpha dropout (keeps SELU activations standardised) in training; identity in eval."""

    _layer = "AlphaDropout"

    def forward(self, input: Tensor) -> Tensor:
        return alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels in training; identity in eval."""

    _layer = "FeatureAlphaDropout"

    def forward(self, input: Tensor) -> Tensor:
        return feature_alpha_dropout(input, self.p, self.training, self.inplace)
