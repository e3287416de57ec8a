"""CPU arrays in memory that other processes can map: what ``Tensor.share_memory_()`` moves a
tensor's values into, and how such an array travels between processes as a handle.

A *segment* is one shared mapping (``mmap`` with ``MAP_SHARED``) holding one array's bytes.
Two ways to name it to another process, as PyTorch's two sharing strategies on Linux:

* ``"file_descriptor"`` (the default): the mapping is an anonymous file (``memfd_create``,
  or a file in ``/dev/shm`` unlinked at once).  The segment keeps its descriptor open; a
  process receiving the array receives a duplicate of the descriptor
  (``multiprocessing.reduction.DupFd``: passed at a child's start, or later over a Unix
  socket by ``multiprocessing.resource_sharer``), and maps it.  The memory is freed when
  the last process holding it lets go.  Each received segment keeps one descriptor open.
* ``"file_system"``: the mapping is a named file in ``/dev/shm``; the handle is its name, and a
  receiver opens it by name (no descriptor stays open).  The process that made the segment
  deletes the file when its segment is collected or at its exit, so a receiver must map it
  while the maker lives (PyTorch keeps such files alive with a manager process instead).

An array *is shared* when its memory lies in a segment: a view of a shared array is shared
too, and travels as (segment, byte offset, shape, strides), so that the receiver's view aliases
the same bytes.  These functions are the CPU back end's: they read and make NumPy arrays.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile
import uuid
import weakref
from typing import Any

import numpy as np

# the sharing strategy of arrays shared from now on (chainrule.multiprocessing.set_sharing_strategy)
ALL_STRATEGIES = frozenset({"file_system"}) if sys.platform in ("darwin", "win32") else frozenset(
    {"file_descriptor", "file_system"}
)
STRATEGY = ["file_system" if sys.platform in ("darwin", "win32") else "file_descriptor"]

_SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


class SharedSegment(mmap.mmap):
    """One shared mapping (an ``mmap.mmap``): the memory of a shared array, which is its ``base``.

    ``fd`` is the open descriptor of a ``"file_descriptor"`` segment (None for
    ``"file_system"``), ``name`` the file of a ``"file_system"`` one, ``nbytes`` the size."""

    fd: int | None
    name: str | None
    nbytes: int
    address: int
    key: tuple  # (maker's pid, a unique token): the same segment under every process's eyes

    def _finish(self, fd: int | None, name: str | None, nbytes: int, owner: bool) -> SharedSegment:
        self.fd, self.name, self.nbytes = fd, name, nbytes
        probe = np.ndarray((1,), np.uint8, buffer=self)
        self.address = probe.__array_interface__["data"][0]
        del probe
        if owner:
            self.key = (os.getpid(), uuid.uuid4().hex)
            _ATTACHED[self.key] = self
        if fd is not None:
            weakref.finalize(self, os.close, fd)  # the descriptor lives as long as the segment
        elif owner and name is not None:
            weakref.finalize(self, _unlink_quietly, name)  # the maker deletes the file (also at exit)
        return self

    @property
    def strategy(self) -> str:
        return "file_descriptor" if self.fd is not None else "file_system"


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _new_segment(nbytes: int, strategy: str) -> SharedSegment:
    """A fresh zero-filled segment of ``nbytes`` bytes (at least 1: an empty mapping cannot exist)."""
    size = max(int(nbytes), 1)
    if strategy == "file_descriptor":
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("chainrule-shared", os.MFD_CLOEXEC)
        else:
            fd, path = tempfile.mkstemp(prefix="chainrule-shared-", dir=_SHM_DIR)
            os.unlink(path)
        try:
            os.ftruncate(fd, size)
            seg = SharedSegment(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return seg._finish(fd, None, size, owner=True)
    if strategy == "file_system":
        path = os.path.join(_SHM_DIR, f"chainrule-shared-{os.getpid()}-{uuid.uuid4().hex}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
            seg = SharedSegment(fd, size)
        except BaseException:
            os.close(fd)
            _unlink_quietly(path)
            raise
        os.close(fd)  # the mapping stays valid without the descriptor
        return seg._finish(None, path, size, owner=True)
    raise ValueError(f"share_memory_: unknown sharing strategy {strategy!r}; expected one of {sorted(ALL_STRATEGIES)}")


def segment_of(arr: Any) -> SharedSegment | None:
    """The segment an array's memory lies in, or None (also for other back ends' arrays)."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, SharedSegment) else None


