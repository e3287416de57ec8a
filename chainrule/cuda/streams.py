"""``torch.cuda``'s streams and events, as PyTorch's CPU-only build has them.

Without CUDA, PyTorch's ``torch.cuda.Stream`` and ``torch.cuda.Event`` are classes whose
construction raises (``RuntimeError``: "torch.cuda.Stream requires CUDA support", "Tried to
instantiate dummy base class Event"), so no stream or event object ever exists;
``current_stream()`` and ``default_stream()`` raise "Torch not compiled with CUDA enabled"
(an ``AssertionError``); and the stream context, ``torch.cuda.stream(s)`` /
``StreamContext(s)``, is a no-op (it switches streams only on a device it finds, and there is
none), as is ``set_stream(None)``.  chainrule does the same, so GPU programs that time with
events or overlap work on streams fail at the same line as on PyTorch's CPU build, and those
that guard them with ``torch.cuda.is_available()`` run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class Stream:
    """A CUDA stream: cannot be made without CUDA (RuntimeError, as PyTorch's CPU build)."""

    def __new__(cls, device: Any = None, priority: int = 0, **kwargs: Any) -> Stream:
        raise RuntimeError("torch.cuda.Stream requires CUDA support")

    if TYPE_CHECKING:  # PyTorch's methods, for users' type checkers: no instance can exist to call them
        def synchronize(self) -> None: ...
        def query(self) -> bool: ...
        def wait_stream(self, stream: Stream) -> None: ...
        def wait_event(self, event: Event) -> None: ...
        def record_event(self, event: Event | None = None) -> Event: ...


class Event:
    """A CUDA event (``Event(enable_timing=True)`` to time GPU work): cannot be made without CUDA
    (RuntimeError, as PyTorch's CPU build)."""

    def __new__(
        cls, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False, external: bool = False
    ) -> Event:
        raise RuntimeError("Tried to instantiate dummy base class Event")

    if TYPE_CHECKING:  # PyTorch's methods, for users' type checkers: no instance can exist to call them
        def record(self, stream: Stream | None = None) -> None: ...
        def synchronize(self) -> None: ...
        def query(self) -> bool: ...
        def wait(self, stream: Stream | None = None) -> None: ...
        def elapsed_time(self, end_event: Event) -> float: ...


class StreamContext:
    """``with torch.cuda.stream(s):`` run the block on stream ``s``.  Without a CUDA device there is
    no stream to switch to, so the block simply runs (PyTorch's CPU build does the same, for any
    ``s``, None included)."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream
        self.idx = -1  # (PyTorch's "no device" index: enter and exit do nothing)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def stream(stream: Stream | None) -> StreamContext:
    """The context manager that runs its block on ``stream`` (a no-op without CUDA)."""
    return StreamContext(stream)


def set_stream(stream: Stream | None) -> None:
    """Make ``stream`` the current stream.  ``None`` does nothing, as in PyTorch; there is no
    other stream without CUDA."""
    if stream is None:
        return
    from chainrule.cuda import _no_cuda

    _no_cuda("set_stream")


def current_stream(device: Any = None) -> Stream:
    """The current CUDA stream: raises, as PyTorch's CPU build."""
    from chainrule.cuda import _no_cuda

    _no_cuda("current_stream")


def default_stream(device: Any = None) -> Stream:
    """The default CUDA stream: raises, as PyTorch's CPU build."""
    from chainrule.cuda import _no_cuda

    _no_cuda("default_stream")
