"""RMSprop: steps scaled by a moving root-mean-square of the gradients."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer, _check_nonneg, _count_step, _Scalars

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
        maximize: ascend the objective instead.
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
        maximize: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("epsilon value", eps)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", weight_decay)
        _check_nonneg("alpha value", alpha)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize,
        )
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            mu = float(group["momentum"])
            centered = bool(group["centered"])
            maximize = bool(group["maximize"])
            consts = _Scalars(lr, alpha, 1.0 - alpha, eps, mu)
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p._array
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": Tensor._wrap(np.array(0.0, dtype=np.float32)),
                        "square_avg": Tensor._wrap(np.zeros_like(w)),
                    }
                    if mu > 0:
                        state["momentum_buffer"] = Tensor._wrap(np.zeros_like(w))
                    if centered:
                        state["grad_avg"] = Tensor._wrap(np.zeros_like(w))
                _count_step(state)
                lr_, a_, one_a, eps_, mu_ = consts(w.dtype)
                g = self._grad_term(p, wd, maximize)
                t = self._scratch(w, 1)
                s = state["square_avg"]._array
                np.multiply(s, a_, s)
                np.multiply(g, g, t)
                np.multiply(t, one_a, t)
                np.add(s, t, s)  # S ← αS + (1 − α) g²
                if centered:
                    ga = state["grad_avg"]._array
                    np.subtract(g, ga, t)
                    np.multiply(t, one_a, t)
                    np.add(ga, t, ga)  # ḡ ← ḡ + (1 − α)(g − ḡ) = α ḡ + (1 − α) g
                    np.multiply(ga, ga, t)
                    np.subtract(s, t, t)
                    np.sqrt(t, t)
                else:
                    np.sqrt(s, t)
                np.add(t, eps_, t)  # t = D
                np.divide(g, t, t)
                if mu > 0:
                    b = state["momentum_buffer"]._array
                    np.multiply(b, mu_, b)
                    np.add(b, t, b)  # b ← μ b + g / D
                    np.multiply(b, lr_, t)
                else:
                    np.multiply(t, lr_, t)
                np.subtract(w, t, w)
        return loss
