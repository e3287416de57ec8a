"""What runs inside a DataLoader worker process (PyTorch's ``torch.utils.data._utils.worker``).

A worker is a child process that owns a copy of the data set.  It talks to the
main process over one duplex pipe: tasks ``(task_id, indices)`` come in, the worker
builds the batch (``collate_fn([dataset[i] for i in indices])``) and sends
``(task_id, batch)`` back; ``None`` (or the pipe closing) tells it to stop.  A pipe
per worker, rather than shared queues, means no lock and no feeder thread between a
batch and the main process.

Seeding, as PyTorch 2.x does it: the loader draws one ``base_seed`` per
iterator from its ``generator``; worker ``k`` then seeds Python's ``random``
and chainrule's default generator with ``base_seed + k``, and NumPy's global
``np.random`` with a state derived from ``(base_seed, k)`` (PyTorch derives it
with a SeedSequence-style hash; here NumPy's own ``SeedSequence`` does it), so
that no two workers, and no two epochs, repeat each other's random numbers.
"""

from __future__ import annotations

import mmap
import os
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# how often (seconds) a waiting worker checks that its parent is still alive
STATUS_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker.

    Attributes:
        id: this worker's number, 0 .. num_workers - 1.
        num_workers: how many workers the loader has.
        seed: the seed of this worker's random generators (``base_seed + id``).
        dataset: this worker's copy of the data set.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker: its ``WorkerInfo``; in the main process: None.

    An ``IterableDataset`` uses it to give each worker its own share of the
    stream (each worker holds a full copy of the data set; without sharding every
    example would appear ``num_workers`` times).
    """
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback as text."""

    def __init__(self, exc_info: tuple, where: str) -> None:
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        """Raise an exception of the original type whose message holds the worker's traceback."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:  # KeyError quotes its message: keep the lines readable
            msg = KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # an exception class whose constructor wants other arguments
            raise RuntimeError(msg) from None
        raise exc


class KeyErrorMessage(str):
    """A str whose repr is itself (KeyError prints repr(message))."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class IterableEnd:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class ShmArray:
    """Stands in the message for an array that travelled through the worker's shared memory."""

    offset: int
    shape: tuple
    dtype: str
    tensor: bool  # rebuild a chainrule Tensor (else a NumPy array)


def _map_items(x: Any, walk: Callable[[Any], Any]) -> Any:
    """``x`` rebuilt with ``walk`` applied to each item when it is a list, tuple, namedtuple or dict; else ``x``.

    The container step of :class:`Arena`'s ``pack`` and ``unpack`` walks (exact types: a subclass
    of list or dict is a leaf; a namedtuple keeps its type).
    """
    if type(x) is list:
        return [walk(v) for v in x]
    if type(x) is tuple:
        return tuple(walk(v) for v in x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(walk(v) for v in x))
    if type(x) is dict:
        return {k: walk(v) for k, v in x.items()}
    return x


