"""Host steps: calls whose work is Python bookkeeping that a compiled plan redoes on every replay.

An optimiser's ``step()`` reads its hyper-parameters (a learning rate a scheduler just changed),
advances its step counters and computes bias corrections in Python; a scheduler's ``step()``
only changes Python numbers.  A plan captured by :func:`chainrule.compile` cannot hold that
Python work as array steps, so these methods are *host steps*: during a capture ``ACTIVE[0]``
is the capture, which runs the call on real arrays and records "call this method here"; the
replay calls it again at the same point, so every Python scalar it computes is fresh.
Outside a capture the wrapper costs one list read.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar, cast

from chainrule.autograd.grad_mode import DIFFERING
from chainrule.autograd.profiler import run_in_range

F = TypeVar("F", bound=Callable[..., Any])
ACTIVE: list[Any] = [None]  # the capture in progress (chainrule/compile/capture.py), or None


def host_step(fn: F, range_label: str | None = None) -> F:
    """Mark method ``fn`` as a host step (see the module docstring).  With ``range_label``, a call
    while a profiler records is also a range named ``"<range_label>#<Class>.<method>"``
    (``autograd/profiler.py``: ``Optimizer.step#SGD.step``); otherwise that costs one list test."""
    if getattr(fn, "__host_step__", False):
        return fn

    @functools.wraps(fn)
    def step(*args: Any, **kwargs: Any) -> Any:
        capture = ACTIVE[0]
        if capture is None or capture.thread != threading.get_ident():  # (another thread's capture)
            if range_label is not None and DIFFERING:  # (a profiler records in some thread)
                return run_in_range(range_label, fn, args, kwargs)
            return fn(*args, **kwargs)
        return capture.host_call(fn, args, kwargs)

    step.__host_step__ = True  # type: ignore[attr-defined]
    return cast(F, step)


def untraceable(what: str) -> None:
    """Tell the capture in progress in this thread, if any, that ``what`` runs Python that a
    replay would not run again (a tensor hook, ``retain_grad``): that call then runs eagerly.
    Outside a capture this costs one list read."""
    capture = ACTIVE[0]
    if capture is not None and capture.thread == threading.get_ident():
        capture.tape.broken(what)
