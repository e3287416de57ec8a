"""Grad mode: whether operations record a graph (``no_grad`` and friends).

The flags are **per thread**, as in PyTorch: ``no_grad`` in a serving thread
does not stop the recording of a training thread.  They live in ``STATE``, a
``threading.local``: every thread sees its own copy, starting from the
defaults below, and ``STATE.mode`` sums them up in one value:

* ``RECORD`` (0): grad mode on, no forward mode, no anomaly checks — an op
  records a node when an input requires grad;
* ``NO_RECORD`` (1): grad mode off (``no_grad``);
* ``SPECIAL`` (2): forward mode, anomaly detection or a recording profiler on — every
  op takes the checked slow path;
* ``INFERENCE`` (3): inside ``inference_mode()`` — no op records, and every tensor made is an
  *inference tensor* (``Tensor.is_inference()``), as in PyTorch.

Reading a ``threading.local`` costs about five times a plain attribute
(~40 ns, a few per cent of a small op), so the hot path first looks at
``DIFFERING``, a list with one entry per thread whose mode is not ``RECORD``:
while it is empty every thread records normally, and only otherwise does an op
read its own thread's ``STATE.mode``.  A thread appends its entry before it
runs any op in another mode and pops it when it comes back, so a thread never
runs in another mode while ``DIFFERING`` is empty.

``HOOKS`` is process-wide, not per thread: a hook registered in one thread must
be seen by the engine in any thread that runs backward through that tensor.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable

RECORD = 0
NO_RECORD = 1
SPECIAL = 2
INFERENCE = 3


# A list used as a counter: append and pop are atomic under the GIL (no lock), and its emptiness
# is the one fact the hot path reads (no derived flag that could lag behind it).
DIFFERING: list = []
# One entry per open ``inference_mode()`` block, in any thread: while it is empty no thread
# makes inference tensors, and ``Tensor._wrap`` reads nothing else.
INFERRING: list = []
INFERRED = [False]  # set at the first inference_mode() block: inference tensors may exist (detach reads it)


class _ThreadGuard:
    """Held by each thread's state: when a thread ends outside RECORD mode (it called
    ``set_grad_enabled(False)`` and returned), its entry leaves DIFFERING with it, so the
    other threads go back to the fast path."""

    __slots__ = ("differs",)

    def __init__(self) -> None:
        self.differs = False

    def __del__(self) -> None:
        if self.differs:
            DIFFERING.pop()


class _State(threading.local):
    """The grad-mode flags of the current thread (each thread starts from these values).

    Every attribute read of a ``threading.local`` costs ~40 ns, so the setters below read as
    few as they can: entering and leaving ``no_grad`` is on every optimiser step's path."""

    def __init__(self) -> None:
        self._enabled = True  # record the graph for reverse mode
        self.inference = False  # inside inference_mode(): new tensors are inference tensors
        self.forward_depth = 0  # > 0 inside forward-mode (dual tensor) computations
        self.anomaly = False  # check every forward value and gradient for NaN/inf
        self.check_nan = True  # anomaly mode also raises on NaN (check_nan of the innermost context)
        self.anomaly_stack: list = []  # (mode, check_nan) of each open detect_anomaly context
        self.tangent_holders: list = []  # weak refs to tensors given a tangent inside the open dual level
        self.profiler: Any = None  # the recording profiler's _Recorder (autograd/profiler.py), or None
        # (pack_hook, unpack_hook) of each open saved_tensors_hooks context, innermost last
        # (autograd/graph.py); ops recorded while it is non-empty take the slow path and pack
        # what their backward reads
        self.saved_hooks: list = []
        # the message of the innermost open disable_saved_tensors_hooks context, or None
        self.saved_hooks_disabled: str | None = None
        # one list per backward call running in this thread, innermost last: callables run when
        # that call's walk is done (register_multi_grad_hook's "all" mode)
        self.backward_ends: list = []
        # True while this thread's backward walk has no observer of an intermediate tensor's
        # gradient: no hook, retain_grad or autograd.grad input anywhere (the engine's lean walk).
        # A vjp may then send its input's gradient past that input's producer, straight to the
        # producer's own input (the recurrent layers' input fold: _rnn_kernel.InputFold.table_grad)
        self.unwatched = False
        self.mode = RECORD
        self._guard = _ThreadGuard()
        # set_multithreading_enabled's flag (PyTorch's; backward runs on the calling thread either way)
        self.multithreading = True

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = value
        before = self.mode
        if before != SPECIAL:  # (forward mode and anomaly checks keep the slow path whatever the grad mode)
            after = INFERENCE if self.inference else RECORD if value else NO_RECORD
            if after != before:
                self._move(before, after)

    @property
    def special(self) -> bool:
        """Forward mode, anomaly detection or a profiler is on: take the slow path."""
        return self.mode == SPECIAL

    def refresh(self) -> None:
        """Recompute ``mode`` after ``forward_depth``, ``anomaly`` or ``profiler`` changed."""
        before = self.mode
        special = self.forward_depth > 0 or self.anomaly or self.profiler is not None or bool(self.saved_hooks)
        after = SPECIAL if special else INFERENCE if self.inference else RECORD if self._enabled else NO_RECORD
        if after != before:
            self._move(before, after)

    def _move(self, before: int, after: int) -> None:
        """The mode goes from ``before`` to ``after`` (different values): keep DIFFERING right.

        Leaving RECORD appends before the thread runs any op in its new mode; coming back pops."""
        self.mode = after
        if before == RECORD:
            DIFFERING.append(None)
        elif after == RECORD:
            DIFFERING.pop()
        self._guard.differs = after != RECORD


