"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import Optimizer, _check_nonneg, _Scalars

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``).

    With g = ∂E/∂w (negated when ``maximize``), learning rate α, momentum μ,
    dampening τ and weight decay λ, each step does::

        g ← g + λ w                              (weight decay, the notes' L2 term)
        v ← g                    on the first step
        v ← μ v + (1 − τ) g      afterwards       (momentum_buffer)
        d ← g + μ v  if nesterov  else  v          (d ← g when μ = 0)
        w ← w − α d

    The notes (001, 004) write momentum as  m ← μ m + α ∂E/∂w,  w ← w − m,
    i.e. with the learning rate inside the buffer: m = α v.  For a constant α
    the two give the same iterates; they differ when a schedule changes α
    (PyTorch's v applies the new α to the whole accumulated velocity at once).
    Nesterov's look-ahead is taken in PyTorch's reformulated form
    ``d = g + μ v`` (the gradient at the current point, no second evaluation).

    Args:
        params: parameters, or parameter groups (dicts).
        lr: learning rate α (default 1e-3).
        momentum: μ (default 0).
        dampening: τ, the fraction of the new gradient left out of the buffer (default 0).
        weight_decay: λ, L2 penalty coefficient (default 0).
        nesterov: use Nesterov momentum (needs μ > 0 and τ = 0).
        maximize: ascend the objective instead.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            mu = float(group["momentum"])
            keep = 1.0 - float(group["dampening"])
            wd = float(group["weight_decay"])
            nesterov = bool(group["nesterov"])
            maximize = bool(group["maximize"])
            consts = _Scalars(lr, mu, keep)
            for p in group["params"]:
                if p.grad is None:
                    continue
                w = p._array
                lr_, mu_, keep_ = consts(w.dtype)
                g = self._grad_term(p, wd, maximize)  # ±∂E/∂w + λw
                t = self._scratch(w, 1)
                if mu == 0.0:
                    np.multiply(g, lr_, t)
                else:
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    buf = state.get("momentum_buffer")
                    if buf is None:  # first step: v = g (no dampening), in the parameter's memory layout
                        v = np.empty_like(w)
                        np.copyto(v, g)
                        state["momentum_buffer"] = Tensor._wrap(v)
                    else:
                        v = buf._array
                        np.multiply(v, mu_, v)
                        if keep == 1.0:
                            np.add(v, g, v)
                        else:
                            np.multiply(g, keep_, t)
                            np.add(v, t, v)  # v ← μ v + (1 − τ) g
                    if nesterov:  # d = g + μ v
                        np.multiply(v, mu_, t)
                        np.add(t, g, t)
                        np.multiply(t, lr_, t)
                    else:
                        np.multiply(v, lr_, t)
                np.subtract(w, t, w)  # w ← w − α d
        return loss
