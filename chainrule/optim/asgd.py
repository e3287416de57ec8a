"""ASGD: stochastic gradient descent with a decaying step and iterate averaging."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import (
    Optimizer,
    _check_impl_flags,
    _check_nonneg,
    _scalar_dtype,
    _scalar_state,
    _zeros_state,
    state_arrays,
)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged SGD (PyTorch's ``torch.optim.ASGD``; Polyak & Juditsky, 1992).

    With g = ∂E/∂θ (negated when ``maximize``), step t = 1, 2, ..., η_1 = α and μ_1 = 1::

        g ← g + λ_wd θ
        θ ← (1 − λ η_t) θ − η_t g
        ā ← ā + μ_t (θ − ā)        ('ax': the average of the iterates since step t0)
        η_{t+1} = α / (1 + λ α t)^{a},   μ_{t+1} = 1 / max(1, t − t0)     ('eta', 'mu')

    ``state['ax']`` is the averaged parameter; training updates θ only (copy ``ax`` into the
    parameters to evaluate the average, as with PyTorch).  ``eta`` and ``mu`` are 0-d Tensors
    of PyTorch's scalar dtype (float32, float64 when that is the default dtype).

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-2).
        lambd: λ, the decay term (default 1e-4).
        alpha: a, the power of η's decay (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: λ_wd (default 0).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
        differentiable: must be False (autograd through the step).
        capturable: must be False (CUDA-graph capture).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_nonneg("learning rate", lr)
        _check_nonneg("weight_decay value", weight_decay)
        _check_impl_flags("ASGD", foreach, capturable, differentiable)
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        d = _scalar_dtype()
        return {"step": _scalar_state(0.0, d), "eta": _scalar_state(float(group["lr"]), d),
                "mu": _scalar_state(1.0, d), "ax": _zeros_state(p)}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            F.asgd(
                ws, gs, *state_arrays(states, "ax", "mu", "eta", "step"),
                lambd=float(group["lambd"]), lr=float(group["lr"]), t0=float(group["t0"]),
                alpha=float(group["alpha"]), weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]), work=self._work,
            )
        return loss