class _Hooks:
    """What the engine must look for.  ``any``: some live tensor has a hook or ``retain_grad``
    (then backward takes the general walk, which runs them); ``live`` counts those tensors, so
    that ``any`` falls back to False once the last of them is gone (a tensor's first hook holds,
    its death releases: ``Tensor._extras``).  ``post_acc``: set once a leaf gets a
    post-accumulate-grad hook (the engine then counts the edges into such leaves)."""

    __slots__ = ("any", "post_acc", "live", "_lock")

    def __init__(self) -> None:
        self.any = False
        self.post_acc = False
        self.live = 0
        self._lock = threading.Lock()  # (a tensor may die in any thread)

    def hold(self) -> None:
        with self._lock:
            self.live += 1
            self.any = True

    def release(self) -> None:
        with self._lock:  # (never below 0: a test may have cleared the count while hooked tensors lived)
            self.live = max(self.live - 1, 0)
            self.any = self.live > 0


STATE = _State()
HOOKS = _Hooks()


def is_grad_enabled() -> bool:
    """True when operations record the graph for backward."""
    return STATE.enabled


def is_differentiated(t: Any) -> bool:
    """True when ``t`` is being differentiated: it needs a gradient (requires_grad with grad mode
    on) or carries a forward-mode tangent (inside a dual level).  A function without a rule for
    some case raises on either, rather than dropping the gradient or the tangent."""
    return (t.requires_grad and STATE.enabled) or (
        STATE.forward_depth > 0 and getattr(t, "_tangent", None) is not None)


class _GradModeContext:
    """Sets grad mode to ``mode`` inside a ``with`` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(STATE._enabled)
        STATE.enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        STATE.enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradModeContext(self.mode):  # a context per call: calls may nest or run in threads
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager / decorator: record no graph inside (inference, updates)."""

    def __init__(self) -> None:
        self.mode = False  # (not super().__init__: one call less on every optimiser step)
        self.prev = []


