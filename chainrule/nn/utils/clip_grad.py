"""Gradient clipping and flattening parameters to one vector (PyTorch's ``torch.nn.utils``).

The notes (004, "mitigating exploding gradients") rescale the gradient when its
norm is too large:  if ‖g‖ > γ:  g ← γ g / ‖g‖  — trading a little bias for
stable steps.  :func:`clip_grad_norm_` does this over all parameters' gradients
taken together as one vector g.
"""

from __future__ import annotations

from typing import Any, Iterable

from chainrule.autograd.primitive import table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.backend import ArrayMath

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """‖(‖t_1‖_p, ..., ‖t_n‖_p)‖_p, the p-norm of all the tensors' elements taken together.

    ``norm_type`` p may be ``inf`` (max |t|).  Returns a 0-d Tensor in the tensors' dtype
    (float32 0 when there are none).  Raises RuntimeError when the norm is nan or inf and
    ``error_if_nonfinite``.  ``foreach`` is accepted for PyTorch compatibility.
    """
    arrays = [x._array for x in _as_list(tensors)]
    if not arrays:
        return Tensor._wrap(ArrayMath.scalar(0.0, "float32"))
    m = table_of(arrays, "get_total_norm")
    return Tensor._wrap(m.astype(_total_norm(m, arrays, norm_type, error_if_nonfinite),
                                 arrays[0].dtype))


def _total_norm(m: Any, arrays: list[Any], norm_type: float, error_if_nonfinite: bool) -> Any:
    """The total norm as a 0-d float64 array (the table's ``total_norm``).  Only
    ``error_if_nonfinite`` reads it on the host (whether it is finite)."""
    total = m.total_norm(arrays, float(norm_type))
    if error_if_nonfinite and not bool(m.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {float(norm_type)} for gradients from `parameters` "
            "is non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def _scale(m: Any, parameters: list[Tensor], max_norm: float, total: Any) -> None:
    """Multiply the gradients by min(1, max_norm / (total + 1e-6)) (``total`` a 0-d float64 array
    or a number), always, as PyTorch does: ×1 changes no bit, and no value of the norm is read on
    the host, so a compiled step replays whichever side of max_norm a batch falls (a branch on
    the norm was a value guard that sent every crossing back to eager).  NaN norms propagate, as
    in PyTorch (min(nan, 1) is nan)."""
    coef = m.minimum(float(max_norm) / (total + 1e-6), 1.0)
    for prm in parameters:
        if prm.grad is not None:
            g = prm.grad._array
            g *= m.astype(coef, g.dtype)  # (rounded to the gradient's dtype first, as a Python float is)
            bump(prm.grad)


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Tensor | float,
    foreach: bool | None = None,
) -> None:
    """Multiply every gradient in place by min(1, max_norm / (total_norm + 1e-6)).

    The second half of :func:`clip_grad_norm_`, for a ``total_norm`` computed elsewhere
    (e.g. by :func:`get_total_norm`).  A nan norm makes the gradients nan, as in PyTorch.
    """
    params = _as_list(parameters)
    grads = [p.grad._array for p in params if p.grad is not None]
    m = table_of(grads, "clip_grads_with_norm_") if grads else ArrayMath
    if isinstance(total_norm, Tensor):
        total = m.astype(total_norm._array, "float64")  # (the coefficient in float64, as for a number)
    else:
        total = m.asarray(float(total_norm))
    _scale(m, params, max_norm, total)


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
    params = _as_list(parameters)
    grads = [prm.grad._array for prm in params if prm.grad is not None]
    if not grads:
        return Tensor._wrap(ArrayMath.scalar(0.0, "float32"))
    m = table_of(grads, "clip_grad_norm_")
    total = _total_norm(m, grads, norm_type, error_if_nonfinite)
    _scale(m, params, max_norm, total)  # the coefficient from the norm in float64 (before rounding to the dtype)
    return Tensor._wrap(m.astype(total, grads[0].dtype))


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element to [−clip_value, clip_value] in place."""
    c = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._array
            table_of((g,), "clip_grad_value_").clip(g, -c, c, out=g)
            bump(p.grad)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D Tensor (differentiable)."""
    from chainrule.ops.shape import cat, reshape

    return cat([reshape(p, -1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data (the inverse of the above).

    As in PyTorch, each parameter's ``._array`` becomes a view of ``vec``'s storage.
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
        p._array = vec._array[start:start + n].reshape(p.shape)
        start += n
