"""Adafactor: Adam-like steps with a factored (row x column) second moment."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import Optimizer, _scalar_dtype, _scalar_state, _zeros_state

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    r"""Adafactor (PyTorch's ``torch.optim.Adafactor``; Shazeer & Stern, 2018), PyTorch's variant.

    A matrix parameter (n × k, or a batch of them) keeps only the row means R and column
    means C of g² (n + k numbers instead of n k); a vector keeps the full average V.  With
    g = ∂E/∂θ (negated when ``maximize``), step t and τ = ``beta2_decay``::

        β̂_t = 1 − t^τ,   ρ_t = min(lr, 1/√t),   α_t = max(ε2, RMS(θ)) ρ_t
        θ ← (1 − lr λ) θ                                                  (weight decay)
        matrix:  R ← β̂_t R + (1 − β̂_t) mean_row(g²),   C ← β̂_t C + (1 − β̂_t) mean_col(g²)
                 V̂ = R C / max(mean(R), ε1)                               ('row_var', 'col_var')
        vector:  V̂ = V ← β̂_t V + (1 − β̂_t) g²                            ('variance')
        U = g / max(√V̂, ε1),   Û = U / max(1, RMS(U) / d)
        θ ← θ − α_t Û

    As in PyTorch, ``lr`` is the cap of the relative step ρ_t and the weight-decay rate (the
    paper has no learning rate), ε1 is applied to V̂ and U rather than to g² (``eps[0]`` None:
    the machine epsilon of the parameter's dtype), and the means replace the paper's sums.

    Args:
        params: parameters, or parameter groups (dicts).
        lr: the cap of the relative step size (default 1e-2).
        beta2_decay: τ ≤ 0, the decay rate of β2 (default -0.8).
        eps: (ε1, ε2) (default (None, 1e-3)).
        d: the clipping threshold of RMS(U), ≥ 1 (default 1.0).
        weight_decay: λ (default 0.0).
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        maximize: ascend the objective instead.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(
            lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": _scalar_state(0.0, _scalar_dtype())}
        w = p._array
        if w.ndim > 1:
            m = table_of((w,), "Adafactor")
            state["row_var"] = Tensor._wrap(m.zeros(w.shape[:-1] + (1,), w.dtype))  # (..., n, 1)
            state["col_var"] = Tensor._wrap(m.zeros(w.shape[:-2] + (1, w.shape[-1]), w.dtype))  # (..., 1, k)
        else:
            state["variance"] = _zeros_state(p)
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)

            def arrays(key: str) -> list:
                return [st[key]._array if key in st else None for st in states]

            eps1, eps2 = group["eps"]
            F.adafactor(
                ws, gs, arrays("row_var"), arrays("col_var"), arrays("variance"), arrays("step"),
                d=float(group["d"]), lr=float(group["lr"]), beta2_decay=float(group["beta2_decay"]),
                weight_decay=float(group["weight_decay"]), eps1=None if eps1 is None else float(eps1),
                eps2=float(eps2), maximize=bool(group["maximize"]),
            )
        return loss
