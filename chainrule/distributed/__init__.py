"""``chainrule.distributed``: PyTorch's ``torch.distributed`` API over MPI (``mpi4py``).

Each process of a job launched by ``mpiexec -n N`` (or ``srun``) is one *rank*; the
MPI launcher tells every process its rank and the world size, so::

    import chainrule.distributed as dist
    dist.init_process_group("mpi")         # rank and size come from the launcher
    x = cr.ones(3) * dist.get_rank()
    dist.all_reduce(x)                     # x = 0 + 1 + ... + (N-1) on every rank

The collectives work *in place* on a Tensor's NumPy array, handing its memory to
MPI directly (``Iallreduce(MPI.IN_PLACE, array)``...): there is no copy unless MPI
needs one (a non-contiguous tensor, a list of tensors gathered into one buffer).
Every collective is a non-blocking MPI call; ``async_op=True`` returns the
:class:`Work` handle at once, otherwise the call waits for it. Waits are bounded by
the group's ``timeout``: a rank that never arrives makes the others raise
``RuntimeError`` instead of hanging, and an uncaught exception on any rank calls
``MPI_Abort``, which stops the whole job with a non-zero exit status.

``mpi4py`` is optional (``pip install "chainrule[distributed]"``): it is imported
only by :func:`init_process_group`; :func:`is_available` says whether it is there.
"""

from __future__ import annotations

import enum
import importlib.util
import pickle
import sys
import time
from datetime import timedelta
from typing import Any, Callable

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.autograd.version import bump
from chainrule.backend.device import check_device

__all__ = [
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "default_pg_timeout",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
]

default_pg_timeout = timedelta(minutes=30)  # PyTorch's default for CPU back ends


def is_available() -> bool:
    """True when the MPI back end can be used (``mpi4py`` is installed); imports nothing."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    """Same as :func:`is_available`: MPI is chainrule's only back end."""
    return is_available()


class ReduceOp(enum.Enum):
    """How ``all_reduce``/``reduce``/``reduce_scatter`` combine the ranks' values (elementwise)."""

    SUM = "sum"
    AVG = "avg"  # MPI has no average: a SUM, then a division by the world size
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


def _mpi_op(MPI: Any, op: ReduceOp) -> Any:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"distributed: op must be a ReduceOp (ReduceOp.SUM, ...), got {op!r}")
    return {
        ReduceOp.SUM: MPI.SUM,
        ReduceOp.AVG: MPI.SUM,
        ReduceOp.PRODUCT: MPI.PROD,
        ReduceOp.MIN: MPI.MIN,
        ReduceOp.MAX: MPI.MAX,
        ReduceOp.BAND: MPI.BAND,
        ReduceOp.BOR: MPI.BOR,
        ReduceOp.BXOR: MPI.BXOR,
    }[op]


class ProcessGroup:
    """The ranks of a job and their MPI communicator (only the default group, ``WORLD``, exists)."""

    def __init__(self, comm: Any, timeout: timedelta) -> None:
        self.comm = comm  # a duplicate of MPI.COMM_WORLD: user code's own MPI calls never mix with ours
        self.timeout = timeout
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"ProcessGroup(backend='mpi', rank={self._rank}, size={self._size})"


