"""Forward-mode automatic differentiation with dual tensors (``torch.autograd.forward_ad``).

A *dual tensor* carries a primal value x and a tangent dx.  Every primitive
applied to dual tensors also applies its ``jvp`` rule, so each result carries

    dy = sum_i (dy/dx_i) dx_i          (a Jacobian-vector product, J·dx)

computed in the same sweep as the values: one forward pass gives the
directional derivative of every intermediate, with no backward pass.

    import chainrule as cr
    import chainrule.autograd.forward_ad as fwAD

    x = cr.tensor([1.0, 2.0])
    with fwAD.dual_level():
        xd = fwAD.make_dual(x, cr.ones(2))     # direction v = (1, 1)
        y = (xd * xd).sum()
        fwAD.unpack_dual(y).tangent            # 2x·v = 6

Tangents are plain arrays stored on the tensor (``Tensor._tangent``); they live
for one ``dual_level``: leaving the level drops the tangents of every tensor
made inside it.  Levels may be nested, but they share one tangent per tensor
(unlike PyTorch, where each level has its own).
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import Primitive, apply, table_of
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import share

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])
UnpackedDualTensor.__doc__ = "``unpack_dual``'s result: the primal Tensor and its tangent (a Tensor or None)."


def _track(t: Tensor) -> None:
    """Remember that ``t`` holds a tangent (called by the primitives' slow path), in the thread's
    ``STATE.tangent_holders``: leaving the outermost level drops it (no stale tangent in a later level)."""
    STATE.tangent_holders.append(weakref.ref(t))


class _MakeDual(Primitive):
    """y = x (an alias); dy/dx = 1.  Keeps the reverse-mode graph through ``make_dual``."""

    __slots__ = ()
    name = "make_dual"
    elementwise = True
    saves_inputs = ()
    saves_output = False

    def forward(self, m, x):
        return x

    def vjp(self, m, need, g, y, x):
        return (g,)

    def jvp(self, m, dxs, y, x):
        return dxs[0]


_make_dual_op = _MakeDual()


class dual_level:
    """Context manager: forward-mode AD is on inside (``torch.autograd.forward_ad.dual_level``).

    On exit (of the outermost level) the tangents of all tensors made inside are dropped.
    """

    def __enter__(self) -> int:
        STATE.forward_depth += 1
        STATE.refresh()
        return STATE.forward_depth - 1

    def __exit__(self, *exc: Any) -> None:
        STATE.forward_depth -= 1
        STATE.refresh()
        if STATE.forward_depth == 0:
            for ref in STATE.tangent_holders:
                t = ref()
                if t is not None:
                    t._tangent = None
            STATE.tangent_holders.clear()


def enter_dual_level() -> int:
    """Open a dual level without a ``with`` block; close it with :func:`exit_dual_level`."""
    return dual_level().__enter__()


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the innermost dual level opened by :func:`enter_dual_level`."""
    if STATE.forward_depth == 0:
        raise RuntimeError("exit_dual_level: no dual level is open")
    dual_level().__exit__(None, None, None)


def make_dual(tensor: Tensor, tangent: Any, *, level: int | None = None) -> Tensor:
    """A dual tensor with primal ``tensor`` and tangent ``tangent`` (same shape).

    The result shares ``tensor``'s data and stays connected to its reverse-mode
    graph (so gradients can flow through forward-mode computations).  Must be
    called inside ``dual_level()``.
    """
    if STATE.forward_depth == 0:
        raise RuntimeError("make_dual: forward-mode AD needs an open dual level: use `with dual_level():`")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"make_dual: expected a Tensor primal, got {type(tensor).__name__}")
    if tensor._array.dtype.kind != "f":
        raise TypeError(f"make_dual: the primal must be floating point, got dtype {tensor._array.dtype}")
    dx = tangent._array if isinstance(tangent, Tensor) else table_of((tensor,), "make_dual").from_host(tangent)
    if dx.shape != tensor.shape:
        raise ValueError(f"make_dual: the tangent must have the primal's shape {tuple(tensor.shape)}, got"
                         f" {tuple(dx.shape)}")
    out = share(apply(_make_dual_op, tensor), tensor)  # the same memory: one version counter
    out._tangent = dx.astype(tensor._array.dtype, copy=False)
    _track(out)
    return out


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)``: the tensor itself and its tangent as a Tensor (None if it has none).

    Outside any dual level the tangent is always None.
    """
    dx = getattr(tensor, "_tangent", None) if STATE.forward_depth > 0 else None
    return UnpackedDualTensor(tensor, None if dx is None else Tensor._wrap(dx.copy()))
