"""Primitive: one differentiable operation, with its three rules side by side.

A primitive is a small class with

* ``forward(m, *xs) -> y``        on raw arrays, computing with the table ``m``;
* ``vjp(m, need, g, y, *xs)``     reverse mode: given g = dL/dy, return one
  gradient dL/dx_i per input (None where ``need[i]`` is False);
* ``jvp(m, dxs, y, *xs) -> dy``   forward mode: given the input tangents dx_i,
  return the output tangent dy = sum_i (dy/dx_i) dx_i.

``m`` is the back-end table the rules call for exp, where, sum_to...: the inputs'
back end (``ArrayMath``, NumPy, chosen by ``table_of``) for ``forward`` and, on raw
arrays, for the vjp/jvp (the fast path); ``TensorMath`` on Tensors when the backward
pass is itself recorded (``create_graph=True``).  The rules may use the Python
operators (+, -, *, /, @, comparisons) and ``.shape``, which both kinds support, and
never call NumPy directly (tests/test_door_protocol.py scans for it).

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

# DIFFERING, SPECIAL, _new, _TICK...: read by the recording functions made from _TEMPLATE
from chainrule.autograd.grad_mode import DIFFERING, SPECIAL, STATE  # noqa: F401
from chainrule.autograd.tensor import Tensor, _new  # noqa: F401
from chainrule.autograd.version import TICK as _TICK
from chainrule.backend import ArrayMath
from chainrule.backend import registry as _registry


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
    # The table entry that is the whole forward, for an op that is one (``m.multiply(a, b)``):
    # then the operator closures (binary_method, unary_method) call the CPU table's function
    # itself, without the Python frame of ``forward``.
    entry: str | None = None
    # saved_tensors_hooks (autograd/graph.py) pack the saved inputs and output of a node as it is
    # recorded; False for a node whose saved tensors are packed elsewhere (a custom Function's ctx)
    packs_saved = True

    def saved_inputs(self, need: tuple) -> Any:
        """Indices of the inputs whose values the vjp reads, given which gradients it computes."""
        s = self.saves_inputs
        return range(len(need)) if s is None else s

    def saved_others(self) -> Any:
        """(label, tensor) pairs: tensors besides the inputs and the output that the vjp reads
        (a custom Function's intermediates saved for backward)."""
        return ()

    def forward(self, m: Any, *xs: Any) -> Any:
        if self.entry is None:
            raise NotImplementedError(f"{type(self).__name__}.forward")
        return getattr(m, self.entry)(*xs)

    def vjp(self, m: Any, need: tuple, g: Any, y: Any, *xs: Any) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} has no reverse-mode rule")

    def jvp(self, m: Any, dxs: tuple, y: Any, *xs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward-mode rule")

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Kernel(Primitive):
    """A non-differentiable operation that is one table entry: ``m.<fn>(*xs, **params)``.

    Comparisons, masks, argmax, any/all...: array work that produces a Tensor without a
    gradient still goes through ``apply`` (so a recording interpreter sees it), with this one
    primitive instead of a class per function.  ``kernel("argmax", x, axis=1)``."""

    __slots__ = ("name", "params")
    differentiable = False

    def __init__(self, fn: str, params: dict) -> None:
        self.name = fn
        self.params = params

    def forward(self, m: Any, *xs: Any) -> Any:
        return getattr(m, self.name)(*xs, **self.params)


def kernel(fn: str, *inputs: Tensor, **params: Any) -> Tensor:
    """Run the table entry ``fn`` on ``inputs`` through ``apply``; the result records nothing."""
    return apply(Kernel(fn, params), *inputs)


def table_of(arrays: Any, where: str = "an operation") -> Any:
    """The back-end table that computes on ``arrays`` (or Tensors): ``ArrayMath`` for NumPy arrays,
    else the table of the device they are on (``backend/registry.py``).

    The one place that chooses a back end.  Arrays on two devices raise the registry's
    "expected all tensors to be on the same device" error naming ``where`` and both devices.
    The recording functions below take ``TABLE`` directly when their first input is a NumPy
    array (a type check instead of a call on the hot path) and call this otherwise, or when
    the forward failed (a CPU first input meeting a device input)."""
    for a in arrays:
        if type(a) is not _ndarray:
            arrays = [x._array if isinstance(x, Tensor) else x for x in arrays]  # (Tensors welcome too)
            if any(type(x) is not _ndarray for x in arrays):
                return _registry.table_of(where, arrays)
            return TABLE
    return TABLE


TABLE = ArrayMath

# ONE recording path.  ``apply`` and its specialisations (one input, two inputs, and the
# operator/method closures that skip a call frame on the commonest calls) are all generated
# from this template, so the node-recording block is written once.  Placeholders:
#   {sig}      the parameters;             {slow}  when to take the general path instead;
#   {fallback} what the general path does; {load}  statements reading the inputs' arrays
#   {arrays}   the forward's array arguments;         into locals (each slot read once);
#   {table}    the back-end table (see table_of);     {parents} the inputs, as a tuple;
#   {any_need} whether some input requires grad;      {need} one flag per input;
#   {records}  whether ``op`` records a node: ``records``, read once, where ``op`` is fixed;
#   {call}     the forward call (default ``op.forward({table}, {arrays})``; see ``_call``).
_TEMPLATE = """
def _make(op, general):
    records = op is None or op.differentiable
    fwd = getattr(TABLE, op.entry) if op is not None and op.entry else None  # see Primitive.entry
    def {name}({sig}):
        mode = STATE.mode if DIFFERING else 0  # this thread's mode (0: RECORD); see grad_mode
        if {slow}:
            return {fallback}
        {load}
        try:
            y = {call}
        except Exception:
            table_of(({arrays},), op.name)  # inputs on two devices: that error, not the back end's
            raise
        out = _new(Tensor)
        out._array = y if type(y) is _ndarray else _as_result(y)
        out.grad = None
        if {any_need} and not mode and {records}:
            out.requires_grad = True
            out._op = op
            out._parents = {parents}
            out._need = {need}
            out._clk = _TICK()
        else:
            out.requires_grad = False
            out._op = None
            out._parents = None
            if mode == 3:  # (INFERENCE: inside inference_mode(), an inference tensor)
                out._inference = True
        return out
    return {name}
"""


def _generate(name: str, doc: str, op: Any = None, general: Any = None, **parts: str) -> Callable:
    """Build one recording function from ``_TEMPLATE``.  ``op``/``general`` are closed over
    (fixed) for the operator closures and shadowed by parameters otherwise; the function's
    globals are this module's, so ``TABLE``, ``STATE``... are read live."""
    parts.setdefault("call", f"op.forward({parts['table']}, {parts['arrays']})")
    scope: dict = {}
    exec(compile(_TEMPLATE.format(name=name, **parts), f"<chainrule.{name}>", "exec"), globals(), scope)
    fn = scope["_make"](op, general)
    fn.__doc__ = doc
    fn.__module__ = __name__
    return fn


_NEED1 = (True,)
_ndarray = np.ndarray
_ARRAY_TYPES = _registry.ARRAY_TYPES


def _as_result(y: Any) -> Any:
    """A forward's result as a Tensor's array: a registered back end's array as it is, a NumPy
    scalar (NumPy's 0-d results) as a 0-d array."""
    return y if type(y) in _ARRAY_TYPES else ArrayMath.asarray(y)



def _apply_special(op: Primitive, inputs: tuple) -> Tensor:
    """The slow path: forward-mode tangents, anomaly checks, and/or a recording profiler, which
    times the whole checked apply as one event (``autograd/profiler.py``)."""
    rec = STATE.profiler
    if rec is not None:
        return rec.run(op, inputs, _apply_checked)
    return _apply_checked(op, inputs)


def _apply_checked(op: Primitive, inputs: tuple) -> Tensor:
    """``apply`` with forward-mode tangents and anomaly checks."""
    xs = [t._array for t in inputs]
    m = table_of(xs, op.name)
    y = op.forward(m, *xs)
    out = Tensor._wrap(y)
    if STATE.enabled and op.differentiable:
        need = tuple([t.requires_grad for t in inputs])
        if True in need:
            out.requires_grad = True
            out._op = op
            out._parents = tuple(inputs)
            out._need = need
            out._clk = _TICK()
            if STATE.saved_hooks and op.packs_saved:  # (an open saved_tensors_hooks context: autograd/graph.py)
                from chainrule.autograd.saved import pack_saved

                pack_saved(op, out)
    if STATE.forward_depth > 0:
        tangents = [getattr(t, "_tangent", None) for t in inputs]
        if any(d is not None for d in tangents) and op.differentiable and y.dtype.kind == "f":
            dxs = tuple(
                d if d is not None else _zero_tangent(m, x) for d, x in zip(tangents, xs)
            )
            dy = op.jvp(m, dxs, y, *xs)
            if dy is not None:
                ya = out._array  # (a move is the one op whose output is on another device)
                my = m if not xs or type(ya) is type(xs[0]) else table_of((ya,), op.name)
                out._tangent = my.broadcast_view(my.asarray(dy, ya.dtype), ya.shape)
                from chainrule.autograd.forward_ad import _track

                _track(out)  # leaving the dual level drops this tangent
    if STATE.anomaly:
        from chainrule.autograd.anomaly import check_forward

        out._extras(any_hook=False)["origin"] = "".join(traceback.format_stack(limit=12)[:-2])  # (no hook)
        check_forward(op, out)
    return out


def _zero_tangent(m: Any, x: Any) -> Any:
    return m.zeros(x.shape, x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))


