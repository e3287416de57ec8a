"""Grad mode: whether operations record a graph (``no_grad`` and friends).

The flags live in one small object, ``STATE``.  The hot path of every op reads
``STATE.enabled`` (is a graph being recorded?) and ``STATE.special`` (is forward
mode or anomaly detection on?), nothing else.
"""

from __future__ import annotations

import functools
from typing import Any, Callable


class _State:
    __slots__ = ("enabled", "forward_depth", "anomaly", "special", "hooks")

    def __init__(self) -> None:
        self.enabled = True  # record the graph for reverse mode
        self.forward_depth = 0  # > 0 inside forward-mode (dual tensor) computations
        self.anomaly = False  # check every forward value and gradient for NaN/inf
        self.special = False  # forward_depth > 0 or anomaly: take the slow path
        self.hooks = False  # set once any tensor gets a hook or retain_grad: the engine checks for them

    def refresh(self) -> None:
        self.special = self.forward_depth > 0 or self.anomaly


STATE = _State()


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward."""
    return STATE.enabled


class _GradModeContext:
    """Base for context managers that also work as decorators."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(STATE.enabled)
        STATE.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        STATE.enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(*self._args()):
                return fn(*args, **kwargs)

        return wrapper

    def _args(self) -> tuple:
        return (self.mode,)


class no_grad(_GradModeContext):
    """Context manager / decorator: record no graph inside (inference, updates)."""

    def __init__(self) -> None:
        super().__init__(False)

    def _args(self) -> tuple:
        return ()


class enable_grad(_GradModeContext):
    """Context manager / decorator: record the graph inside, even within ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)

    def _args(self) -> tuple:
        return ()


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(mode)``: a context manager / decorator, or a plain call that sets the mode."""

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        # Like PyTorch, calling it as a function sets the mode at once.
        self._before = STATE.enabled
        STATE.enabled = bool(mode)

    def __enter__(self) -> None:
        self.prev.append(self._before)
        STATE.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        STATE.enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        STATE.enabled = self._before  # used as a decorator: undo the immediate set
        return super().__call__(fn)


class inference_mode(no_grad):
    """Alias of ``no_grad`` (PyTorch's faster variant; here they are the same)."""

    def __init__(self, mode: bool = True) -> None:
        _GradModeContext.__init__(self, not mode)

    def _args(self) -> tuple:
        return (not self.mode,)
