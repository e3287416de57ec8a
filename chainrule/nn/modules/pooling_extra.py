"""AdaptiveMaxPool1d/2d, LPPool1d/2d/3d and LocalResponseNorm (formulas in
``chainrule.nn.functional.pooling_extra``)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import pooling_extra as P
from chainrule.nn.functional.pooling_extra import adaptive_max_pool1d, adaptive_max_pool2d
from chainrule.nn.module import Module

__all__ = ["AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d", "LPPool3d", "LocalResponseNorm"]


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


class _LPPoolNd(Module):
    _d = 1

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return P._lp_pool(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode, self._d,
                          type(self).__name__)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """(Σ_window x^p)^(1/p) over windows of length k."""

    _d = 1


class LPPool2d(_LPPoolNd):
    """(Σ_window x^p)^(1/p) over kh×kw windows."""

    _d = 2


class LPPool3d(_LPPoolNd):
    """(Σ_window x^p)^(1/p) over kd×kh×kw windows."""

    _d = 3


class LocalResponseNorm(Module):
    """``LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1.0)``: each channel divided by
    (k + α/n Σ_window a²)^β over the ``size`` neighbouring channels."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return P.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