_GENERAL = dict(slow="mode == SPECIAL", fallback="_apply_special(op, inputs)", records="op.differentiable")
# the table: ArrayMath when the first input is a NumPy array (one type test), else table_of
_TABLE1 = "TABLE if type(xa) is _ndarray else table_of((xa,), op.name)"
_TABLE2 = "TABLE if type(xa) is _ndarray else table_of((xa, xb), op.name)"


def _call(op: Primitive, arrays: str, table: str) -> str:
    """The forward call of an operator closure: the CPU table's function itself for an op that is
    one table entry (``Primitive.entry``) and NumPy arrays, else ``op.forward(table, ...)``."""
    if op.entry is None:
        return f"op.forward({table}, {arrays})"
    return f"fwd({arrays}) if type(xa) is _ndarray else op.forward(table_of(({arrays},), op.name), {arrays})"
_NEED2 = dict(any_need="(a.requires_grad or b.requires_grad)", need="(a.requires_grad, b.requires_grad)")

apply: Callable[..., Tensor] = _generate(
    "apply", "Run ``op`` on Tensors and, if any input requires grad, record the node.",
    sig="op, *inputs", load="xs = [t._array for t in inputs]", arrays="*xs", parents="inputs",
    table="TABLE if not xs or type(xs[0]) is _ndarray else table_of(xs, op.name)",
    any_need="True in (need := tuple([t.requires_grad for t in inputs]))", need="need", **_GENERAL)