class GroupMember:
    """``GroupMember.WORLD``: the default group once :func:`init_process_group` has run."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = -100


class _GroupNamespace:
    @property
    def WORLD(self) -> ProcessGroup | None:
        return GroupMember.WORLD


group = _GroupNamespace()  # ``dist.group.WORLD`` as in PyTorch

_MPI: Any = None  # the mpi4py.MPI module, once imported
_SPIN_SECONDS = 0.05  # how long Work.wait polls MPI before it starts sleeping between polls
_EXCEPTHOOK: Any = None  # the hook that was there before ours


def _import_mpi() -> Any:
    global _MPI
    if _MPI is None:
        if not is_available():
            raise RuntimeError(
                "distributed: the MPI back end needs mpi4py and an MPI library: "
                'pip install "chainrule[distributed]" (installs mpi4py and the mpich wheel)'
            )
        from mpi4py import MPI  # MPI_Init_thread runs here, reading rank/size from the launcher

        _MPI = MPI
    return _MPI


def _abort_on_uncaught(exc_type: Any, exc: Any, tb: Any) -> None:
    """sys.excepthook while a group is up: print the error, then stop every rank with MPI_Abort.

    Without it, the other ranks would wait forever in their next collective for a rank
    that is gone (mpiexec only notices when a process *exits*, and a rank blocked in
    MPI never does)."""
    prev = _EXCEPTHOOK or sys.__excepthook__
    prev(exc_type, exc, tb)
    if _MPI is not None and GroupMember.WORLD is not None:
        try:
            sys.stderr.write(
                f"chainrule.distributed: rank {GroupMember.WORLD.rank()} raised {exc_type.__name__}; "
                "aborting the job (MPI_Abort)\n"
            )
            sys.stderr.flush()
            # mpiexec forwards a rank's output asynchronously and tears the job down at once on
            # MPI_Abort: without a moment's pause the traceback above can be cut off mid-way
            time.sleep(0.5)
        finally:
            _MPI.COMM_WORLD.Abort(1)


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Join the job's default process group (PyTorch's signature; ``backend`` must be ``"mpi"``).

    Rank and world size come from the MPI launcher (``mpiexec -n N``, ``srun``); a
    ``rank``/``world_size`` given here must agree with it (-1: take the launcher's).
    ``init_method`` and ``store`` are not used by MPI (PyTorch's MPI back end ignores
    them too); ``timeout`` bounds every wait of every collective (default 30 minutes).
    Installs a ``sys.excepthook`` that aborts the whole job when a rank raises.
    """
    global _EXCEPTHOOK
    if backend is None:
        backend = "mpi"
    if str(backend).lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available in chainrule; the only back end is 'mpi', "
            "whose processes are started by an MPI launcher: run the script with `mpiexec -n N python script.py` "
            "(instead of torch.multiprocessing.spawn) and call init_process_group('mpi')"
        )
    if GroupMember.WORLD is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice")
    if store is not None:
        raise ValueError("init_process_group: the MPI back end takes no store (rank and size come from MPI)")
    check_device(device_id, "init_process_group(device_id=...)")
    if timeout is None:
        timeout = default_pg_timeout
    if not isinstance(timeout, timedelta):
        raise TypeError(f"init_process_group: timeout must be a datetime.timedelta, got {type(timeout).__name__}")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD.Dup()
    pg = ProcessGroup(comm, timeout)
    if world_size not in (-1, pg.size()):
        comm.Free()
        raise ValueError(
            f"init_process_group: world_size={world_size} but the MPI launcher started {pg.size()} processes"
        )
    if rank not in (-1, pg.rank()):
        comm.Free()
        raise ValueError(f"init_process_group: rank={rank} but the MPI launcher says this process is rank {pg.rank()}")
    GroupMember.WORLD = pg
    if sys.excepthook is not _abort_on_uncaught:
        _EXCEPTHOOK = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Leave the default group (MPI itself stays up until the process exits: MPI cannot restart)."""
    global _EXCEPTHOOK
    pg = _group(group, "destroy_process_group")
    pg.comm.Free()
    GroupMember.WORLD = None
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _EXCEPTHOOK or sys.__excepthook__
        _EXCEPTHOOK = None


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and :func:`destroy_process_group` has not)."""
    return GroupMember.WORLD is not None


