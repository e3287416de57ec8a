"""A pool of large arrays reused between training steps (:class:`BufferPool`; ``POOL`` is the shared one)."""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np

_getrefcount = sys.getrefcount


def memory_order(a: Any) -> list[int]:
    """a's axes by stride, outermost in memory first: ``a.transpose(memory_order(a))`` is
    C-ordered when a is a dense array in any order of its axes."""
    return sorted(range(a.ndim), key=lambda i: -a.strides[i])


class BufferPool:
    """Reuses large arrays between training steps instead of asking the OS for fresh pages.

    A step allocates the same big arrays every time, and the page faults of fresh ones cost as
    much as a convolution itself (im2col 0.4 ms -> 2 ms).  The pool keeps up to ``per_shape``
    arrays per (shape, dtype) and hands one out again once nothing else refers to it (its
    reference count says so: a buffer saved in a graph is never reused).  Arrays below
    ``min_bytes`` go straight to NumPy; at most ``max_bytes`` are kept.  Thread-safe (a lock).
    """

    def __init__(self, per_shape: int = 3, max_shapes: int = 48, min_bytes: int = 1 << 17,
                 max_bytes: int = 1 << 28) -> None:
        self.per_shape = per_shape
        self.max_shapes = max_shapes
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self._free: dict = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple, dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        if math.prod(shape) * dtype.itemsize < self.min_bytes:
            return np.empty(shape, dtype)
        with self._lock:
            return self._take((shape, dtype))

    def _take(self, key: tuple) -> np.ndarray:
        shape, dtype = key
        bufs = self._free.get(key)
        if bufs is None:
            if len(self._free) >= self.max_shapes:
                old = self._free.pop(next(iter(self._free)))  # forget the oldest shape
                self._bytes -= sum(a.nbytes for a in old)
            bufs = self._free[key] = []
        for b in bufs:
            if _getrefcount(b) <= 3:  # the list, the loop variable and the call's argument: free
                return b
        b = np.empty(shape, dtype)
        if len(bufs) < self.per_shape and self._bytes + b.nbytes <= self.max_bytes:
            bufs.append(b)
            self._bytes += b.nbytes
        return b

    def adopt(self, n: int, dtype: Any) -> np.ndarray:
        """A flat array of ``n`` elements of ``dtype`` for a holder that keeps it for good (a
        compiled plan's buffer): the front of the smallest free pooled array that fits and is at
        most twice as large, taken out of the pool, else a new array.  Whatever the pool gives
        up this way it no longer holds (a small buffer never takes a large array that eager
        steps would need again)."""
        dtype = np.dtype(dtype)
        with self._lock:
            best = None
            for (shape, dt), bufs in self._free.items():
                if dt != dtype or not n <= math.prod(shape) <= 2 * n:
                    continue
                for k in range(len(bufs)):
                    b = bufs[k]
                    if _getrefcount(b) <= 3 and (best is None or b.size < best[2]):  # (list, b, argument)
                        best = (bufs, k, b.size)
            if best is not None:
                bufs, k, _ = best
                b = bufs.pop(k)
                self._bytes -= b.nbytes
                return b.reshape(-1)[:n]
        return np.empty(n, dtype)

    def zeros(self, shape: tuple, dtype: Any) -> np.ndarray:
        b = self.empty(shape, dtype)
        b.fill(0)
        return b

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
            self._bytes = 0


POOL = BufferPool()