class Arena:
    """Shared memory between the main process and one worker: ``slots`` slots of ``slot_bytes``.

    Anonymous shared memory made before the worker starts, so only a forked worker
    inherits it (other start methods send batches through the pipe).  A batch's big arrays
    (>= ``min_bytes``) are copied into one free slot by the worker and out of it by the main
    process, which then hands the slot back with the worker's next task; the pipe carries
    only their shapes.  Pickling the arrays instead costs three copies and a pipe buffer
    that fills every 64 KiB.  A batch that does not fit, or finds no free slot, goes
    through the pipe as before, so the arena never makes anyone wait.
    """

    min_bytes = 1 << 14
    default_slot_bytes = 16 << 20

    def __init__(self, slots: int, slot_bytes: int | None = None) -> None:
        self.slots = slots
        self.slot_bytes = self.default_slot_bytes if slot_bytes is None else slot_bytes
        self.buf = mmap.mmap(-1, slots * self.slot_bytes)  # untouched pages cost no memory

    def pack(self, data: Any, slot: int) -> tuple[Any, bool]:
        """``data`` with its big arrays moved into ``slot``; and whether any was."""
        from chainrule.autograd.tensor import Tensor

        pos = slot * self.slot_bytes
        end = pos + self.slot_bytes
        used = False

        def walk(x: Any) -> Any:
            nonlocal pos, used
            is_tensor = type(x) is Tensor and not x.requires_grad
            a = x._array if is_tensor else x
            if type(a) is np.ndarray:
                start = -(-pos // 64) * 64  # 64-byte aligned
                if a.nbytes >= self.min_bytes and a.dtype.kind in "biufc" and start + a.nbytes <= end:
                    np.ndarray(a.shape, a.dtype, buffer=self.buf, offset=start)[...] = a
                    pos, used = start + a.nbytes, True
                    return ShmArray(start, a.shape, a.dtype.str, is_tensor)
                return x
            return _map_items(x, walk)

        return walk(data), used

    def unpack(self, data: Any) -> Any:
        """The message's arrays copied out of shared memory (the slot may be reused at once after)."""
        from chainrule.autograd.tensor import Tensor

        def walk(x: Any) -> Any:
            if type(x) is ShmArray:
                a = np.ndarray(x.shape, np.dtype(x.dtype), buffer=self.buf, offset=x.offset).copy()
                return Tensor._wrap(a) if x.tensor else a
            return _map_items(x, walk)

        return walk(data)


@dataclass(frozen=True)
class ResumeIteration:
    """Sent to persistent workers of an IterableDataset at a new epoch: restart the iterator."""


def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed ``random``, chainrule's default generator and ``np.random`` for one worker; return its seed."""
    from chainrule.backend.random import manual_seed

    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def worker_loop(
    dataset: Any,
    iterable: bool,
    fetch: Callable[[Any, Any], Any],
    conn: Any,
    arena: Arena | None,
    base_seed: int,
    init_fn: Callable[[int], None] | None,
    worker_id: int,
    num_workers: int,
    inherited: tuple[Any, ...] = (),
) -> None:
    """The body of worker process ``worker_id``: serve tasks until ``None`` arrives or the parent dies.

    ``fetch(state, indices)`` builds one batch; ``state`` is the dataset (map-style)
    or an iterator over this worker's copy (iterable).  Messages in: ``(task_id, indices,
    freed_slots)``, ``ResumeIteration()`` or ``None``; out: ``(task_id, data, slot or None)``.
    ``inherited``: the main process's pipe ends that a forked worker got copies of, which it
    closes first, so that the main process dying closes our pipe (EOF) at once, even if it died
    before this worker ran its first line.  A parent that changes (checked every
    ``STATUS_CHECK_INTERVAL`` seconds) is the second sign.
    """
    global _worker_info
    # A forked worker holds copies of the main process's ends of the pipes made so far, its
    # own included.  While any copy is open, the main process's death never reads as EOF here.
    for end in inherited:
        end.close()
    parent = os.getppid()
    init_error = None
    try:
        seed = seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if init_fn is not None:
            init_fn(worker_id)
        state = iter(dataset) if iterable else dataset
    except Exception:
        init_error = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process {worker_id}")
        state = None
    ended = False  # this worker's copy of an IterableDataset is exhausted
    free = list(range(arena.slots)) if arena is not None else []  # shared-memory slots we may write
    try:
        while True:
            if not conn.poll(STATUS_CHECK_INTERVAL):
                if os.getppid() != parent:  # the main process is gone: nobody will read our results
                    return
                continue
            task = conn.recv()
            if task is None:
                return
            if isinstance(task, ResumeIteration):
                conn.send((task, None, None))  # the main process has read all our earlier results
                free = list(range(arena.slots)) if arena is not None else []
                ended = False
                if init_error is None and iterable:
                    state = iter(dataset)
                continue
            if ended:  # the main process stops sending once it sees IterableEnd; ignore stragglers
                continue
            task_id, indices, freed = task
            free.extend(freed)
            data: Any
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetch(state, indices)
                except StopIteration:
                    data, ended = IterableEnd(worker_id), True
                except Exception:
                    data = ExceptionWrapper(sys.exc_info(), f"in DataLoader worker process {worker_id}")
            slot = None
            if free and not isinstance(data, (ExceptionWrapper, IterableEnd)):
                assert arena is not None
                data, used = arena.pack(data, free[0])
                if used:
                    slot = free.pop(0)
            conn.send((task_id, data, slot))
            del data
    except (KeyboardInterrupt, EOFError, BrokenPipeError, ConnectionResetError):
        return  # Ctrl-C is the main process's to handle; a closed pipe means it has gone
    finally:
        conn.close()