def _group(group: Any, where: str) -> ProcessGroup:
    pg = GroupMember.WORLD
    if pg is None:
        raise ValueError(
            f"Default process group has not been initialized, please make sure to call init_process_group. ({where})"
        )
    if group is not None and group is not pg:
        raise ValueError(f"{where}: only the default group (None or group.WORLD) is supported")
    return pg


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank, 0 .. world_size-1."""
    return _group(group, "get_rank").rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    """The number of processes in the job."""
    return _group(group, "get_world_size").size()


def get_backend(group: ProcessGroup | None = None) -> str:
    """``"mpi"``."""
    _group(group, "get_backend")
    return "mpi"


# -- work handles -----------------------------------------------------------------------------


class Work:
    """The handle of a non-blocking collective (``async_op=True``).

    ``wait()`` blocks until the collective is done on this rank (then the results are
    in the tensors), at most the group's timeout, after which it raises RuntimeError;
    ``is_completed()`` tests without blocking.
    """

    def __init__(self, requests: list, where: str, timeout: timedelta, finish: Callable[[], None] | None = None):
        self._requests = requests
        self._where = where
        self._timeout = timeout
        self._finish = finish  # what to do once MPI is done (divide for AVG, copy out of a buffer)
        self._done = False

    def _finalize(self) -> None:
        self._done = True
        self._requests = []
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()

    def is_completed(self) -> bool:
        """True once the collective has finished on this rank (does not block)."""
        if self._done:
            return True
        MPI = _MPI
        if MPI.Request.Testall(self._requests):
            self._finalize()
            return True
        return False

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Block until done (at most ``timeout``, default the group's); returns True."""
        if self._done:
            return True
        limit = (timeout or self._timeout).total_seconds()
        MPI = _MPI
        reqs = self._requests
        # Test in a loop rather than Waitall: Waitall cannot time out. For the first
        # _SPIN_SECONDS the loop spins: MPI moves a collective's data only inside MPI calls,
        # so a pause here stalls the transfer itself (a few MiB take about a millisecond of
        # tests; pausing after 1 ms added ~0.7 ms to every DDP step of w2). After that it
        # sleeps, 10 µs growing to 1 ms, so that a long wait (a rank writing a checkpoint)
        # does not burn the core another process may need.
        if not MPI.Request.Testall(reqs):
            start = time.perf_counter()
            pause = 0.0
            while not MPI.Request.Testall(reqs):
                waited = time.perf_counter() - start
                if waited > limit:
                    raise RuntimeError(
                        f"distributed.{self._where}: timed out after {limit:g} s waiting for the other ranks "
                        "(a rank failed or did not call the same collective)"
                    )
                if waited > _SPIN_SECONDS:
                    pause = min(1e-3, pause * 2 if pause else 1e-5)
                    time.sleep(pause)
        self._finalize()
        return True

    def result(self) -> list:
        return []


def _run(requests: list, where: str, pg: ProcessGroup, async_op: bool, finish: Callable[[], None] | None = None) -> Any:
    work = Work(requests, where, pg.timeout, finish)
    if async_op:
        return work
    work.wait()
    return None


# -- buffers ------------------------------------------------------------------------------------


def _check_tensor(t: Any, where: str, name: str = "tensor") -> np.ndarray:
    if not isinstance(t, Tensor):
        raise TypeError(f"distributed.{where}: {name} must be a chainrule Tensor, got {type(t).__name__}")
    a = t._array
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
        raise TypeError(f"distributed.{where}: {name} must hold numbers or booleans, got dtype {t._array.dtype}")
    return a


