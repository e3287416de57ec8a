"""Threads for chainrule's own compiled kernels: how many, and one kernel run over ranges.

NumPy runs its element-wise passes on one thread; only BLAS products use several.  A compiled
kernel whose work splits into independent ranges (the channels of im2col, say) can use the
other cores too: :func:`run_ranges` cuts ``[0, total)`` into one range per thread and runs the
kernel on each, the calling thread taking the first.  ctypes releases the GIL during a foreign
call, so the ranges really run at once.

The number of threads is :func:`intra_threads`: what ``chainrule.set_num_threads`` (PyTorch's
``torch.set_num_threads``) last set, else ``OMP_NUM_THREADS`` (or ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``) as for the BLAS library, else the cores this process may run on.  The
same setting thus governs both thread pools, which take turns: a product, then a kernel.
(Where oneDNN runs the convolutions, its OpenMP threads take that number and BLAS is set to
one thread: ``onednn.take_threads``.)

While oneDNN's GNU OpenMP team holds the threads (:data:`OPENMP_HELD`), the ranges run on that
team instead (``kernels/team.c``): its workers spin for a while after each of oneDNN's parallel
regions, and a range handed to a thread of chainrule's own pool waited for the core such a
worker held.  GELU's forward and backward inside the transformer workload's step (with the
threads held) took 3.2 ms on the own pool, 1.8 on the team.  Either way the ranges and their
cuts are the same, so are the bits.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Callable

from chainrule.backend import native

_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_state: dict = {"count": None, "pool": None, "workers": 0, "settings": 0,  # settings: set_intra_threads calls
          "team": None, "forked": False}  # team: kernels/team.c's team_run once loaded (False: not available)

# The thread setting (settings()) under which oneDNN's OpenMP team last took the threads from
# BLAS, else None.  ``onednn.take_threads`` writes it (``onednn.HELD`` is this list); it is read
# on every product (``gemm_onednn``) and every threaded kernel (``run_ranges``).
OPENMP_HELD: list = [None]


def cpu_count() -> int:
    """The cores this process may run on (its affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # (not on macOS / Windows)
        return os.cpu_count() or 1


def _from_environment() -> int:
    for name in _ENV:
        try:
            n = int(os.environ.get(name, "").split(",")[0])
        except ValueError:
            continue
        if n > 0:
            return n
    return cpu_count()


def settings() -> tuple:
    """(thread count, how many times it was set): changes whenever ``set_intra_threads`` runs."""
    return intra_threads(), _state["settings"]


def intra_threads() -> int:
    """How many threads a kernel may use (see the module docstring)."""
    if _state["count"] is None:
        _state["count"] = _from_environment()
    return _state["count"]


def threads_for(work: int, at_least: int) -> int:
    """:func:`intra_threads` for ``work`` of at least ``at_least`` units, else 1: below that, a
    thread's start costs more than it saves (each kernel measures its own threshold)."""
    return intra_threads() if work >= at_least else 1


def set_intra_threads(n: int) -> None:
    """Use ``n`` threads from now on (``chainrule.set_num_threads`` calls this)."""
    if n < 1:
        raise ValueError(f"set_intra_threads: expected a positive number, got {n}")
    _state["count"] = int(n)
    _state["settings"] += 1
    _drop_pool()


class _Worker:
    """A thread that runs one range at a time, handed over through two locks: ``go`` (released
    by the caller with a task set) and ``done`` (released by the worker when it is finished).
    A handoff wakes the thread sooner than an executor's queue: an empty range there and back
    took 17–18 µs against a ``ThreadPoolExecutor``'s 23–38 on the development VM."""

    __slots__ = ("go", "done", "task", "error")

    def __init__(self) -> None:
        self.go = threading.Lock()
        self.go.acquire()
        self.done = threading.Lock()
        self.done.acquire()
        self.task: tuple | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._loop, name="chainrule-kernel", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            task = self.task
            if task is None:  # (told to stop)
                return
            try:
                task[0](task[1], task[2])
            except BaseException as e:  # handed to the caller by wait()
                self.error = e
            self.done.release()

    def start(self, kernel: Callable[[int, int], None], lo: int, hi: int) -> None:
        self.task = (kernel, lo, hi)
        self.go.release()

    def wait(self) -> BaseException | None:
        self.done.acquire()
        error, self.error = self.error, None
        return error

    def stop(self) -> None:
        self.task = None
        try:
            self.go.release()
        except RuntimeError:  # (a task handed over but not yet taken: the thread reads None next)
            pass


class _Pool:
    """The workers of :func:`run_ranges`, used by one caller at a time (``busy``); a second
    caller meanwhile runs its ranges itself."""

    def __init__(self, n: int) -> None:
        self.busy = threading.Lock()
        self.workers = [_Worker() for _ in range(n)]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


_MAKING = threading.Lock()


def _drop_pool() -> None:
    pool, _state["pool"], _state["workers"] = _state["pool"], None, 0
    if pool is not None:
        with pool.busy:  # (after a call in progress: its workers are then waiting for a task)
            pool.stop()


def _forget_pool_in_child() -> None:
    # a forked child (a DataLoader worker) has none of the parent's threads, and a lock another
    # thread held at the fork stays held in it: start afresh.  Nor may it start GNU OpenMP's
    # team again (which hangs a child forked after the parent's team ran): own pool only
    global _MAKING, _TEAM_BUSY
    _state["pool"], _state["workers"], _state["forked"] = None, 0, True
    _MAKING = threading.Lock()
    _TEAM_BUSY = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


# The widest vector loop's step in the kernels, in elements.  A kernel whose loop has a vector body
# and a scalar tail cuts its ranges on multiples of it (``run_ranges``' step): vector and scalar
# math functions (exp, erf, expm1), which may differ in the last bit, then meet the same elements
# whatever the number of threads.
LANES = 16


def run_ranges(kernel: Callable[[int, int], None], total: int, threads: int, step: int = 1) -> None:
    """Run ``kernel(lo, hi)`` over ``[0, total)`` cut into ``threads`` ranges of nearly equal size,
    at once (the calling thread takes the first); returns when every range is done.  The ranges
    must not write to the same memory.  ``threads`` is capped by ``total``.

    With ``step`` > 1 every cut falls on a multiple of ``step``: a kernel whose loop has a vector
    body ``step`` elements wide and a scalar tail (where a vector math function and its scalar
    form may differ in the last bit) then computes every element in the same part of its loop
    whatever the number of threads, so the bits do not depend on it."""
    blocks = -(-total // step)
    threads = max(1, min(threads, blocks))
    if threads == 1:
        kernel(0, total)
        return
    cuts = [min(blocks * t // threads * step, total) for t in range(threads + 1)]
    if OPENMP_HELD[0] is not None and OPENMP_HELD[0] == settings() and not _state["forked"]:
        team = openmp_team()
        if team is not None:
            _run_on_team(team, kernel, cuts)
            return
    if _state["workers"] < threads - 1:
        with _MAKING:  # (two threads arriving at once make one pool)
            if _state["workers"] < threads - 1:
                _drop_pool()
                _state["pool"] = _Pool(threads - 1)
                _state["workers"] = threads - 1
    pool = _state["pool"]
    if pool is None or not pool.busy.acquire(blocking=False):  # another thread (or this kernel's
        kernel(0, total)  # caller) has the workers: run every range here (the same bits: see ``step``)
        return
    workers = pool.workers[:threads - 1]
    started = 0
    waited = False
    try:
        for t, w in enumerate(workers, 1):
            w.start(kernel, cuts[t], cuts[t + 1])
            started += 1
        try:
            kernel(cuts[0], cuts[1])
        finally:
            errors = [w.wait() for w in workers[:started]]
            waited = True
    finally:
        pool.busy.release()
        if not waited:  # interrupted while waiting (Ctrl-C): a worker may be mid-range, so this pool's
            if _state["pool"] is pool:  # workers stop once they are done, and the next call starts afresh
                _state["pool"], _state["workers"] = None, 0
            pool.stop()
    error = next((e for e in errors if e is not None), None)
    if error is not None:
        raise error


def in_forked_child() -> bool:
    """Whether this process is a fork of one that imported chainrule (a DataLoader worker): GNU
    OpenMP must not start again there (``onednn.take_threads``, :func:`run_ranges`)."""
    return _state["forked"]


_RANGE = ctypes.CFUNCTYPE(None, ctypes.c_int)
_TEAM_BUSY = threading.Lock()


def openmp_team() -> Callable | None:
    """``team_run`` of kernels/team.c, or None where it is not built with OpenMP (no C compiler,
    no OpenMP, ``CHAINRULE_NATIVE=0``)."""
    team = _state["team"]
    if team is None:
        lib = native.load("team")
        team = False
        if lib is not None and lib.team_has_openmp():
            team = lib.team_run
            team.argtypes = [ctypes.c_int, ctypes.c_int, _RANGE]
            team.restype = None
        _state["team"] = team
    return team or None


def _run_on_team(team: Callable, kernel: Callable[[int, int], None], cuts: list) -> None:
    """``kernel`` over the ranges between ``cuts``, one per thread of OpenMP's team (what
    :func:`run_ranges` does while oneDNN's team holds the threads).  As with the own pool, a
    second caller meanwhile runs its ranges itself; an exception in a range is raised here once
    every range has ended."""
    if not _TEAM_BUSY.acquire(blocking=False):
        kernel(cuts[0], cuts[-1])
        return
    errors: list = []

    def run(r: int) -> None:
        try:
            kernel(cuts[r], cuts[r + 1])
        except BaseException as e:  # (a callback's exception would only be printed by ctypes)
            errors.append(e)

    try:
        team(len(cuts) - 1, len(cuts) - 1, _RANGE(run))
    finally:
        _TEAM_BUSY.release()
    if errors:
        raise errors[0]


def run_elementwise(fn: Callable[..., None], n: int, pointers: list, itemsize: int, threads: int,
                    *scalars: float) -> None:
    """An element-wise kernel ``fn(count, *pointers, *scalars)`` over elements [0, n) of the
    contiguous arrays at ``pointers`` (inputs and outputs), on ``threads`` ranges cut on multiples
    of ``LANES`` elements, each range's pointers advanced to its first element."""

    def run(lo: int, hi: int) -> None:
        fn(hi - lo, *(p + lo * itemsize for p in pointers), *scalars)

    run_ranges(run, n, threads, LANES)
