"""AdamW: Adam with decoupled weight decay."""

from __future__ import annotations

from typing import Any, Iterable

from chainrule.optim.adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""AdamW (PyTorch's ``torch.optim.AdamW``; Loshchilov & Hutter, 2019).

    Adam whose weight decay acts on the weights directly instead of through the
    gradient.  Each step first shrinks the weights, the notes' (004) weight-decay
    rule ``W ← (1 − αλ) W`` without the gradient term, and then takes the plain
    Adam step on ∂E/∂W (see :class:`Adam` for the moment and bias-correction
    formulas).  With coupled decay (``Adam(weight_decay=λ)``) the λW term is
    divided by √Ŝ like the rest of the gradient, so heavily-updated weights
    decay less; decoupled, every weight decays at the same rate αλ.

    Args:
        params: parameters, or parameter groups (dicts).
        lr: α (default 1e-3).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 1e-2).
        amsgrad: use the AMSGrad variant.
        maximize: ascend the objective instead.
        foreach: accepted and ignored (it only selects PyTorch's implementation).
        capturable: must be False (CUDA-graph capture).
        differentiable: must be False (autograd through the step).
        fused: accepted and ignored (it only selects PyTorch's implementation).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=True,
        )