def is_shared(arr: Any) -> bool:
    """Whether ``arr`` (an ndarray) lies in shared memory."""
    return type(arr) is np.ndarray and segment_of(arr) is not None


def share(arr: np.ndarray, strategy: str | None = None) -> np.ndarray:
    """``arr`` itself when it is already shared, else a copy of it in a new segment
    (C-contiguous, same shape and dtype)."""
    if segment_of(arr) is not None:
        return arr
    if arr.dtype.hasobject:
        raise TypeError(f"share_memory_: arrays of Python objects cannot be shared (dtype {arr.dtype})")
    seg = _new_segment(arr.nbytes, STRATEGY[0] if strategy is None else strategy)
    out: np.ndarray = np.ndarray(arr.shape, arr.dtype, buffer=seg)
    out[...] = arr
    return out


# -- travelling between processes --------------------------------------------------------------


class _SegmentHandle:
    """What names a segment to another process: a duplicated descriptor or a file name."""

    __slots__ = ("fd", "name", "nbytes")

    def __init__(self, fd: Any, name: str | None, nbytes: int) -> None:
        self.fd, self.name, self.nbytes = fd, name, nbytes

    def __reduce__(self) -> tuple:
        return (_SegmentHandle, (self.fd, self.name, self.nbytes))


# segments this process has attached, by where they came from: the same segment received twice
# is mapped once, so that two tensors sent separately still alias each other here
_ATTACHED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def reduce_array(arr: np.ndarray) -> tuple:
    """The pickle reduction of a shared array, for ``multiprocessing``'s pickler only: a
    handle to its segment and where the array lies in it.  (Ordinary pickling copies values.)"""
    from multiprocessing.reduction import DupFd

    seg = segment_of(arr)
    if seg is None:
        raise ValueError("reduce_array: the array is not in shared memory")
    offset = arr.__array_interface__["data"][0] - seg.address
    fd = None if seg.fd is None else DupFd(seg.fd)
    handle = _SegmentHandle(fd, seg.name, seg.nbytes)
    return (rebuild_array, (handle, seg.key, arr.dtype.str, arr.shape, arr.strides, offset))


def rebuild_array(handle: _SegmentHandle, key: tuple, dtype: str, shape: tuple, strides: tuple,
                  offset: int) -> np.ndarray:
    """The receiving side of :func:`reduce_array`: the same bytes, mapped in this process."""
    seg = _ATTACHED.get(key)
    if seg is not None and handle.fd is not None:
        # already mapped here: the duplicate is not needed.  Fetch it anyway, so that the sender's
        # resource sharer lets its copy go; a sender that has exited has none left to give.
        try:
            fd = handle.fd.detach()
        except (OSError, EOFError):
            fd = seg.fd
        if fd != seg.fd:  # (a child started with several handles to one segment is passed one
            os.close(fd)  # descriptor, seg.fd itself)
    if seg is None:
        if handle.fd is not None:
            fd = handle.fd.detach()
            try:
                seg = SharedSegment(fd, handle.nbytes)._finish(fd, None, handle.nbytes, owner=False)
            except BaseException:
                os.close(fd)
                raise
        else:
            assert handle.name is not None
            fd = os.open(handle.name, os.O_RDWR)
            try:
                seg = SharedSegment(fd, handle.nbytes)
            finally:
                os.close(fd)
            seg._finish(None, handle.name, handle.nbytes, owner=False)
        seg.key = key  # re-sent from here, it keeps its first name
        _ATTACHED[key] = seg
    return np.ndarray(shape, np.dtype(dtype), buffer=seg, offset=offset, strides=strides)
