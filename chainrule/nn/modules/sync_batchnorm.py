"""SyncBatchNorm: batch norm whose batch statistics are those of the whole global batch.

With data parallelism each rank sees only its share of a batch: a plain BatchNorm
would normalise with the statistics of B samples, the single-process model with
those of N·B. SyncBatchNorm all-reduces, per channel, the sum Σx, the sum of
squares Σx² and the count m of the values over every rank (one MPI all-reduce
of 2C + 1 numbers), so that

    μ = Σx / m,   σ² = Σx² / m - μ²,   ẑ = (x - μ) / sqrt(σ² + ε),   y = γ ẑ + β

are those of the global batch. Its backward needs the global Σ_r Σ g and
Σ_r Σ g ẑ (one more all-reduce of 2C numbers, as PyTorch's):

    dL/dx = γ s (g - (Σ_r Σ g)/m - ẑ (Σ_r Σ g ẑ)/m),   s = 1/sqrt(σ² + ε),

while dL/dγ = Σ g ẑ and dL/dβ = Σ g stay this rank's sums (DistributedDataParallel
averages them with the other parameters' gradients). Outside a process group (or
in eval mode) it is a plain BatchNorm.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.primitive import Primitive, apply
from chainrule.autograd.tensor import Tensor
from chainrule.backend import ArrayMath as _HOST
from chainrule.backend import registry
from chainrule.nn.functional.normalization import check_norm_dtypes
from chainrule.nn.module import Module
from chainrule.nn.modules.normalization import _BatchNorm
from chainrule.ops.creation import ones, zeros

__all__ = ["SyncBatchNorm"]


class SyncBatchNormTrain(Primitive):
    """Training-mode batch norm over the global batch: see the module docstring for the formulas."""

    __slots__ = ("axes", "eps", "group", "count", "mean", "var", "inv", "xhat")
    name = "sync_batch_norm"
    saves_inputs = (1,)  # the vjp reads γ (and its own saved ẑ, s), not x's values
    saves_output = False

    def __init__(self, axes: tuple, eps: float, group: Any) -> None:
        self.axes = axes
        self.eps = eps
        self.group = group

    def forward(self, m, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        from chainrule import distributed as dist

        c = x.shape[1]
        # MPI reduces host memory: the 2C + 1 float64 sums (Σx, Σx², m) travel through the host
        stats = registry.to_host(m.batch_sums(x, self.axes))
        dist._all_reduce_array(stats, dist.ReduceOp.SUM, self.group)
        n = stats[2 * c]
        mean = stats[:c] / n
        var = _HOST.maximum(stats[c : 2 * c] / n - mean * mean, 0.0)
        shape = (c,) + (1,) * (x.ndim - 2)
        inv = m.from_host((1.0 / _HOST.sqrt(var + self.eps)).astype(x.dtype).reshape(shape))
        xhat = (x - m.from_host(mean.astype(x.dtype).reshape(shape))) * inv
        self.count, self.mean, self.var, self.inv, self.xhat = n, m.from_host(mean), m.from_host(var), inv, xhat
        return xhat * w.reshape(shape) + b.reshape(shape)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, x: Any, w: Any, b: Any) -> tuple:
        if m.is_tensor:
            raise RuntimeError("SyncBatchNorm: double backward (create_graph=True) is not supported")
        from chainrule import distributed as dist

        a = self.axes
        c = w.shape[0]
        gb = g.sum(axis=a)  # Σ g, this rank
        gw = (g * self.xhat).sum(axis=a)  # Σ g ẑ, this rank
        gx = None
        if need[0]:
            sums = registry.to_host(m.concatenate([gb, gw])).astype(np.float64)
            dist._all_reduce_array(sums, dist.ReduceOp.SUM, self.group)
            shape = (c,) + (1,) * (g.ndim - 2)
            mean_g = m.from_host((sums[:c] / self.count).astype(g.dtype).reshape(shape))
            mean_gx = m.from_host((sums[c:] / self.count).astype(g.dtype).reshape(shape))
            gx = (w.reshape(shape) * self.inv) * (g - mean_g - self.xhat * mean_gx)
        return (gx, gw if need[1] else None, gb if need[2] else None)

    def jvp(self, m: Any, dxs: tuple, y: Any, x: Any, w: Any, b: Any) -> Any:
        raise RuntimeError("SyncBatchNorm: forward-mode differentiation is not supported")


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) inputs with the statistics of the batch of *all* ranks.

    PyTorch's constructor (``process_group``: None = the default group). In training
    mode inside a process group of more than one rank, μ and σ² are the global
    batch's (see the module docstring); the running statistics are updated with them
    (the unbiased variance uses the global count), so they stay equal on every rank.
    Otherwise it is ``BatchNorm``. ``convert_sync_batchnorm`` turns a model's
    BatchNorm layers into SyncBatchNorm ones.
    """

    _layer = "SyncBatchNorm"
    _ndims = range(2, 65)  # any ndim NumPy allows from 2 up: _BatchNorm._check_input tests ``ndim in _ndims``
    _dims_text = "at least 2-D (N, C, *)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def forward(self, input: Tensor) -> Tensor:
        from chainrule import distributed as dist

        sync = self.training and dist.is_initialized() and dist.get_world_size(self.process_group) > 1
        if not sync:
            return super().forward(input)
        self._check_input(input)
        _, _, w, b = check_norm_dtypes(
            "SyncBatchNorm",
            input,
            (("running_mean", self.running_mean), ("running_var", self.running_var), ("weight", self.weight),
             ("bias", self.bias)),
            True,
        )
        c = self.num_features
        if w is None:  # affine=False: γ = 1, β = 0 (constants, no gradient)
            w = ones(c, dtype=input.dtype, device=input.device)
            b = zeros(c, dtype=input.dtype, device=input.device)
        if input._array.size == 0:
            raise ValueError(f"SyncBatchNorm: empty input of shape {tuple(input.shape)}")
        axes = (0,) + tuple(range(2, input.ndim))
        op = SyncBatchNormTrain(axes, self.eps, self.process_group)
        y = apply(op, input, w, b)
        if self.track_running_stats:
            self.num_batches_tracked._array[...] += 1
            factor = 1.0 / float(self.num_batches_tracked._array) if self.momentum is None else self.momentum
            count = op.count
            if count <= 1:
                raise ValueError(
                    f"SyncBatchNorm: expected more than 1 value per channel when training, got {int(count)} "
                    "over all ranks"
                )
            with no_grad():
                rm, rv = self.running_mean._array, self.running_var._array
                rm *= 1.0 - factor
                rm += (factor * op.mean).astype(rm.dtype)
                rv *= 1.0 - factor
                rv += (factor * op.var * (count / (count - 1))).astype(rv.dtype)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Return ``module`` with every BatchNorm layer replaced by a SyncBatchNorm sharing its
        parameters and buffers (the module itself when it is such a layer)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(
                module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                process_group,
            )
            with no_grad():
                if module.affine:
                    out.weight = module.weight
                    out.bias = module.bias
                if module.track_running_stats:
                    out.running_mean = module.running_mean
                    out.running_var = module.running_var
                    out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                out.add_module(name, new)
        return out

