"""``torch.cuda.nvtx``: NVIDIA Tools Extension ranges and markers, for profilers such as Nsight.

PyTorch's CPU-only build has no NVTX library, and every call that would reach it raises
``RuntimeError("NVTX functions not installed. Are you sure you have a CUDA build?")``:
``range_push``, ``range_pop``, ``mark``, and ``range(msg)`` when its block is entered (making
the ``range`` object does not raise; used as a decorator it raises when the function is
called).  ``range_start``/``range_end`` reach the missing library by another attribute and raise
``AttributeError``.  chainrule does the same: a program annotated for Nsight fails at the same
line as on PyTorch's CPU build.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

__all__ = ["mark", "range", "range_end", "range_pop", "range_push", "range_start"]

_NOT_INSTALLED = "NVTX functions not installed. Are you sure you have a CUDA build?"


def _missing() -> NoReturn:
    raise RuntimeError(_NOT_INSTALLED)


def range_push(msg: str) -> int:
    """Open a nested range named ``msg``: raises without CUDA (as PyTorch's CPU build)."""
    _missing()


def range_pop() -> int:
    """Close the innermost range: raises without CUDA."""
    _missing()


def mark(msg: str) -> None:
    """Mark an instant named ``msg``: raises without CUDA."""
    _missing()


def range_start(msg: str) -> int:
    """Open a range that may end in another thread: raises AttributeError without CUDA, as PyTorch's
    CPU build (its NVTX stand-in has no such function)."""
    raise AttributeError("'_NVTXStub' object has no attribute 'rangeStartA'")


def range_end(range_id: int) -> None:
    """End a range opened by ``range_start``: raises AttributeError without CUDA, as PyTorch's CPU build."""
    raise AttributeError("'_NVTXStub' object has no attribute 'rangeEnd'")


@contextmanager
def range(msg: str, *args: Any, **kwargs: Any) -> Iterator[None]:  # noqa: A001  (PyTorch's name)
    """``with nvtx.range("step {}", i):`` a range around the block (``msg.format(*args, **kwargs)``);
    also a decorator.  Entering it raises without CUDA, as ``range_push``."""
    range_push(msg.format(*args, **kwargs))
    try:
        yield
    finally:
        range_pop()
