"""RMSprop: steps scaled by a moving root-mean-square of the gradients."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import Optimizer, _check_impl_flags, _check_nonneg, _scalar_state, _zeros_state

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``; Hinton's lecture 6e).

    The notes (004) write it with γ the weight of the new gradient::

        S_j ← (1 − γ) S_j + γ (∂E/∂θ_j)²,     θ_j ← θ_j − α / √(S_j + ε) · ∂E/∂θ_j

    PyTorch (and this class) use ``alpha`` = 1 − γ, the weight of the *old*
    average, and add ε *outside* the square root.  With g = ∂E/∂w (negated
    when ``maximize``)::

        g ← g + λ w                              (weight decay)
        S ← α S + (1 − α) g²                     ('square_avg', starts at 0)
        centered:  ḡ ← α ḡ + (1 − α) g,  D = √(S − ḡ²) + ε     ('grad_avg')
        else:      D = √S + ε
        μ > 0:     b ← μ b + g / D,  w ← w − lr · b           ('momentum_buffer')
        else:      w ← w − lr · g / D

    Args:
        params: parameters, or parameter groups (dicts).
        lr: learning rate (default 1e-2).
        alpha: smoothing constant α = 1 − γ (default 0.99).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        momentum: μ (default 0).
        centered: normalise by the estimated variance instead of the raw second moment.
        capturable: must be False (CUDA-graph capture).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("epsilon value", eps)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", weight_decay)
        _check_nonneg("alpha value", alpha)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, capturable=capturable, foreach=foreach, maximize=maximize,
            differentiable=differentiable,
        )
        _check_impl_flags("RMSprop", foreach, capturable, differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": _scalar_state(0.0), "square_avg": _zeros_state(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_state(p)
        if group["centered"]:
            state["grad_avg"] = _zeros_state(p)
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            momentum = float(group["momentum"])
            centered = bool(group["centered"])
            _, ws, gs, states = self._gather(group, self._init_state)
            F.rmsprop(
                ws, gs, [st["square_avg"]._array for st in states],
                [st["grad_avg"]._array for st in states] if centered else [],
                [st["momentum_buffer"]._array for st in states] if momentum > 0 else [],
                [st["step"]._array for st in states], lr=float(group["lr"]), alpha=float(group["alpha"]),
                eps=float(group["eps"]), weight_decay=float(group["weight_decay"]), momentum=momentum,
                centered=centered, maximize=bool(group["maximize"]), work=self._work,
            )
        return loss
