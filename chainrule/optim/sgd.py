"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import Optimizer, _check_impl_flags, _check_nonneg

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
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        differentiable: must be False (autograd through the step).
        fused: accepted and ignored (it only selects PyTorch's implementation).
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
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused,
        )
        _check_impl_flags("SGD", foreach, False, differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            momentum = float(group["momentum"])
            # As in PyTorch, a parameter gets state (its 'momentum_buffer') only with momentum.
            params, ws, gs, states = self._gather(group, None if momentum == 0.0 else _empty_state)
            bufs = [st.get("momentum_buffer") for st in states]
            arrays: list[Any] = [None if b is None else b._array for b in bufs]
            F.sgd(ws, gs, arrays, weight_decay=float(group["weight_decay"]), momentum=momentum,
                  lr=float(group["lr"]), dampening=float(group["dampening"]), nesterov=bool(group["nesterov"]),
                  maximize=bool(group["maximize"]), work=self._work)
            for st, b, v in zip(states, bufs, arrays):
                if b is None:  # the first step made the buffer
                    st["momentum_buffer"] = Tensor._wrap(v)
        return loss


def _empty_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
    return {}
