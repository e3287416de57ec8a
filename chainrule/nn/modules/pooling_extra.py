"""AdaptiveMaxPool1d/2d, LPPool1d/2d/3d and LocalResponseNorm (formulas in
``chainrule.nn.functional.pooling_extra``)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional import fractional_pool as FP
from chainrule.nn.functional import pooling_extra as P
from chainrule.nn.functional.padding import pad
from chainrule.nn.functional.pooling_extra import adaptive_max_pool1d, adaptive_max_pool2d
from chainrule.nn.module import Module

__all__ = [
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "CrossMapLRN2d", "FractionalMaxPool2d", "FractionalMaxPool3d",
    "LPPool1d", "LPPool2d", "LPPool3d", "LocalResponseNorm",
]


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


class CrossMapLRN2d(Module):
    """``CrossMapLRN2d(size, alpha=1e-4, beta=0.75, k=1)``: Lua Torch's local response
    normalisation across the channels of a 4-D input (N, C, H, W), as PyTorch computes it:

        y_c = x_c · (k + α/size · Σ_{c' ∈ W(c)} x_{c'}²)^(-β),
        W(c) = [c - h, c + h] ∩ [0, C) ∪ {0},   h = ⌊(size - 1)/2⌋.

    The window is symmetric around c (2h + 1 channels, cut at the edges), so for odd ``size``
    it is ``LocalResponseNorm``'s, and for even ``size`` one channel shorter.  Channel 0 stays
    in every window: PyTorch's running sum never takes it out again (its loop removes channel
    c - h - 1 only from c = h + 2 on), and chainrule gives the same numbers.  The gradient is
    the exact derivative of this forward (composed from differentiable ops); PyTorch's
    hand-written backward does not pass PyTorch's own ``gradcheck`` (tried with size 3 on 2 and 5
    channels) and raises for size 1, so only the values are compared with PyTorch.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D (N, C, H, W), got {input.ndim}D instead "
                             f"(shape {tuple(input.shape)})")
        h, C = (self.size - 1) // 2, input.shape[1]
        sq = input * input
        padded = pad(sq, (0, 0, 0, 0, h, h))
        total = padded[:, 0:C]
        for j in range(1, 2 * h + 1):
            total = total + padded[:, j:j + C]
        if C > h + 1:  # channel 0 in the windows of channels h + 1, ..., C - 1 too (see above)
            first = sq[:, 0:1].expand(input.shape[0], C - h - 1, input.shape[2], input.shape[3])
            total = total + pad(first, (0, 0, 0, 0, h + 1, 0))
        return input * (self.k + (self.alpha / self.size) * total) ** (-self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _FractionalMaxPoolNd(Module):
    _d = 2

    def __init__(self, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                 return_indices: bool = False, _random_samples: Tensor | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        d = self._d
        self.kernel_size = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * d
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = (None if output_size is None else tuple(output_size)
                            if isinstance(output_size, (tuple, list)) else (output_size,) * d)
        self.output_ratio = (None if output_ratio is None else tuple(output_ratio)
                             if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * d)
        if self.output_size is None and self.output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling ratio")
        if self.output_size is not None and self.output_ratio is not None:
            raise ValueError(f"{name}: only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1 (got {output_ratio!r})")

    def forward(self, input: Tensor) -> Any:
        fn = FP.fractional_max_pool2d if self._d == 2 else FP.fractional_max_pool3d
        return fn(input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
                  _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """``FractionalMaxPool2d(kernel_size, output_size=None, output_ratio=None, return_indices=False,
    _random_samples=None)``: (N, C, H, W) or (C, H, W) -> (…, oH, oW), the maximum over
    pseudo-random kh×kw windows (formulas in :mod:`chainrule.nn.functional.fractional_pool`)."""

    _d = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """``FractionalMaxPool3d(kernel_size, output_size=None, output_ratio=None, return_indices=False,
    _random_samples=None)``: (N, C, T, H, W) or (C, T, H, W) -> (…, oT, oH, oW)."""

    _d = 3
