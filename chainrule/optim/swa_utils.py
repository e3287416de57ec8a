"""Stochastic weight averaging and exponential moving averages (PyTorch's ``torch.optim.swa_utils``).

SWA (Izmailov et al., 2018) averages the weights visited late in training with equal weights,
W̄ₙ₊₁ = W̄ₙ + (Wₙ₊₁ − W̄ₙ)/(n + 1); an EMA weights them exponentially,
W̄ₙ₊₁ = decay·W̄ₙ + (1 − decay)·Wₙ₊₁.  :class:`AveragedModel` keeps the average in a copy of the
model, :class:`SWALR` anneals the learning rate to a constant one for the averaging phase, and
:func:`update_bn` recomputes the batch-norm statistics of the averaged weights afterwards::

    swa_model = AveragedModel(model)
    swa_sched = SWALR(opt, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, opt)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_sched.step()
    update_bn(loader, swa_model)
"""

from __future__ import annotations

import itertools
import math
from copy import deepcopy
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.modules.normalization import _BatchNorm
from chainrule.ops.creation import tensor
from chainrule.optim.lr_scheduler import LRScheduler, _per_group
from chainrule.optim.optimizer import Optimizer

__all__ = [
    "AveragedModel",
    "SWALR",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

#: One averaging call's tensors (PyTorch's ``PARAM_LIST``).
ParamList = Sequence[Tensor]
AvgFn = Callable[[Tensor, Tensor, Any], Tensor]
MultiAvgFn = Callable[[ParamList, ParamList, Any], None]


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _is_inexact(t: Tensor) -> bool:
    return bool(t.is_floating_point() or t.is_complex())


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """The in-place EMA update of lists of tensors: W̄ ← decay·W̄ + (1 − decay)·W, for ``multi_avg_fn``.

    Args:
        decay: the decay rate, in [0, 1].
    """
    _check_decay(decay)

    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        with no_grad():
            if _is_inexact(ema_param_list[0]):
                for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                    p_ema.lerp_(p_model, 1 - decay)
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The in-place equal-weight update of lists of tensors: W̄ ← W̄ + (W − W̄)/(n + 1), for ``multi_avg_fn``."""

    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList, num_averaged: Any) -> None:
        with no_grad():
            if _is_inexact(averaged_param_list[0]):
                weight = 1.0 / (float(num_averaged) + 1)
                for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                    p_avg.lerp_(p_model, weight)
            else:
                for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                    p_avg.copy_(p_avg + (p_model - p_avg) / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The EMA of one tensor, decay·W̄ + (1 − decay)·W, returned (for ``avg_fn``).

    Args:
        decay: the decay rate, in [0, 1].
    """
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The equal-weight average of one tensor, W̄ + (W − W̄)/(n + 1), returned (for ``avg_fn``)."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A running average of a model's parameters (SWA by default, or EMA with an averaging function).

    Holds a deep copy of ``model`` as ``self.module`` (its ``forward`` is the copy's) and the count
    ``n_averaged`` (a long buffer). :meth:`update_parameters` copies the model's parameters on its
    first call and averages them in afterwards.  The state dict has PyTorch's keys: the copy's
    under ``module.`` and ``n_averaged``.

    Args:
        model: the model whose parameters are averaged.
        device: where the copy is kept (None: where ``model`` is).
        avg_fn: ``avg_fn(averaged, current, n_averaged)`` returning the new average of one tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged)`` updating the
            averages in place; with neither, the equal-weight (SWA) average.
        use_buffers: average the buffers too (else they are copied from ``model`` at each update).
    """

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a Module, got {type(model).__name__}")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The averaged copy's forward."""
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current parameters (and buffers, with ``use_buffers``) into the copy."""
        with no_grad():
            self._update(model)

    def _update(self, model: Module) -> None:
        self_params: Iterable[Tensor] = (
            itertools.chain(self.module.parameters(), self.module.buffers()) if self.use_buffers
            else self.parameters()
        )
        model_params: Iterable[Tensor] = (
            itertools.chain(model.parameters(), model.buffers()) if self.use_buffers else model.parameters()
        )
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        first = bool(self.n_averaged == 0)
        for p_avg, p_model in zip(self_params, model_params):
            p_model_ = p_model.detach().to(p_avg.device)
            averaged.append(p_avg.detach())
            current.append(p_model_)
            if first:
                p_avg.detach().copy_(p_model_)
        if not first:
            if self.avg_fn is None:
                # one call per (device, dtype) group, as PyTorch's foreach grouping
                groups: dict[tuple[str, Any], tuple[list[Tensor], list[Tensor]]] = {}
                for a, c in zip(averaged, current):
                    avgs, curs = groups.setdefault((str(a.device), a.dtype), ([], []))
                    avgs.append(a)
                    curs.append(c)
                for (device, _), (avgs, curs) in groups.items():
                    n = self.n_averaged.to(device)
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(avgs, curs, n)
                    else:  # PyTorch's CPU path: the one-tensor SWA rule, tensor by tensor
                        swa = get_swa_avg_fn()
                        for a, c in zip(avgs, curs):
                            a.copy_(swa(a, c, n))
            else:
                for a, c in zip(averaged, current):
                    a.copy_(self.avg_fn(a, c, self.n_averaged.to(a.device)))
        if not self.use_buffers:
            # the buffers are not averaged: keep them in step with the model's
            for b_swa, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                b_swa.detach().copy_(b_model.detach().to(b_swa.device))
        self.n_averaged.add_(1)


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the batch-norm layers' running statistics with one pass over ``loader``.

    Each layer's statistics are reset and accumulated as a cumulative average (momentum None);
    afterwards the momenta and ``model``'s training mode are restored.

    Args:
        loader: batches: a Tensor, or a list/tuple whose first item is the input.
        model: the model (e.g. an :class:`AveragedModel`) whose batch-norm layers are updated.
        device: if given, each batch is moved there first.
    """
    momenta: dict[_BatchNorm, float | None] = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's learning rate to ``swa_lr`` over ``anneal_epochs`` epochs, then hold it.

    With α(t) = t (``'linear'``) or (1 − cos πt)/2 (``'cos'``) and t = min(1, epoch/anneal_epochs),
    the rate at an epoch is α·swa_lr + (1 − α)·lr₀, computed chainably from the current rate as
    PyTorch does (so the sequence is PyTorch's to rounding).

    Args:
        optimizer: the wrapped optimiser.
        swa_lr: the final rate, one for all groups or a list with one per group.
        anneal_epochs: the epochs of the annealing phase (an int ≥ 0).
        anneal_strategy: ``'cos'`` or ``'linear'``.
        last_epoch: the index of the last epoch (-1 to start).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | Sequence[float],
        anneal_epochs: int = 10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        swa_lrs = _per_group("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or isinstance(anneal_epochs, bool) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func: Callable[[float], float] = (
            self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal
        )

    def get_lr(self) -> list[float]:
        """The rates for the current step: the previous step's α undone, this step's applied."""
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimiser and the annealing function (PyTorch's layout)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
