"""RAdam: Adam with the variance of its adaptive step rectified."""

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

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam (PyTorch's ``torch.optim.RAdam``; Liu et al., 2020).

    Early on, Adam's second moment is estimated from a few gradients and its adaptive step
    has a large variance; RAdam takes plain momentum steps until the estimate is tractable,
    then rectified Adam steps.  With g = ∂E/∂θ (negated when ``maximize``), step t::

        g ← g + λθ   (or, decoupled, θ ← (1 − αλ) θ)
        M ← β1 M + (1 − β1) g,   S ← β2 S + (1 − β2) g²,   M̂ = M / (1 − β1^t)
        ρ_∞ = 2 / (1 − β2) − 1,   ρ_t = ρ_∞ − 2 t β2^t / (1 − β2^t)
        ρ_t > 5:  r_t = √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
                  θ ← θ − α M̂ · √(1 − β2^t) / (√S + ε) · r_t
        else:     θ ← θ − α M̂

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        decoupled_weight_decay: decay θ directly (as AdamW) instead of through g.
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        capturable: must be False (CUDA-graph capture).
        differentiable: must be False (autograd through the step).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        _check_impl_flags("RAdam", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return _step_and_zeros(p, "exp_avg", "exp_avg_sq")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            beta1, beta2 = (float(b) for b in group["betas"])
            F.radam(
                ws, gs, *state_arrays(states, "exp_avg", "exp_avg_sq", "step"),
                beta1=beta1, beta2=beta2, lr=float(group["lr"]),
                weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                decoupled_weight_decay=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]),
                work=self._work,
            )
        return loss
