"""``torch.cpu``: the CPU's counterparts of ``torch.cuda``'s device functions, for device-agnostic
code (``getattr(torch, device.type).synchronize()``), as PyTorch's: one device, always
available, nothing to wait for; :class:`Stream` and :class:`Event` are no-op objects.
``chainrule.cpu.amp.autocast`` is the deprecated spelling of ``chainrule.autocast('cpu', ...)``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from chainrule.cpu import amp

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "amp",
    "current_device",
    "current_stream",
    "device_count",
    "is_available",
    "is_initialized",
    "set_device",
    "stream",
    "synchronize",
]


def is_available() -> bool:
    """Whether the CPU is available: always True."""
    return True


def is_initialized() -> bool:
    """Whether the CPU is initialised: always True."""
    return True


def synchronize(device: Any = None) -> None:
    """Wait for every kernel on the CPU to finish: chainrule's kernels return when done, so this
    returns at once (``device`` is ignored: there is one CPU device)."""


def device_count() -> int:
    """The number of CPU *devices* (not cores): always 1."""
    return 1


def set_device(device: Any) -> None:
    """Select the current CPU device: nothing to do (there is one)."""


def current_device() -> str:
    """The current CPU device: always ``'cpu'``."""
    return "cpu"


class Stream:
    """A CPU stream, a no-op object for device-agnostic code (work runs in program order)."""

    def __init__(self, priority: int = -1) -> None:
        pass

    def wait_stream(self, stream: Any) -> None:
        """Nothing to wait for."""

    def record_event(self) -> None:
        """Nothing to record (returns None, as PyTorch's CPU stream)."""

    def wait_event(self, event: Any) -> None:
        """Nothing to wait for."""


class Event:
    """A CPU event, a no-op object: always complete."""

    def query(self) -> bool:
        return True

    def record(self, stream: Any = None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait(self, stream: Any = None) -> None:
        pass


_default_cpu_stream = Stream()
_current_stream = _default_cpu_stream


def current_stream(device: Any = None) -> Stream:
    """The stream selected by the innermost :func:`stream` block (``device`` is ignored)."""
    return _current_stream


class StreamContext(AbstractContextManager):
    """Select ``stream`` as :func:`current_stream` inside the block (None: leave it as it is)."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream
        self.prev_stream = _default_cpu_stream

    def __enter__(self) -> None:
        global _current_stream
        if self.stream is None:
            return
        self.prev_stream = _current_stream
        _current_stream = self.stream

    def __exit__(self, type: Any, value: Any, traceback: Any) -> None:
        global _current_stream
        if self.stream is None:
            return
        _current_stream = self.prev_stream


def stream(stream: Stream | None) -> AbstractContextManager:
    """A :class:`StreamContext` selecting ``stream``."""
    return StreamContext(stream)
