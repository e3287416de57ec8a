"""What runs inside a DataLoader worker process (PyTorch's ``torch.utils.data._utils.worker``).

A worker is a child process that owns a copy of the data set.  The main process
sends it tasks ``(task_id, indices)`` on its own index queue; the worker builds
the batch (``collate_fn([dataset[i] for i in indices])``) and puts
``(task_id, batch)`` on the result queue shared by all workers.  ``None`` on the
index queue tells it to stop.

Seeding, as PyTorch 2.x does it: the loader draws one ``base_seed`` per
iterator from its ``generator``; worker ``k`` then seeds Python's ``random``
and chainrule's default generator with ``base_seed + k``, and NumPy's global
``np.random`` with a state derived from ``(base_seed, k)`` (PyTorch derives it
with a SeedSequence-style hash; here NumPy's own ``SeedSequence`` does it), so
that no two workers, and no two epochs, repeat each other's random numbers.
"""

from __future__ import annotations

import os
import queue
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
    index_queue: Any,
    result_queue: Any,
    base_seed: int,
    init_fn: Callable[[int], None] | None,
    worker_id: int,
    num_workers: int,
) -> None:
    """The body of worker process ``worker_id``: serve tasks until ``None`` arrives or the parent dies.

    ``fetch(state, indices)`` builds one batch; ``state`` is the dataset (map-style)
    or an iterator over this worker's copy (iterable).
    """
    global _worker_info
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
    try:
        while True:
            try:
                task = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent:  # the main process is gone: nobody will read our results
                    return
                continue
            if task is None:
                return
            if isinstance(task, ResumeIteration):
                result_queue.put((task, None))
                ended = False
                if init_error is None and iterable:
                    state = iter(dataset)
                continue
            if ended:  # the main process stops sending once it sees IterableEnd; ignore stragglers
                continue
            task_id, indices = task
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
            result_queue.put((task_id, data))
            del data
    except KeyboardInterrupt:  # the main process handles Ctrl-C; workers just stop
        return
    finally:
        result_queue.cancel_join_thread()  # never block exit on results nobody reads