def _contiguous(a: np.ndarray) -> np.ndarray:
    """a itself when C-contiguous, else a C-contiguous copy (np.ascontiguousarray would turn 0-d into 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def _inplace_buffer(t: Tensor, where: str) -> tuple[np.ndarray, Callable[[], None] | None]:
    """The array MPI writes into, and how to bring the result back into t.

    t's own array when it is C-contiguous and writable (no copy); otherwise a
    contiguous copy, written back into t afterwards."""
    a = _check_tensor(t, where)
    if not a.flags.writeable:
        raise ValueError(
            f"distributed.{where}: the tensor's memory is read-only (a broadcast or expanded view?), "
            "so the result cannot be written into it; pass tensor.clone()"
        )
    if a.flags.c_contiguous:
        return a, None
    buf = a.copy(order="C")

    def back() -> None:
        np.copyto(t._array, buf)

    return buf, back


def _chain(*fns: Callable[[], None] | None) -> Callable[[], None]:
    def run() -> None:
        for f in fns:
            if f is not None:
                f()

    return run


def _avg(buf: np.ndarray, n: int, where: str) -> Callable[[], None]:
    if buf.dtype.kind != "f":
        raise TypeError(f"distributed.{where}: ReduceOp.AVG needs a floating-point tensor, got {buf.dtype}")

    def divide() -> None:
        np.divide(buf, n, out=buf)

    return divide


# -- collectives on tensors -------------------------------------------------------------------


def all_reduce(
    tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None, async_op: bool = False
) -> Any:
    """tensor ← op over ranks of every rank's tensor (elementwise, in place on every rank).

    SUM: Σ_r x_r; AVG: Σ_r x_r / N; PRODUCT, MIN, MAX likewise. MPI reads and writes
    the tensor's own array (``Iallreduce`` with ``MPI.IN_PLACE``)."""
    pg = _group(group, "all_reduce")
    MPI = _MPI
    buf, back = _inplace_buffer(tensor, "all_reduce")
    mop = _mpi_op(MPI, op)
    div = _avg(buf, pg.size(), "all_reduce") if op is ReduceOp.AVG else None
    req = pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=mop)
    return _run([req], "all_reduce", pg, async_op, _chain(div, back, lambda: bump(tensor)))


def _all_reduce_array(
    array: np.ndarray, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None, async_op: bool = False
) -> Any:
    """all_reduce on a raw, C-contiguous NumPy array, in place (for DistributedDataParallel's
    gradient buckets and SyncBatchNorm's statistics); returns a Work with ``async_op``."""
    pg = _group(group, "all_reduce")
    MPI = _MPI
    div = _avg(array, pg.size(), "all_reduce") if op is ReduceOp.AVG else None
    req = pg.comm.Iallreduce(MPI.IN_PLACE, array, op=_mpi_op(MPI, op))
    return _run([req], "all_reduce", pg, async_op, div)


def broadcast(tensor: Tensor, src: int = 0, group: ProcessGroup | None = None, async_op: bool = False) -> Any:
    """Every rank's tensor ← rank ``src``'s tensor (in place; ``Ibcast``)."""
    pg = _group(group, "broadcast")
    _check_rank(src, pg, "broadcast", "src")
    buf, back = _inplace_buffer(tensor, "broadcast")
    req = pg.comm.Ibcast(buf, root=src)
    return _run([req], "broadcast", pg, async_op, _chain(back, lambda: bump(tensor)))


def reduce(
    tensor: Tensor, dst: int = 0, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None, async_op: bool = False
) -> Any:
    """Rank ``dst``'s tensor ← op over ranks of the tensors; the other ranks' tensors are unchanged."""
    pg = _group(group, "reduce")
    _check_rank(dst, pg, "reduce", "dst")
    MPI = _MPI
    mop = _mpi_op(MPI, op)
    if pg.rank() == dst:
        buf, back = _inplace_buffer(tensor, "reduce")
        div = _avg(buf, pg.size(), "reduce") if op is ReduceOp.AVG else None
        req = pg.comm.Ireduce(MPI.IN_PLACE, buf, op=mop, root=dst)
        return _run([req], "reduce", pg, async_op, _chain(div, back, lambda: bump(tensor)))
    a = _contiguous(_check_tensor(tensor, "reduce"))
    if op is ReduceOp.AVG:
        _avg(a, 1, "reduce")  # the same dtype check on every rank
    req = pg.comm.Ireduce(a, None, op=mop, root=dst)
    return _run([req], "reduce", pg, async_op)


