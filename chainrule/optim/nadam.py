"""NAdam: Adam with Nesterov momentum and a momentum schedule."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_adam_args,
    _check_impl_flags,
    _check_nonneg,
    _scalar_dtype,
    _scalar_state,
    _zeros_state,
    state_arrays,
)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam (PyTorch's ``torch.optim.NAdam``; Dozat, 2016).

    Adam whose step looks ahead along the momentum.  With g = ∂E/∂θ (negated when
    ``maximize``), step t = 1, 2, ... and ψ = ``momentum_decay``::

        g ← g + λθ   (or, decoupled, θ ← (1 − αλ) θ)
        μ_t = β1 (1 − ½ · 0.96^{t ψ})                          (the momentum schedule)
        M ← β1 M + (1 − β1) g,    S ← β2 S + (1 − β2) g²       ('exp_avg', 'exp_avg_sq')
        D = √(S / (1 − β2^t)) + ε
        θ ← θ − α (1 − μ_t) / (1 − Π_{k≤t} μ_k) · g / D − α μ_{t+1} / (1 − Π_{k≤t+1} μ_k) · M / D

    ``state['mu_product']`` is Π_{k≤t} μ_k, a 0-d Tensor of PyTorch's scalar dtype (float32,
    float64 when that is the default dtype), multiplied in that dtype as PyTorch does.

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 2e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        momentum_decay: ψ (default 4e-3).
        decoupled_weight_decay: decay θ directly (NAdamW) instead of through g.
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        capturable: must be False (CUDA-graph capture).
        differentiable: must be False (autograd through the step).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        _check_nonneg("momentum_decay value", momentum_decay)
        _check_impl_flags("NAdam", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        d = _scalar_dtype()
        return {"step": _scalar_state(0.0, d), "mu_product": _scalar_state(1.0, d),
                "exp_avg": _zeros_state(p), "exp_avg_sq": _zeros_state(p)}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            beta1, beta2 = (float(b) for b in group["betas"])
            F.nadam(
                ws, gs, *state_arrays(states, "exp_avg", "exp_avg_sq", "mu_product", "step"),
                beta1=beta1, beta2=beta2, lr=float(group["lr"]), weight_decay=float(group["weight_decay"]),
                momentum_decay=float(group["momentum_decay"]), eps=float(group["eps"]),
                decoupled_weight_decay=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]),
                work=self._work,
            )
        return loss
