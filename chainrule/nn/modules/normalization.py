"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm.

Batch norm (the notes): per channel, μ_B and σ²_B over the mini-batch (and
the spatial positions), ẑ = (z - μ_B)/sqrt(σ²_B + ε), output γ ẑ + β.

* training: batch statistics (biased σ²_B) normalise; the buffers
  ``running_mean`` and ``running_var`` move towards μ_B and the *unbiased*
  variance σ²_B·m/(m - 1): running = (1 - momentum)·running + momentum·batch,
  with momentum = 1/num_batches_tracked (a cumulative average) when
  ``momentum=None``; ``num_batches_tracked`` counts the updates;
* eval: the running statistics normalise (a fixed affine map per channel);
* ``weight`` γ starts at 1 and ``bias`` β at 0, both (num_features,).

Layer norm normalises each sample over its trailing ``normalized_shape``.
"""

from __future__ import annotations

from typing import Any, Container

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype, to_numpy_dtype
from chainrule.backend.device import check_device
from chainrule.nn.functional.normalization import batch_norm, layer_norm
from chainrule.nn.module import Module
from chainrule.nn.modules._elsewhere import reexports
from chainrule.nn.parameter import Parameter
from chainrule.ops.creation import ones, tensor, zeros

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _dtype(dtype: Any) -> np.dtype:
    return to_numpy_dtype(dtype) if dtype is not None else get_default_dtype()


def affine_parameters(module: Module, shape: Any, dtype: Any, affine: bool, bias: bool) -> None:
    """A normalisation layer's ``weight`` γ (ones) and ``bias`` β (zeros) of ``shape`` when
    ``affine``; ``bias=False`` drops β (PyTorch's keyword); absent ones are registered as None."""
    module.register_parameter("weight", Parameter(ones(shape, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(zeros(shape, dtype=dtype)) if affine and bias else None)


def reset_affine(module: Module) -> None:
    """γ ← 1, β ← 0 (those that exist)."""
    if module.weight is not None:
        module.weight._array[...] = 1
    if module.bias is not None:
        module.bias._array[...] = 0


class _BatchNorm(Module):
    _layer = "BatchNorm"
    _ndims: Container[int] = ()  # the input ndims allowed (a tuple, or a range for "at least k")
    _dims_text = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = _dtype(dtype)
        affine_parameters(self, self.num_features, dt, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features, dtype=dt))
            self.register_buffer("running_var", ones(self.num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        reset_affine(self)

    def _check_input(self, input: Tensor) -> None:
        """Raise unless ``input`` is a Tensor with an allowed ndim and ``num_features`` channels in dim 1.

        Shared by the BatchNorm layers and SyncBatchNorm; the messages name ``_layer`` and ``_dims_text``.
        """
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._layer}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in self._ndims:
            raise ValueError(f"{self._layer}: expected {self._dims_text} input, got shape {tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self._layer}: expected input with {self.num_features} channels (dim 1), "
                             f"got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._array[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked._array)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
            self._layer,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, statistics per channel C."""

    _layer = "BatchNorm1d"
    _ndims = (2, 3)
    _dims_text = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, statistics per channel over N·H·W values."""

    _layer = "BatchNorm2d"
    _ndims = (4,)
    _dims_text = "4-D (N, C, H, W)"


class LayerNorm(Module):
    """ẑ = (z - μ)/sqrt(σ² + ε) over the trailing ``normalized_shape`` dims, then γ ẑ + β.

    ``weight`` γ (ones) and ``bias`` β (zeros) have shape ``normalized_shape``
    (when ``elementwise_affine``; ``bias=False`` drops β).
    """

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        check_device(device, type(self).__name__)
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        affine_parameters(self, self.normalized_shape, _dtype(dtype), elementwise_affine, bias)

    def reset_parameters(self) -> None:
        reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm: expected input with shape (*, {', '.join(map(str, self.normalized_shape))}),"
                             f" got {tuple(input.shape)}")
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps, "LayerNorm")

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

# PyTorch keeps these classes in torch.nn.modules.normalization; chainrule defines them in the files
# named here, which import this one: served on first use (see _elsewhere.py).
__getattr__ = reexports(__name__, {
    "GroupNorm": "chainrule.nn.modules.normalization_extra",
    "LocalResponseNorm": "chainrule.nn.modules.pooling_extra",
    "CrossMapLRN2d": "chainrule.nn.modules.pooling_extra",
    "RMSNorm": "chainrule.nn.modules.normalization_extra",
})
