"""Adagrad: per-coordinate step sizes from the accumulated squared gradients."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer, _check_nonneg, _count_step

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``; Duchi et al., 2011).

    The notes (000) describe it as tracking the gradient's variance in each
    direction j and making the step there smaller where gradients have been
    large.  With g = ∂E/∂w (negated when ``maximize``), step t = 1, 2, ...::

        g ← g + λ w                          (weight decay)
        α_t = α / (1 + (t − 1) η)            (η = lr_decay)
        S ← S + g²                           ('sum', starts at initial_accumulator_value)
        w ← w − α_t g / (√S + ε)

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-2).
        lr_decay: η, the 1/t decay of α (default 0).
        weight_decay: λ (default 0).
        initial_accumulator_value: S's starting value (default 0).
        eps: ε, added to √S (default 1e-10).
        maximize: ascend the objective instead.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("lr_decay value", lr_decay)
        _check_nonneg("weight_decay value", weight_decay)
        _check_nonneg("initial_accumulator_value value", initial_accumulator_value)
        _check_nonneg("epsilon value", eps)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
        )
        super().__init__(params, defaults)
        # Like PyTorch, the state exists from the start (so a state_dict before training has it).
        for group in self.param_groups:
            init = float(group["initial_accumulator_value"])
            for p in group["params"]:
                self.state[p] = {
                    "step": Tensor._wrap(np.array(0.0, dtype=np.float32)),
                    "sum": Tensor._wrap(np.full_like(p._array, init)),
                }

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = float(group["lr_decay"])
            wd = float(group["weight_decay"])
            eps = float(group["eps"])
            maximize = bool(group["maximize"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:  # a group added after construction
                    state = self.state[p] = {
                        "step": Tensor._wrap(np.array(0.0, dtype=np.float32)),
                        "sum": Tensor._wrap(np.full_like(p._array, float(group["initial_accumulator_value"]))),
                    }
                step = _count_step(state)
                w = p._array
                clr = np.array(lr / (1.0 + (step - 1.0) * lr_decay), dtype=w.dtype)
                g = self._grad_term(p, wd, maximize)
                s = state["sum"]._array
                t = self._scratch(w, 1)
                np.multiply(g, g, t)
                np.add(s, t, s)  # S ← S + g²
                np.sqrt(s, t)
                np.add(t, np.array(eps, dtype=w.dtype), t)
                np.divide(g, t, t)
                np.multiply(t, clr, t)
                np.subtract(w, t, w)  # w ← w − α_t g / (√S + ε)
        return loss