def all_gather(
    tensor_list: list[Tensor], tensor: Tensor, group: ProcessGroup | None = None, async_op: bool = False
) -> Any:
    """tensor_list[r] ← rank r's tensor, on every rank (all tensors of one shape and dtype)."""
    pg = _group(group, "all_gather")
    a = _contiguous(_check_tensor(tensor, "all_gather"))
    n = pg.size()
    if not isinstance(tensor_list, list) or len(tensor_list) != n:
        raise ValueError(
            f"all_gather: tensor_list must be a list of world_size={n} tensors, got "
            f"{len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__}"
        )
    for i, t in enumerate(tensor_list):
        b = _check_tensor(t, "all_gather", f"tensor_list[{i}]")
        if b.shape != a.shape or b.dtype != a.dtype:
            raise ValueError(
                f"all_gather: tensor_list[{i}] has shape {tuple(b.shape)} and dtype {b.dtype}; "
                f"expected those of the input, {tuple(a.shape)} {a.dtype}"
            )
    recv = np.empty((n,) + a.shape, dtype=a.dtype)  # MPI gathers into one buffer

    def scatter_out() -> None:
        for r, t in enumerate(tensor_list):
            np.copyto(t._array, recv[r])
            bump(t)

    req = pg.comm.Iallgather(a, recv)
    return _run([req], "all_gather", pg, async_op, scatter_out)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: ProcessGroup | None = None, async_op: bool = False
) -> Any:
    """output_tensor (shape (N*d0, ...) or (N, d0, ...)) ← the ranks' input tensors, concatenated."""
    pg = _group(group, "all_gather_into_tensor")
    a = _contiguous(_check_tensor(input_tensor, "all_gather_into_tensor", "input_tensor"))
    out = _check_tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    if out.size != a.size * pg.size() or out.dtype != a.dtype:
        raise ValueError(
            f"all_gather_into_tensor: output_tensor has shape {tuple(out.shape)} and dtype {out.dtype}; expected "
            f"{pg.size()} x the input's {a.size} elements, dtype {a.dtype}"
        )
    buf, back = _inplace_buffer(output_tensor, "all_gather_into_tensor")
    req = pg.comm.Iallgather(a, buf)
    return _run([req], "all_gather_into_tensor", pg, async_op, _chain(back, lambda: bump(output_tensor)))


def reduce_scatter(
    output: Tensor,
    input_list: list[Tensor],
    op: ReduceOp = ReduceOp.SUM,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Any:
    """output on rank r ← op over ranks of their input_list[r] (``Ireduce_scatter_block``)."""
    pg = _group(group, "reduce_scatter")
    n = pg.size()
    out = _check_tensor(output, "reduce_scatter", "output")
    if not isinstance(input_list, list) or len(input_list) != n:
        raise ValueError(f"reduce_scatter: input_list must be a list of world_size={n} tensors")
    for i, t in enumerate(input_list):
        b = _check_tensor(t, "reduce_scatter", f"input_list[{i}]")
        if b.shape != out.shape or b.dtype != out.dtype:
            raise ValueError(
                f"reduce_scatter: input_list[{i}] has shape {tuple(b.shape)} and dtype {b.dtype}; "
                f"expected the output's, {tuple(out.shape)} {out.dtype}"
            )
    send = np.stack([t._array for t in input_list])  # MPI sends one contiguous buffer
    return _reduce_scatter_block(output, send, op, pg, async_op, "reduce_scatter")


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,
    op: ReduceOp = ReduceOp.SUM,
    group: ProcessGroup | None = None,
    async_op: bool = False,
) -> Any:
    """output on rank r ← op over ranks of block r of ``input`` (input has N x output's elements)."""
    pg = _group(group, "reduce_scatter_tensor")
    out = _check_tensor(output, "reduce_scatter_tensor", "output")
    a = _contiguous(_check_tensor(input, "reduce_scatter_tensor", "input"))
    if a.size != out.size * pg.size() or a.dtype != out.dtype:
        raise ValueError(
            f"reduce_scatter_tensor: input has shape {tuple(a.shape)} and dtype {a.dtype}; expected "
            f"world_size={pg.size()} x the output's {out.size} elements, dtype {out.dtype}"
        )
    return _reduce_scatter_block(output, a, op, pg, async_op, "reduce_scatter_tensor")


