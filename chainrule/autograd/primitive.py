"""Primitive: one differentiable operation, with its three rules side by side.

A primitive is a small class with

* ``forward(*xs) -> y``           on raw arrays;
* ``vjp(m, need, g, y, *xs)``     reverse mode: given g = dL/dy, return one
  gradient dL/dx_i per input (None where ``need[i]`` is False);
* ``jvp(m, dxs, y, *xs) -> dy``   forward mode: given the input tangents dx_i,
  return the output tangent dy = sum_i (dy/dx_i) dx_i.

``m`` is the math table the rules call for exp, where, sum_to...: ``ArrayMath``
on raw arrays (the fast path), ``TensorMath`` on Tensors when the backward pass
is itself recorded (``create_graph=True``).  The rules may use the Python
operators (+, -, *, /, @, comparisons) and ``.shape``, which both kinds support.

Gradients come back in the broadcast shape; the engine reduces them to each
input's shape with ``sum_to`` (the one un-broadcasting helper).

Primitives that keep no per-call state are used as module-level singletons;
those with parameters (axis, shape...) are instantiated per call and the
instance doubles as the saved context.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import numpy as np

from chainrule.autograd.grad_mode import DIFFERING, SPECIAL, STATE
from chainrule.autograd.tensor import Tensor, _new
from chainrule.autograd.version import CLOCK as _CLOCK
from chainrule.backend import ArrayMath


class Primitive:
    """Base class of every differentiable operation (see module docstring)."""

    __slots__ = ()
    name = "Primitive"
    differentiable = True
    elementwise = False  # True: vjp(ones) gives the local partials dy/dx_i (trace tables)
    # True: every gradient the vjp returns is a new array that nothing else holds (matmul's
    # G Bᵀ...), so a leaf may keep it as its .grad without the defensive copy.
    fresh_grads = False
    # What the vjp reads, for the in-place check (autograd/version.py): the indices of the
    # inputs whose *values* it uses (None: all; shapes and dtypes cannot change in place)
    # and whether it uses the output y.  Claiming too much can only turn a modification
    # into an error; claiming too little would let it through as a wrong gradient.
    saves_inputs: tuple | None = None
    saves_output = True

    def saved_inputs(self, need: tuple) -> Any:
        """Indices of the inputs whose values the vjp reads, given which gradients it computes."""
        s = self.saves_inputs
        return range(len(need)) if s is None else s

    def saved_others(self) -> Any:
        """(label, tensor) pairs: tensors besides the inputs and the output that the vjp reads
        (a custom Function's intermediates saved for backward)."""
        return ()

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} has no reverse-mode rule")

    def jvp(self, m: Any, dxs: tuple, y: Any, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward-mode rule")

    def __repr__(self) -> str:
        return f"<{self.name}>"


def apply(op: Primitive, *inputs: Tensor) -> Tensor:
    """Run ``op`` on Tensors and, if any input requires grad, record the node."""
    mode = STATE.mode if DIFFERING else 0  # this thread's mode (0: RECORD); see grad_mode
    if mode == SPECIAL:
        return _apply_special(op, inputs)
    y = op.forward(*[t._array for t in inputs])
    if type(y) is not _ndarray:  # NumPy returns scalars for 0-d results: keep ._array an array
        y = _asarray(y)
    out = _new(Tensor)
    out._array = y
    out.grad = None
    if not mode and op.differentiable:
        need = tuple([t.requires_grad for t in inputs])
        if True in need:
            out.requires_grad = True
            out._op = op
            out._parents = inputs
            out._need = need
            out._clk = _CLOCK[0]
            return out
    out.requires_grad = False
    out._op = None
    out._parents = None
    return out


def apply1(op: Primitive, a: Tensor) -> Tensor:
    """``apply`` specialised for one input (the hot path of unary ops)."""
    mode = STATE.mode if DIFFERING else 0  # this thread's mode (0: RECORD); see grad_mode
    if mode == SPECIAL:
        return _apply_special(op, (a,))
    out = _new(Tensor)
    y = op.forward(a._array)
    out._array = y if type(y) is _ndarray else _asarray(y)
    out.grad = None
    if a.requires_grad and not mode:
        out.requires_grad = True
        out._op = op
        out._parents = (a,)
        out._need = _NEED1
        out._clk = _CLOCK[0]
    else:
        out.requires_grad = False
        out._op = None
        out._parents = None
    return out


def apply2(op: Primitive, a: Tensor, b: Tensor) -> Tensor:
    """``apply`` specialised for two inputs (the hot path of binary ops)."""
    mode = STATE.mode if DIFFERING else 0  # this thread's mode (0: RECORD); see grad_mode
    if mode == SPECIAL:
        return _apply_special(op, (a, b))
    out = _new(Tensor)
    y = op.forward(a._array, b._array)
    out._array = y if type(y) is _ndarray else _asarray(y)
    out.grad = None
    ra = a.requires_grad
    rb = b.requires_grad
    if (ra or rb) and not mode:
        out.requires_grad = True
        out._op = op
        out._parents = (a, b)
        out._need = (ra, rb)
        out._clk = _CLOCK[0]
    else:
        out.requires_grad = False
        out._op = None
        out._parents = None
    return out


def binary_method(op: Primitive, general: Callable) -> Callable:
    """``Tensor.__add__``-style operator for ``op``, with ``apply2`` inlined for the
    commonest call in the library: two Tensors of one dtype (``h * w``).

    Anything else (a Python scalar, mixed dtypes, forward mode or anomaly checks)
    goes to ``general(self, other)``, which lifts and promotes and calls ``apply2``.
    Saving that one Python call per operation is worth ~3% of a small-tensor step.
    """

    def method(self: Tensor, other: Any) -> Tensor:
        mode = STATE.mode if DIFFERING else 0
        if not isinstance(other, Tensor) or mode == SPECIAL or self._array.dtype is not other._array.dtype:
            return general(self, other)
        out = _new(Tensor)
        y = op.forward(self._array, other._array)
        out._array = y if type(y) is _ndarray else _asarray(y)
        out.grad = None
        ra = self.requires_grad
        rb = other.requires_grad
        if (ra or rb) and not mode:
            out.requires_grad = True
            out._op = op
            out._parents = (self, other)
            out._need = (ra, rb)
            out._clk = _CLOCK[0]
        else:
            out.requires_grad = False
            out._op = None
            out._parents = None
        return out

    return method


def unary_method(op: Primitive, general: Callable) -> Callable:
    """``Tensor.exp``-style method for ``op``, with ``apply1`` inlined for a floating tensor;
    other dtypes (converted first), forward mode and anomaly checks go to ``general(self)``."""

    def method(self: Tensor) -> Tensor:
        mode = STATE.mode if DIFFERING else 0
        if mode == SPECIAL or self._array.dtype.kind != "f":
            return general(self)
        out = _new(Tensor)
        y = op.forward(self._array)
        out._array = y if type(y) is _ndarray else _asarray(y)
        out.grad = None
        if self.requires_grad and not mode:
            out.requires_grad = True
            out._op = op
            out._parents = (self,)
            out._need = _NEED1
            out._clk = _CLOCK[0]
        else:
            out.requires_grad = False
            out._op = None
            out._parents = None
        return out

    return method


_NEED1 = (True,)
_ndarray = np.ndarray
_asarray = np.asarray


def _apply_special(op: Primitive, inputs: tuple) -> Tensor:
    """The slow path: forward-mode tangents and/or anomaly checks."""
    xs = [t._array for t in inputs]
    y = op.forward(*xs)
    out = Tensor._wrap(y)
    if STATE.enabled and op.differentiable:
        need = tuple([t.requires_grad for t in inputs])
        if True in need:
            out.requires_grad = True
            out._op = op
            out._parents = tuple(inputs)
            out._need = need
            out._clk = _CLOCK[0]
    if STATE.forward_depth > 0:
        tangents = [getattr(t, "_tangent", None) for t in inputs]
        if any(d is not None for d in tangents) and op.differentiable and y.dtype.kind == "f":
            dxs = tuple(
                d if d is not None else _zero_tangent(x) for d, x in zip(tangents, xs)
            )
            dy = op.jvp(ArrayMath, dxs, y, *xs)
            if dy is not None:
                out._tangent = np.broadcast_to(np.asarray(dy, dtype=y.dtype), y.shape)
                from chainrule.autograd.forward_ad import _track

                _track(out)  # leaving the dual level drops this tangent
    if STATE.anomaly:
        from chainrule.autograd.anomaly import check_forward

        out._extras()["origin"] = "".join(traceback.format_stack(limit=12)[:-2])
        check_forward(op, out)
    return out


def _zero_tangent(x: np.ndarray) -> np.ndarray:
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return np.zeros(x.shape, dtype=dtype)
