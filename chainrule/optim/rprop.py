"""Rprop: per-weight step sizes adapted from the signs of successive gradients."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.primitive import kernel
from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_impl_flags,
    _check_nonneg,
    _step_and_zeros,
    state_arrays,
)

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Resilient backpropagation (PyTorch's ``torch.optim.Rprop``; Riedmiller & Braun, 1993).

    Only the sign of the gradient is used.  With g = ∂E/∂θ (negated when ``maximize``), each
    weight's step size Δ (starting at ``lr``) grows while the gradient keeps its sign and shrinks
    when it flips (the last step jumped over a minimum)::

        s = sign(g · g_prev)
        Δ ← clamp(Δ · (η+ if s > 0, η− if s < 0, 1 if s = 0), Δ_min, Δ_max)     ('step_size')
        where s < 0:  g ← 0           (no step now, and no sign to compare with next time)
        θ ← θ − sign(g) Δ,   g_prev ← g                                          ('prev')

    Args:
        params: parameters, or parameter groups (dicts).
        lr: the initial step size (default 1e-2).
        etas: (η−, η+), the shrink and growth factors, 0 < η− < 1 < η+ (default (0.5, 1.2)).
        step_sizes: (Δ_min, Δ_max) (default (1e-6, 50)).
        capturable: must be False (CUDA-graph capture).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check_impl_flags("Rprop", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = _step_and_zeros(p, "prev")
        state["step_size"] = kernel("full_like", p, fill_value=float(group["lr"]))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            etaminus, etaplus = (float(e) for e in group["etas"])
            lo, hi = (float(s) for s in group["step_sizes"])
            F.rprop(
                ws, gs, *state_arrays(states, "prev", "step_size", "step"), step_size_min=lo, step_size_max=hi,
                etaminus=etaminus, etaplus=etaplus, maximize=bool(group["maximize"]), work=self._work,
            )
        return loss
