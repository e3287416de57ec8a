"""Adadelta: step sizes from the ratio of two running RMS averages."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_impl_flags,
    _check_nonneg,
    _step_and_zeros,
    state_arrays,
)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta (PyTorch's ``torch.optim.Adadelta``; Zeiler, 2012).

    The step's units come from the past steps themselves: with g = ∂E/∂θ (negated when
    ``maximize``)::

        g ← g + λθ
        S ← ρ S + (1 − ρ) g²                            ('square_avg')
        Δ = √(A + ε) / √(S + ε) · g
        A ← ρ A + (1 − ρ) Δ²                            ('acc_delta')
        θ ← θ − α Δ

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α, scaling Δ (default 1.0).
        rho: ρ, the averages' decay (default 0.9).
        eps: ε (default 1e-6).
        weight_decay: λ (default 0).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        capturable: must be False (CUDA-graph capture).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        if not 0.0 <= float(rho) <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonneg("epsilon value", eps)
        _check_nonneg("weight_decay value", weight_decay)
        _check_impl_flags("Adadelta", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
            foreach=foreach, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return _step_and_zeros(p, "square_avg", "acc_delta")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            F.adadelta(
                ws, gs, *state_arrays(states, "square_avg", "acc_delta", "step"),
                lr=float(group["lr"]), rho=float(group["rho"]),
                eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]), work=self._work,
            )
        return loss
