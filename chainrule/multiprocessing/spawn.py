"""``spawn`` / ``start_processes``: run ``fn(i, *args)`` in ``nprocs`` new processes and watch
them, as ``torch.multiprocessing.spawn``.

Each child runs ``fn`` inside a wrapper that, when ``fn`` raises, writes the formatted
traceback to a file of its own and exits with status 1.  :meth:`ProcessContext.join` waits
for any child to end; the first one that ends with a non-zero status makes it terminate the
others (SIGTERM, then SIGKILL) and raise :class:`ProcessRaisedException` (with the child's
traceback) or :class:`ProcessExitedException` (its exit code or signal).  On Linux each child
asks the kernel for a SIGINT when its parent dies, so that no child outlives a killed parent.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable

ENV_VAR_PARALLEL_START = "TORCH_MP_PARALLEL_START"

log = logging.getLogger(__name__)

__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "spawn",
    "SpawnContext",
    "start_processes",
]


class ProcessException(Exception):
    """A child of :func:`spawn` failed: ``error_index`` is its index ``i``, ``error_pid`` its pid."""

    def __init__(self, msg: str, error_index: int, error_pid: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self) -> tuple:
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A child's ``fn`` raised; the message holds the child's traceback."""


class ProcessExitedException(ProcessException):
    """A child exited with a non-zero status (``exit_code``) or was killed by a signal
    (``exit_code`` = -signal number, ``signal_name`` e.g. ``"SIGKILL"``)."""

    def __init__(self, msg: str, error_index: int, error_pid: int, exit_code: int,
                 signal_name: str | None = None) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self) -> tuple:
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name)


def _die_with_parent(sig: int) -> None:
    """Linux's ``prctl(PR_SET_PDEATHSIG, sig)``: this process gets ``sig`` when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _wrap(fn: Callable[..., Any], i: int, args: tuple, error_file: str) -> None:
    """The child's entry point: ``fn(i, *args)``, its traceback written to ``error_file`` if it raises."""
    _die_with_parent(signal.SIGINT)
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # SIGINT: the parent has gone (or is stopping us); nothing to report
    except Exception:
        import traceback

        with open(error_file, "wb") as fh:
            pickle.dump(traceback.format_exc(), fh)
        sys.exit(1)