apply1: Callable[[Primitive, Tensor], Tensor] = _generate(
    "apply1", "``apply`` specialised for one input (the hot path of unary ops).",
    sig="op, a", load="xa = a._array", arrays="xa", parents="(a,)", slow="mode == SPECIAL",
    table=_TABLE1, fallback="_apply_special(op, (a,))", any_need="a.requires_grad", need="_NEED1",
    records="op.differentiable")

apply2: Callable[[Primitive, Tensor, Tensor], Tensor] = _generate(
    "apply2", "``apply`` specialised for two inputs (the hot path of binary ops).",
    sig="op, a, b", load="xa = a._array; xb = b._array", arrays="xa, xb", parents="(a, b)",
    slow="mode == SPECIAL", table=_TABLE2, fallback="_apply_special(op, (a, b))", records="op.differentiable",
    **_NEED2)


def binary_method(op: Primitive, general: Callable) -> Callable:
    """``Tensor.__add__``-style operator for ``op``, with ``apply2`` inlined for the
    commonest call in the library: two Tensors of one dtype (``h * w``).

    Anything else (a Python scalar, mixed dtypes, forward mode or anomaly checks)
    goes to ``general(self, other)``, which lifts and promotes and calls ``apply2``.
    Saving that one Python call per operation is worth ~3% of a small-tensor step.
    """
    return _generate(
        "method", f"self {op.name} other", op=op, general=general, sig="a, b", load="pass",
        # (the dtype test reads the arrays into xa and xb for the rest of the function)
        slow="mode == SPECIAL or not isinstance(b, Tensor) or (xa := a._array).dtype is not (xb := b._array).dtype",
        fallback="general(a, b)", arrays="xa, xb", parents="(a, b)", table=_TABLE2, records="records",
        call=_call(op, "xa, xb", _TABLE2), **_NEED2)


def unary_method(op: Primitive, general: Callable) -> Callable:
    """``Tensor.exp``-style method for ``op``, with ``apply1`` inlined for a floating tensor;
    other dtypes (converted first), forward mode and anomaly checks go to ``general(self)``."""
    return _generate(
        "method", f"{op.name}(self)", op=op, general=general, sig="a", load="pass",
        slow='mode == SPECIAL or (xa := a._array).dtype.kind != "f"', fallback="general(a)",
        arrays="xa", parents="(a,)", any_need="a.requires_grad", need="_NEED1", table=_TABLE1, records="records",
        call=_call(op, "xa", _TABLE1))
