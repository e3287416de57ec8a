"""Adagrad: per-coordinate step sizes from the accumulated squared gradients."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.primitive import kernel
from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import Optimizer, _check_impl_flags, _check_nonneg, _scalar_state, state_arrays

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
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
        fused: accepted and ignored (it only selects PyTorch's implementation).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("lr_decay value", lr_decay)
        _check_nonneg("weight_decay value", weight_decay)
        _check_nonneg("initial_accumulator_value value", initial_accumulator_value)
        _check_nonneg("epsilon value", eps)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, foreach=foreach, maximize=maximize,
            differentiable=differentiable, fused=fused,
        )
        _check_impl_flags("Adagrad", foreach, False, differentiable)
        super().__init__(params, defaults)
        # Like PyTorch, the state exists from the start (so a state_dict before training has it).
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._init_state(p, group)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        init = float(group["initial_accumulator_value"])
        return {"step": _scalar_state(0.0), "sum": kernel("full_like", p, fill_value=init)}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)  # (a group added later: state now)
            F.adagrad(ws, gs, *state_arrays(states, "sum", "step"),
                      lr=float(group["lr"]), weight_decay=float(group["weight_decay"]),
                      lr_decay=float(group["lr_decay"]), eps=float(group["eps"]),
                      maximize=bool(group["maximize"]), work=self._work)
        return loss
