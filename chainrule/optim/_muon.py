"""Muon: momentum steps orthogonalised by a Newton–Schulz iteration (2-D parameters)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from chainrule.autograd.tensor import Tensor
from chainrule.optim import _functional as F
from chainrule.optim.optimizer import Optimizer, _zeros_state

__all__ = ["Muon"]


class Muon(Optimizer):
    r"""Muon (PyTorch's ``torch.optim.Muon``; Jordan et al., 2024), for 2-D weight matrices.

    With g = ∂E/∂W, momentum μ and step size α::

        B ← μ B + (1 − μ) g                                   ('momentum_buffer')
        G = g + μ (B − g)  if nesterov  else  B
        O = NS(G):  X = G / max(‖G‖_F, ε);  k times: A = X Xᵀ,  X ← a X + (b A + c A²) X
        W ← (1 − α λ) W − α' O,   α' = α √max(1, rows/cols)  ('original')  or  0.2 α √max(rows, cols)

    The Newton–Schulz iteration maps G = U S Vᵀ to about U Vᵀ (singular values pushed
    towards 1), so every direction of the update moves at a similar rate.  One difference
    from PyTorch: PyTorch runs the iteration in bfloat16, which NumPy cannot compute in;
    chainrule runs it in the parameter's dtype (more precise, so results differ from
    PyTorch's at bfloat16's precision, about 3 significant digits).  Biases, embeddings and
    other non-matrix parameters go to another optimiser (e.g. AdamW), as in PyTorch.

    Args:
        params: 2-D parameters, or parameter groups (dicts).
        lr: α (default 1e-3).
        weight_decay: λ, decoupled (default 0.1).
        momentum: μ (default 0.95).
        nesterov: use the Nesterov look-ahead G (default True).
        ns_coefficients: (a, b, c) of the quintic iteration (default (3.4445, -4.7750, 2.0315)).
        eps: ε in the normalisation (default 1e-7).
        ns_steps: k, fewer than 100 (default 5).
        adjust_lr_fn: None or "original", or "match_rms_adamw" (the scale of α').
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        if len(ns_coefficients) != 3:
            raise ValueError(f"Muon: ns_coefficients must be 3 values (a, b, c), got {ns_coefficients}")
        defaults = dict(
            lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {tuple(p.shape)}"
                    )

    @staticmethod
    def _init_state(p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum_buffer": _zeros_state(p)}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            _, ws, gs, states = self._gather(group, self._init_state)
            F.muon(
                ws, gs, [st["momentum_buffer"]._array for st in states], lr=float(group["lr"]),
                weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                nesterov=bool(group["nesterov"]), ns_coefficients=tuple(group["ns_coefficients"]),
                eps=float(group["eps"]), ns_steps=int(group["ns_steps"]), adjust_lr_fn=group["adjust_lr_fn"],
            )
        return loss