class ProcessContext:
    """The processes started by :func:`start_processes` (``join=False`` returns it)."""

    def __init__(self, processes: list, error_files: list[str]) -> None:
        self.error_files = error_files
        self.processes = processes
        self.sentinels = {process.sentinel: index for index, process in enumerate(processes)}

    def pids(self) -> list[int]:
        """The children's process ids, by index."""
        return [int(process.pid) for process in self.processes]

    def _join_procs_with_timeout(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(0.0, end - time.monotonic()))

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds; None: until one ends) for children to end.

        Returns True when every child has ended successfully, False while some still run.  When a
        child has ended with a non-zero status, the others are terminated (after ``grace_period``
        seconds, if given: SIGTERM, then SIGKILL for those still alive) and
        :class:`ProcessRaisedException` (the child raised: its traceback is in the message) or
        :class:`ProcessExitedException` (exit code or signal) is raised.
        """
        if len(self.sentinels) == 0:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels.keys()), timeout=timeout)
        error_index = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)  # type: ignore[call-overload,unused-ignore]
            process = self.processes[index]
            process.join()
            if process.exitcode != 0:
                error_index = index
                break
        if error_index is None:
            return len(self.sentinels) == 0

        # one child failed: stop the others, then report the failure
        if grace_period is not None:
            self._join_procs_with_timeout(grace_period)
        for process in self.processes:
            if process.is_alive():
                log.warning("Terminating process %s via signal SIGTERM", process.pid)
                process.terminate()
        self._join_procs_with_timeout(30 if grace_period is None else grace_period)
        for process in self.processes:
            if process.is_alive():
                log.warning("Unable to shutdown process %s via SIGTERM , forcefully exiting via SIGKILL",
                            process.pid)
                process.kill()
            process.join()

        failed = self.processes[error_index]
        if not os.access(self.error_files[error_index], os.R_OK):
            exitcode = failed.exitcode
            if exitcode < 0:
                try:
                    name = signal.Signals(-exitcode).name
                except ValueError:
                    name = f"<Unknown signal {-exitcode}>"
                raise ProcessExitedException(
                    f"process {error_index:d} terminated with signal {name}",
                    error_index=error_index, error_pid=failed.pid, exit_code=exitcode, signal_name=name,
                )
            raise ProcessExitedException(
                f"process {error_index:d} terminated with exit code {exitcode:d}",
                error_index=error_index, error_pid=failed.pid, exit_code=exitcode,
            )
        with open(self.error_files[error_index], "rb") as fh:
            original_trace = pickle.load(fh)
        os.unlink(self.error_files[error_index])
        msg = f"\n\n-- Process {error_index:d} terminated with the following error:\n" + original_trace
        raise ProcessRaisedException(msg, error_index, failed.pid)


class SpawnContext(ProcessContext):
    """The old name of :class:`ProcessContext` (deprecated since PyTorch 1.4)."""

    def __init__(self, processes: list, error_files: list[str]) -> None:
        warnings.warn("SpawnContext is renamed to ProcessContext since 1.4 release.", stacklevel=2)
        super().__init__(processes, error_files)


def start_processes(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """Start ``nprocs`` processes running ``fn(i, *args)`` (``i`` = 0 .. nprocs-1) with the given
    start method ("spawn", "fork", "forkserver").

    ``join=True`` waits for all of them (raising as :meth:`ProcessContext.join` does) and returns
    None; ``join=False`` returns the :class:`ProcessContext` at once.  With "forkserver" and the
    environment variable ``TORCH_MP_PARALLEL_START=1`` the processes are started in parallel.
    """
    start_parallel = start_method == "forkserver" and os.environ.get(ENV_VAR_PARALLEL_START, "0") == "1"
    mp: Any = multiprocessing.get_context(start_method)
    error_files: list[str] = [""] * nprocs
    processes: list[Any] = [None] * nprocs

    def start_process(i: int) -> tuple[int, Any, str]:
        # a name for the child's error file: made and deleted at once, the child creates it if it fails
        tf = tempfile.NamedTemporaryFile(prefix="chainrule-errorfile-", suffix=".pickle", delete=False)  # noqa: SIM115
        tf.close()
        os.unlink(tf.name)
        process = mp.Process(target=_wrap, args=(fn, i, args, tf.name), daemon=daemon)
        process.start()
        return i, process, tf.name

    if not start_parallel:
        for i in range(nprocs):
            idx, process, name = start_process(i)
            error_files[idx], processes[idx] = name, process
    else:
        with ThreadPoolExecutor(max_workers=nprocs) as executor:
            for fut in as_completed([executor.submit(start_process, i) for i in range(nprocs)]):
                idx, process, name = fut.result()
                error_files[idx], processes[idx] = name, process
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """Spawn ``nprocs`` processes that run ``fn(i, *args)``, ``i`` being the process index.

    ``fn`` must be picklable (a function defined at the top level of a module).  If one process
    exits with a non-zero status, the others are killed and an exception is raised with the
    cause: :class:`ProcessRaisedException` with the child's traceback when ``fn`` raised,
    :class:`ProcessExitedException` for an exit code or a signal.

    Args:
        fn: the entry point, called as ``fn(i, *args)``.
        args: the arguments after the index (tensors in shared memory arrive as the same memory).
        nprocs: how many processes.
        join: wait for all of them (then None is returned); False returns the ProcessContext.
        daemon: the processes' daemon flag.
        start_method: deprecated: always "spawn" (another value warns); use start_processes.

    Returns:
        None when ``join`` is True, else the :class:`ProcessContext`.
    """
    if start_method != "spawn":
        warnings.warn(
            f"This method only supports start_method=spawn (got: {start_method}).\n"
            "To use a different start_method use:\n\t\t torch.multiprocessing.start_processes(...)",
            FutureWarning,
            stacklevel=2,
        )
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
