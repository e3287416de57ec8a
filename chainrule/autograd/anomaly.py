"""Anomaly detection: find the first operation that produced a NaN (``torch.autograd.detect_anomaly``).

Inside ``detect_anomaly()`` every op takes the slow path of ``apply``, which
stores where the op was called (a short stack trace) on its output and calls
:func:`check_forward`; the engine calls :func:`check_backward` after each
vector-Jacobian product.  The first NaN raises a ``RuntimeError`` naming the op,
whether the forward value or the gradient for which input went bad, and the
line that created the op, instead of letting the NaN spread silently into
every parameter.

Only NaN is an anomaly: ±inf is a legitimate value (masked attention scores,
log 0 in a log-probability) and often turns into NaN one op later (inf - inf,
0·inf), which is then reported.

    with cr.autograd.detect_anomaly():
        y = cr.log(x) * 0          # x = 0: log 0 = -inf, then -inf·0 = NaN
    # RuntimeError: detect_anomaly: the forward value of 'mul' contains NaN ...
"""

from __future__ import annotations

import functools
from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.primitive import table_of


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()`` (or after ``set_detect_anomaly(True)``)."""
    return STATE.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode also raises on NaN (``check_nan=True``, the default)."""
    return STATE.anomaly and STATE.check_nan


def _set(mode: bool, check_nan: bool) -> None:
    STATE.anomaly = bool(mode)
    STATE.check_nan = bool(check_nan)
    STATE.refresh()


class detect_anomaly:
    """Context manager / decorator: check every forward value and gradient for NaN.

    ``check_nan=False`` only records where each op was created (the stack
    trace is then available to other error messages) without raising.
    Slow (every op takes the checked path): use it to debug, not to train.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        STATE.anomaly_stack.append((STATE.anomaly, STATE.check_nan))
        _set(True, self.check_nan)

    def __exit__(self, *exc: Any) -> None:
        _set(*STATE.anomaly_stack.pop())

    def __call__(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(mode, check_nan=True)``: set anomaly mode now, or for a ``with`` block.

    Called as a function it switches the mode on or off at once; used as a
    context manager the previous mode comes back on exit.
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = (STATE.anomaly, STATE.check_nan)
        _set(mode, check_nan)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _set(*self.prev)


def _origin(t: Any) -> str:
    extra = getattr(t, "_extra", None) or {}
    where = extra.get("origin")
    if not where:
        return "(no creation trace: the op was created outside detect_anomaly)"
    return "The op was created at (most recent call last):\n" + where.rstrip()


def _nan_count(a: Any) -> int:
    """How many elements of array or Tensor ``a`` (a gradient under create_graph) are NaN."""
    data = getattr(a, "_array", a)
    if data.dtype.kind not in "fc":
        return 0
    return int(table_of((data,), "detect_anomaly").isnan(data).sum())


def check_forward(op: Any, out: Any) -> None:
    """Raise RuntimeError if the forward value ``out`` of ``op`` contains NaN."""
    bad = _nan_count(out._array) if STATE.check_nan else 0
    if not bad:
        return
    where = _origin(out)
    # With create_graph=True the vjp rules run as recorded ops: say so when the stack shows it.
    during = (
        " while computing a gradient (an op inside a vjp rule, recorded because create_graph=True)"
        if "in _walk" in where and "in vjp" in where
        else ""
    )
    raise RuntimeError(
        f"detect_anomaly: the forward value of '{op.name}' contains NaN{during} "
        f"({bad} of {out._array.size} elements, output shape {tuple(out.shape)}).\n{where}"
    )


def check_backward(t: Any, grads: Any) -> None:
    """Raise RuntimeError if a gradient returned by ``t``'s op (its vjp) contains NaN.

    ``t`` is the graph node whose vjp ran; ``grads`` has one entry per input.
    """
    if not STATE.check_nan:
        return
    for i, g in enumerate(grads):
        if g is not None and _nan_count(g):
            parents = t._parents or ()
            shape = tuple(parents[i].shape) if i < len(parents) else "?"
            raise RuntimeError(
                f"detect_anomaly: the backward of '{t._op.name}' returned NaN in the gradient "
                f"for its input {i} (input shape {shape}; upstream output shape {tuple(t.shape)}).\n"
                f"{_origin(t)}"
            )
