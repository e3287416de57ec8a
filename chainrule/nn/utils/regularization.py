"""The notes' L2 regularisation as a loss term.

The notes (004, "weight decay") add  λR = (λ/2) Σ_j ‖W_j‖²  to the error E.
Its gradient is λW, so one gradient-descent step on E_reg = E + λR is

    W ← W − α (∂E/∂W + λ W) = (1 − αλ) W − α ∂E/∂W,

which is exactly what ``weight_decay=λ`` does inside :class:`chainrule.optim.SGD`
(and inside Adam/Adagrad/RMSprop, "coupled" decay).  Adding the penalty to the
loss and using the optimiser's ``weight_decay`` give the same steps for SGD;
the optimiser form is cheaper (no graph for the penalty).  AdamW's decoupled
decay is *not* equivalent to any penalty term.
"""

from __future__ import annotations

from typing import Iterable

from chainrule.autograd.tensor import Tensor

__all__ = ["l2_penalty"]


def l2_penalty(parameters: Tensor | Iterable[Tensor], lam: float) -> Tensor:
    """λ/2 · Σ_j ‖W_j‖², summed over ``parameters``; a differentiable 0-d Tensor.

    Usually applied to weights only, not biases (pass the parameters to penalise).
    """
    if lam < 0:
        raise ValueError(f"Invalid regularisation strength lam: {lam}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError("l2_penalty: got an empty parameter list")
    total = (params[0] * params[0]).sum()
    for p in params[1:]:
        total = total + (p * p).sum()
    return total * (0.5 * float(lam))
