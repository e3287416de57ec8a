"""Group, instance and RMS normalisation (PyTorch's ``group_norm``, ``instance_norm``, ``rms_norm``).

Group and instance norm standardise with the fused ``Normalize`` primitive of
``chainrule.nn.functional.normalization`` (biased variance, ẑ = (z - μ)/sqrt(σ² + ε)), over

* ``group_norm``: the C/G channels of each group and all spatial positions, per sample;
* ``instance_norm``: the spatial positions of each channel of each sample;

then scale and shift per channel (γ_c ẑ + β_c).  RMS norm does not centre:
y = x / sqrt(mean(x²) + ε) · γ over the trailing ``normalized_shape``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.primitive import apply1
from chainrule.autograd.tensor import Tensor
from chainrule.nn.functional.normalization import Normalize
from chainrule.ops import elementwise as ew
from chainrule.ops import reduction as rd
from chainrule.ops import shape as sh

__all__ = ["group_norm", "instance_norm", "rms_norm"]


def _channel_affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, name: str) -> Tensor:
    C = y.shape[1]
    shape = (C,) + (1,) * (y.ndim - 2)
    for what, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != (C,):
            raise RuntimeError(f"{name}: expected {what} of shape ({C},) for input {tuple(y.shape)}, "
                               f"got {tuple(p.shape)}")
    if weight is not None:
        y = y * sh.reshape(weight, shape)
    if bias is not None:
        y = y + sh.reshape(bias, shape)
    return y


def _float(input: Any, name: str) -> Tensor:
    if not isinstance(input, Tensor) or input._array.dtype.kind != "f":
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"{name}: expected a floating-point Tensor, got {got}")
    return input


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """input (N, C, *) with C divisible by ``num_groups`` G: each sample's channels split into G groups,
    each group standardised over its channels and positions; weight, bias (C,)."""
    name = "group_norm"
    x = _float(input, name)
    if x.ndim < 2:
        raise RuntimeError(f"{name}: expected input of shape (N, C, *), got {tuple(x.shape)}")
    N, C = x.shape[0], x.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(f"{name}: Expected number of channels in input ({C}) to be divisible by num_groups "
                           f"({num_groups}); input shape {tuple(x.shape)}")
    z = sh.reshape(x, (N, num_groups, (C // num_groups) * math.prod(x.shape[2:])))
    z = apply1(Normalize((2,), eps), z)
    return _channel_affine(sh.reshape(z, tuple(x.shape)), weight, bias, name)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """input (N, C, *spatial): each (sample, channel) standardised over its positions.

    With ``use_input_stats`` (training, or no running statistics) the instance statistics are used
    and, when given, ``running_mean``/``running_var`` (C,) move towards their batch averages (the
    variance unbiased): running = (1 - momentum)·running + momentum·batch.  Otherwise the running
    statistics normalise."""
    name = "instance_norm"
    x = _float(input, name)
    if x.ndim < 3:
        raise RuntimeError(f"{name}: expected input of shape (N, C, *spatial) with a spatial dimension, "
                           f"got {tuple(x.shape)}")
    axes = tuple(range(2, x.ndim))
    if use_input_stats:
        m = math.prod(x.shape[2:])
        if m <= 1:
            raise ValueError(f"{name}: Expected more than 1 spatial element when training, got input size "
                             f"{tuple(x.shape)}")
        if running_mean is not None or running_var is not None:
            with no_grad():
                mean = x._array.mean(axis=axes)
                var = x._array.var(axis=axes) * m / (m - 1)
                if running_mean is not None:
                    running_mean._array[...] = (1 - momentum) * running_mean._array + momentum * mean.mean(0)
                if running_var is not None:
                    running_var._array[...] = (1 - momentum) * running_var._array + momentum * var.mean(0)
        y = apply1(Normalize(axes, eps), x)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(f"{name}: use_input_stats=False needs running_mean and running_var")
        shape = (x.shape[1],) + (1,) * (x.ndim - 2)
        with no_grad():  # constants: no gradient reaches the statistics
            mean = running_mean.reshape(shape).to(x.dtype)
            inv = (1.0 / (running_var + eps).sqrt()).reshape(shape).to(x.dtype)
        y = (x - mean) * inv
    return _channel_affine(y, weight, bias, name)


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """y = x / sqrt(mean(x²) + ε) · γ over the trailing ``normalized_shape`` dims; ε defaults to the
    dtype's machine epsilon (as PyTorch)."""
    name = "rms_norm"
    x = _float(input, name)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise RuntimeError(f"{name}: expected input with shape (*, {', '.join(map(str, shape))}), "
                           f"got {tuple(x.shape)}")
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(f"{name}: expected weight of shape {shape}, got {tuple(weight.shape)}")
    e = float(np.finfo(x._array.dtype).eps) if eps is None else float(eps)
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x * ew.pow(rd.mean(x * x, axes, True) + e, -0.5)
    return y if weight is None else y * weight