def _reduce_scatter_block(
    output: Tensor, send: np.ndarray, op: ReduceOp, pg: ProcessGroup, async_op: bool, where: str
) -> Any:
    MPI = _MPI
    mop = _mpi_op(MPI, op)
    buf, back = _inplace_buffer(output, where)
    div = _avg(buf, pg.size(), where) if op is ReduceOp.AVG else None
    req = pg.comm.Ireduce_scatter_block(send, buf, op=mop)
    keep = [send]  # the send buffer must live until MPI is done with it: the closure holds it

    def done() -> None:
        keep.clear()
        bump(output)

    return _run([req], where, pg, async_op, _chain(div, back, done))


def barrier(group: ProcessGroup | None = None, async_op: bool = False, device_ids: Any = None) -> Any:
    """Wait until every rank has reached the barrier (``Ibarrier``, bounded by the timeout)."""
    pg = _group(group, "barrier")
    for d in device_ids or ():
        check_device(d, "barrier(device_ids=...)")
    return _run([pg.comm.Ibarrier()], "barrier", pg, async_op)


def _check_rank(r: Any, pg: ProcessGroup, where: str, name: str) -> None:
    if not isinstance(r, (int, np.integer)) or not 0 <= int(r) < pg.size():
        raise ValueError(f"{where}: {name}={r!r} is not a rank of this group (0 .. {pg.size() - 1})")


# -- collectives on Python objects (pickled) ---------------------------------------------------


def _gather_bytes(pg: ProcessGroup, data: bytes, where: str) -> list[bytes]:
    """Every rank's bytes, on every rank: the lengths first, then the bytes (Iallgatherv)."""
    n = pg.size()
    mine = np.array([len(data)], dtype=np.int64)
    lengths = np.empty(n, dtype=np.int64)
    Work([pg.comm.Iallgather(mine, lengths)], where, pg.timeout).wait()
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    recv = np.empty(int(lengths.sum()), dtype=np.uint8)
    send = np.frombuffer(data, dtype=np.uint8)
    MPI = _MPI
    req = pg.comm.Iallgatherv(send, [recv, (lengths.tolist(), offsets.tolist()), MPI.BYTE])
    Work([req], where, pg.timeout).wait()
    return [recv[o : o + k].tobytes() for o, k in zip(offsets.tolist(), lengths.tolist())]


def all_gather_object(object_list: list, obj: Any, group: ProcessGroup | None = None) -> None:
    """object_list[r] ← rank r's ``obj`` (any picklable object), on every rank."""
    pg = _group(group, "all_gather_object")
    if not isinstance(object_list, list) or len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list must be a list of world_size={pg.size()} elements")
    for r, b in enumerate(_gather_bytes(pg, pickle.dumps(obj), "all_gather_object")):
        object_list[r] = pickle.loads(b)


def broadcast_object_list(
    object_list: list, src: int = 0, group: ProcessGroup | None = None, device: Any = None
) -> None:
    """object_list ← rank ``src``'s object_list (same length on every rank), element by element."""
    pg = _group(group, "broadcast_object_list")
    check_device(device, "broadcast_object_list")
    _check_rank(src, pg, "broadcast_object_list", "src")
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: object_list must be a list, got {type(object_list).__name__}")
    data = pickle.dumps(object_list) if pg.rank() == src else b""
    size = np.array([len(data)], dtype=np.int64)
    Work([pg.comm.Ibcast(size, root=src)], "broadcast_object_list", pg.timeout).wait()
    buf = np.frombuffer(data, dtype=np.uint8).copy() if pg.rank() == src else np.empty(int(size[0]), dtype=np.uint8)
    Work([pg.comm.Ibcast(buf, root=src)], "broadcast_object_list", pg.timeout).wait()
    if pg.rank() != src:
        got = pickle.loads(buf.tobytes())
        if len(got) != len(object_list):
            raise ValueError(
                f"broadcast_object_list: rank {src} sent {len(got)} objects but this rank's list has {len(object_list)}"
            )
        object_list[:] = got
