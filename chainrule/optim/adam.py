"""Adam: momentum on the gradient, RMSprop-style scaling, and bias correction."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer, _check_nonneg, _count_step, _Scalars

__all__ = ["Adam"]


def _check_adam_args(lr: float, betas: tuple, eps: float, weight_decay: float) -> None:
    _check_nonneg("learning rate", lr)
    _check_nonneg("epsilon value", eps)
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas} (expected two values)")
    for i, beta in enumerate(betas):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    _check_nonneg("weight_decay value", weight_decay)


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``; Kingma & Ba, 2015).

    The notes (004), with g = ∂E/∂θ and k = 0, 1, ...::

        M_{k+1} ← β1 M_k + (1 − β1) g                 ('exp_avg')
        S_{k+1} ← β2 S_k + (1 − β2) g²                ('exp_avg_sq')
        M̂ = M_{k+1} / (1 − β1^{k+1}),   Ŝ = S_{k+1} / (1 − β2^{k+1})     (bias correction)
        θ ← θ − α M̂ / √(Ŝ + ε)

    PyTorch (and this class) put ε *outside* the square root,
    ``θ ← θ − α M̂ / (√Ŝ + ε)``, computed as
    ``θ ← θ − (α c / (1 − β1^t)) · M / (√S + ε c)``, c = √(1 − β2^t), with
    t = k + 1 the step count ('step').  Before that, g is negated when ``maximize`` and
    weight decay λ is applied either coupled (the notes' L2 term, g ← g + λθ,
    the default) or decoupled (``decoupled_weight_decay=True``, AdamW:
    θ ← (1 − αλ) θ, then the Adam step on the plain gradient).  With
    ``amsgrad`` the denominator uses the running maximum of S ('max_exp_avg_sq').

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: ascend the objective instead.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of through g.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            amsgrad = bool(group["amsgrad"])
            maximize = bool(group["maximize"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            consts = _Scalars(beta1, 1.0 - beta1, beta2, 1.0 - beta2, 1.0 - lr * wd)
            per_step: dict[tuple, tuple] = {}  # (dtype, step) -> (step size, ε'), see below
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p.data
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": Tensor._wrap(np.array(0.0, dtype=np.float32)),
                        "exp_avg": Tensor._wrap(np.zeros_like(w)),
                        "exp_avg_sq": Tensor._wrap(np.zeros_like(w)),
                    }
                    if amsgrad:
                        state["max_exp_avg_sq"] = Tensor._wrap(np.zeros_like(w))
                step = _count_step(state)
                b1, one_b1, b2, one_b2, shrink = consts(w.dtype)
                if decoupled:
                    if wd != 0.0:
                        np.multiply(w, shrink, w)  # θ ← (1 − αλ) θ
                    g = self._grad_term(p, 0.0, maximize)
                else:
                    g = self._grad_term(p, wd, maximize)  # g ← ±g + λθ
                m = state["exp_avg"].data
                s = state["exp_avg_sq"].data
                t = self._scratch(w, 1)
                np.multiply(m, b1, m)
                np.multiply(g, one_b1, t)
                np.add(m, t, m)  # M ← β1 M + (1 − β1) g
                np.multiply(s, b2, s)
                np.multiply(g, g, t)
                np.multiply(t, one_b2, t)
                np.add(s, t, s)  # S ← β2 S + (1 − β2) g²
                if amsgrad:
                    s_max = state["max_exp_avg_sq"].data
                    np.maximum(s_max, s, out=s_max)
                    s = s_max
                # α M̂ / (√Ŝ + ε) = (α c / (1 − β1^t)) · M / (√S + ε c),  c = √(1 − β2^t):
                # the bias corrections fold into two scalars, one pass fewer over the arrays.
                key = (w.dtype, step)
                scal = per_step.get(key)
                if scal is None:
                    c = math.sqrt(1.0 - beta2**step)
                    scal = per_step[key] = (
                        np.array(lr * c / (1.0 - beta1**step), dtype=w.dtype),
                        np.array(eps * c, dtype=w.dtype),
                    )
                step_size, eps_c = scal
                np.sqrt(s, t)
                np.add(t, eps_c, t)
                np.divide(m, t, t)
                np.multiply(t, step_size, t)
                np.subtract(w, t, w)
        return loss