class enable_grad(_GradModeContext):
    """Context manager / decorator: record the graph inside, even within ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


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

    def __call__(self, fn: Callable) -> Callable:
        STATE.enabled = self._before  # used as a decorator: undo the immediate set
        return super().__call__(fn)


def is_multithreading_enabled() -> bool:
    """True unless ``set_multithreading_enabled(False)`` is in effect in this thread (the default
    is True, as in PyTorch)."""
    return STATE.multithreading


class set_multithreading_enabled:
    """``set_multithreading_enabled(mode)``: whether backward may run on worker threads.

    PyTorch's engine runs the backward pass of accelerator tensors on one worker thread per
    device; ``mode=False`` makes it run on the calling thread instead. For CPU tensors
    PyTorch's backward always runs on the calling thread, and so does chainrule's engine
    (``autograd/engine.py`` walks the graph in the thread that called ``backward`` /
    ``autograd.grad``; hooks and custom ``Function.backward`` run there too), so the flag
    changes no computation: it is kept, per thread, for the programs that set and read it.

    As in PyTorch it works as a plain call (sets the flag at once), as a context manager
    (restores the previous value on exit) and as a decorator (the flag is set during each
    call; unlike PyTorch, decorating does not also set it at decoration time). It is
    thread-local: other threads keep their own value. Forward mode never uses threads.

    Args:
        mode: True (the default state) to allow multithreaded backward, False to run it on
            the calling thread.
    """

    def __init__(self, mode: bool) -> None:
        self.prev = STATE.multithreading
        self.mode = bool(mode)
        STATE.multithreading = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        STATE.multithreading = self.prev

    def clone(self) -> set_multithreading_enabled:
        """A new context with the same mode (PyTorch's ``clone``); it sets the flag as it is made."""
        return self.__class__(self.mode)

    def __call__(self, fn: Callable) -> Callable:
        STATE.multithreading = self.prev  # used as a decorator: undo the immediate set
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_multithreading_enabled(mode):  # a context per call: calls may nest or run in threads
                return fn(*args, **kwargs)

        return wrapper


class inference_mode:
    """Context manager / decorator: PyTorch's inference mode (``mode=True``, the default).

    Inside it no operation records a graph (as ``no_grad``) and every tensor made is an
    *inference tensor*: ``t.is_inference()`` is True, and stays so after the block, as for the
    views of it and ``detach()``; a tensor made by an operation outside the block is a normal one.
    ``inference_mode(False)`` leaves inference mode inside the block (grad mode on).  It works
    as ``@inference_mode()`` and as ``@inference_mode``.  The flag is per thread, as grad mode.
    """

    def __new__(cls, mode: Any = True) -> Any:
        if not isinstance(mode, bool) and callable(mode):  # @inference_mode without parentheses
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)
        self.prev: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        self.prev.append((STATE._enabled, STATE.inference))
        if self.mode:
            INFERRED[0] = True
            INFERRING.append(None)
        _set_inference(self.mode, not self.mode)

    def __exit__(self, *exc: Any) -> None:
        inference, enabled = self.prev.pop()[::-1]
        _set_inference(inference, enabled)
        if self.mode:
            INFERRING.pop()

    def clone(self) -> inference_mode:
        """A new context with the same mode (PyTorch's ``clone``)."""
        return self.__class__(self.mode)

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(mode):  # a context per call: calls may nest or run in threads
                return fn(*args, **kwargs)

        return wrapper


def _set_inference(inference: bool, enabled: bool) -> None:
    """Set this thread's inference flag and grad mode, and the mode they make."""
    STATE.inference = inference
    STATE._enabled = enabled
    STATE.refresh()


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` (not inside a plain ``no_grad``), in this thread."""
    return STATE.inference


def made_in_inference(t: Any) -> bool:
    """Whether tensor ``t`` is an inference tensor: made inside ``inference_mode()``, or a view
    of one (a view made there of a normal tensor is normal, as in PyTorch)."""
    base = getattr(t, "_base", None)
    if base is not None:
        return made_in_inference(base)
    return getattr(t, "_inference", False)
