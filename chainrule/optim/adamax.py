"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_adam_args,
    _check_impl_flags,
    _step_and_zeros,
    state_arrays,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax (PyTorch's ``torch.optim.Adamax``; Kingma & Ba, 2015, section 7).

    With g = ∂E/∂θ (negated when ``maximize``), step t::

        g ← g + λθ
        M ← β1 M + (1 − β1) g                  ('exp_avg')
        u ← max(β2 u, |g| + ε)                 ('exp_inf', elementwise)
        θ ← θ − α / (1 − β1^t) · M / u

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 2e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
        capturable: must be False (CUDA-graph capture).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        _check_impl_flags("Adamax", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return _step_and_zeros(p, "exp_avg", "exp_inf")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            beta1, beta2 = (float(b) for b in group["betas"])
            F.adamax(
                ws, gs, *state_arrays(states, "exp_avg", "exp_inf", "step"),
                eps=float(group["eps"]), beta1=beta1, beta2=beta2,
                lr=float(group["lr"]), weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]), work=self._work,
            )
        return loss
