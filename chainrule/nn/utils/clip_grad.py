"""Gradient clipping and flattening parameters to one vector (PyTorch's ``torch.nn.utils``).

The notes (004, "mitigating exploding gradients") rescale the gradient when its
norm is too large:  if ‖g‖ > γ:  g ← γ g / ‖g‖  — trading a little bias for
stable steps.  :func:`clip_grad_norm_` does this over all parameters' gradients
taken together as one vector g.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from chainrule.autograd.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(x: np.ndarray, p: float) -> float:
    """‖x‖_p of all elements, as a Python float (inf: max |x|; 0: number of non-zeros)."""
    if x.size == 0:
        return 0.0
    if p == math.inf:
        return float(np.max(np.abs(x)))
    if p == -math.inf:
        return float(np.min(np.abs(x)))
    if p == 0:
        return float(np.count_nonzero(x))
    flat = x.reshape(-1)
    if p == 2:
        return math.sqrt(float(np.dot(flat, flat)))
    if p == 1:
        return float(np.abs(flat).sum())
    return float((np.abs(flat) ** p).sum()) ** (1.0 / p)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients in place so that their joint norm is at most ``max_norm``.

    The total norm is ‖(‖g_1‖_p, ..., ‖g_n‖_p)‖_p over the parameters that have a
    gradient (``norm_type`` p, ``inf`` for the max-norm).  When it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (total_norm + 1e-6)``
    (PyTorch's form of the notes' γ/‖g‖; the 1e-6 guards a zero norm).

    Returns the total norm *before* clipping, as a 0-d Tensor in the gradients' dtype.
    Raises RuntimeError when it is nan or inf and ``error_if_nonfinite``.
    ``foreach`` is accepted for PyTorch compatibility (there is one NumPy path).
    """
    grads = [p.grad.data for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    p = float(norm_type)
    if not grads:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    norms = [_vector_norm(g, p) for g in grads]
    total = _vector_norm(np.array(norms), p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} for gradients from `parameters` "
            "is non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # PyTorch multiplies by min(coef, 1): NaN norms propagate
        for g in grads:
            g *= coef
    return Tensor._wrap(np.array(total, dtype=grads[0].dtype))


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element to [−clip_value, clip_value] in place."""
    c = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad.data, -c, c, out=p.grad.data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D Tensor (differentiable)."""
    from chainrule.ops.shape import cat, reshape

    return cat([reshape(p, -1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data (the inverse of the above).

    As in PyTorch, each parameter's ``.data`` becomes a view of ``vec``'s storage.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected vec to be a Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(
            f"vector_to_parameters: vec must be 1-D with {total} elements (the parameters' total), "
            f"got shape {tuple(vec.shape)}"
        )
    start = 0
    for p in params:
        n = p.numel()
        p.data = vec.data[start:start + n].reshape(p.shape)
        start += n
