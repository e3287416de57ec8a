"""GroupNorm, InstanceNorm1d/2d/3d and RMSNorm layers (PyTorch's names, arguments, parameters and buffers).

Formulas in ``chainrule.nn.functional.normalization_extra``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn.functional import normalization_extra as F
from chainrule.nn.module import Module
from chainrule.nn.modules.normalization import _BatchNorm, affine_parameters, reset_affine
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import ones, tensor, zeros

__all__ = ["BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm"]


class BatchNorm3d(_BatchNorm):
    """Batch norm of (N, C, D, H, W) input: statistics per channel over the batch and the volume."""

    _layer = "BatchNorm3d"
    _ndims = (5,)
    _dims_text = "5-D (N, C, D, H, W)"


def _dt(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else to_numpy_dtype(dtype)


class GroupNorm(Module):
    """``GroupNorm(num_groups, num_channels, eps=1e-5, affine=True, *, bias=True)``: input (N, C, *);
    ``weight`` (ones) and ``bias`` (zeros) of shape (C,) when ``affine`` (no ``bias`` with bias=False)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        check_device(device, "GroupNorm")
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        affine_parameters(self, num_channels, _dt(dtype), affine, bias)

    def reset_parameters(self) -> None:
        reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *), got {tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    _d = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        name = type(self).__name__
        check_device(device, name)
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = _dt(dtype)
        affine_parameters(self, num_features, dt, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dt))
            self.register_buffer("running_var", ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, input: Tensor) -> Tensor:
        name = type(self).__name__
        d = self._d
        if input.ndim not in (d + 1, d + 2):
            raise ValueError(f"{name}: expected {d + 1}-D (unbatched) or {d + 2}-D input, got {tuple(input.shape)}")
        unbatched = input.ndim == d + 1
        x = input.unsqueeze(0) if unbatched else input
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(f"{name}: expected input with {self.num_features} channels (dim "
                             f"{0 if unbatched else 1}), got {tuple(input.shape)}")
        use_input_stats = self.training or not self.track_running_stats
        # (num_batches_tracked exists for state_dict compatibility; PyTorch's instance norm never counts)
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                            self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L) input; affine and running statistics off by default."""
    _d = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W) input; affine and running statistics off by default."""
    _d = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of (N, C, D, H, W) or (C, D, H, W) input."""
    _d = 3


class RMSNorm(Module):
    """``RMSNorm(normalized_shape, eps=None, elementwise_affine=True)``: x / sqrt(mean(x²) + ε) · γ,
    γ (``weight``, ones) of shape ``normalized_shape``."""

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        check_device(device, "RMSNorm")
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=_dt(dtype)))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight._array[...] = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
