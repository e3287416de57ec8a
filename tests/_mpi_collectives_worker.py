"""Run under ``mpiexec -n 2`` by tests/test_distributed_collectives.py: every collective, one launch.

Each rank's input is a known function of its rank (``value(r, ...)``), so every rank
can compute the expected result from the collective's definition (the sum, product,
min, max over ranks...) and compare. A failed check raises, which aborts the job;
each group of checks that passes prints ``OK <name>`` on rank 0.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import ReduceOp

MODE = sys.argv[1] if len(sys.argv) > 1 else "all"

if MODE == "raise":  # rank 1 fails; rank 0 waits in a collective: the job must end, non-zero
    dist.init_process_group("mpi")
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails on purpose")
    dist.all_reduce(cr.ones(3))
    raise SystemExit(0)  # (not reached: MPI_Abort ends the job)

if MODE == "hang":  # rank 1 never joins the collective; rank 0's wait times out
    import time

    # 5 s, not less: on a loaded machine the ranks' start-up alone can take a second or two
    dist.init_process_group("mpi", timeout=timedelta(seconds=5))
    if dist.get_rank() == 1:
        time.sleep(100)
    dist.all_reduce(cr.ones(3))
    raise SystemExit(0)

assert not dist.is_initialized()
dist.init_process_group(backend="mpi", world_size=-1, rank=-1)
assert dist.is_initialized() and dist.get_backend() == "mpi"
RANK, N = dist.get_rank(), dist.get_world_size()
assert N == 2 and RANK in (0, 1)


def ok(name: str) -> None:
    dist.barrier()
    if RANK == 0:
        print("OK", name, flush=True)


def value(r, shape, dtype, salt=0):
    """Rank r's input: small integers and halves (exact in float32), with no zeros (for PRODUCT)."""
    g = np.random.default_rng(1000 * r + salt)
    return (g.integers(1, 7, size=shape) * 0.5 * np.where(g.random(shape) < 0.5, -1, 1)).astype(dtype)


DEFS = {
    ReduceOp.SUM: lambda xs: np.sum(xs, axis=0),
    ReduceOp.AVG: lambda xs: np.sum(xs, axis=0) / len(xs),
    ReduceOp.PRODUCT: lambda xs: np.prod(xs, axis=0),
    ReduceOp.MIN: lambda xs: np.min(xs, axis=0),
    ReduceOp.MAX: lambda xs: np.max(xs, axis=0),
}
SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 4)]
DTYPES = [np.float32, np.float64]


def expected(op, shape, dtype, salt=0):
    xs = np.stack([value(r, shape, dtype, salt) for r in range(N)])
    return DEFS[op](xs).astype(dtype)


# all_reduce, every op, dtypes, shapes, blocking and async
for dtype in DTYPES:
    for shape in SHAPES:
        for op in DEFS:
            t = cr.tensor(value(RANK, shape, dtype))
            assert dist.all_reduce(t, op=op) is None
            np.testing.assert_array_equal(t._array, expected(op, shape, dtype), err_msg=f"all_reduce {op} {shape}")
            assert t.dtype == cr.tensor(np.zeros(1, dtype)).dtype and t.shape == shape
            t = cr.tensor(value(RANK, shape, dtype, 1))
            work = dist.all_reduce(t, op, async_op=True)
            assert work.wait() is True and work.is_completed()
            np.testing.assert_array_equal(t._array, expected(op, shape, dtype, 1), err_msg=f"async {op} {shape}")
ok("all_reduce")

# several async collectives in flight at once, completed in reverse order
ts = [cr.tensor(value(RANK, (4,), np.float64, s)) for s in range(4)]
works = [dist.all_reduce(t, ReduceOp.MAX, async_op=True) for t in ts]
for w in reversed(works):
    w.wait()
for s, t in enumerate(ts):
    np.testing.assert_array_equal(t._array, expected(ReduceOp.MAX, (4,), np.float64, s))
ok("async-in-flight")

# integer tensors; a non-contiguous tensor (a transposed view): reduced, written back in place
t = cr.tensor(np.arange(6, dtype=np.int64) * (RANK + 1))
dist.all_reduce(t)
np.testing.assert_array_equal(t._array, np.arange(6) * 3)
base = value(RANK, (3, 4), np.float64)
t = cr.tensor(base.copy()).t()
assert not t._array.flags.c_contiguous
dist.all_reduce(t)
np.testing.assert_array_equal(t._array, expected(ReduceOp.SUM, (3, 4), np.float64).T)
ok("all_reduce-int-noncontiguous")

# the in-place change is recorded (version counter): a saved tensor changed by all_reduce is caught
w = cr.tensor([1.0, 2.0], requires_grad=True)
a = cr.tensor([3.0, 4.0])
y = (w * a).sum()
dist.all_reduce(a)
try:
    y.backward()
except RuntimeError as e:
    assert "modified by an inplace operation" in str(e) or "in place" in str(e), e
else:
    raise AssertionError("all_reduce's in-place change went unnoticed by autograd")
ok("all_reduce-version")

# broadcast from each source
for dtype in DTYPES:
    for shape in SHAPES:
        for src in range(N):
            t = cr.tensor(value(RANK, shape, dtype))
            dist.broadcast(t, src=src)
            np.testing.assert_array_equal(t._array, value(src, shape, dtype))
            t = cr.tensor(value(RANK, shape, dtype))
            dist.broadcast(t, src, async_op=True).wait()
            np.testing.assert_array_equal(t._array, value(src, shape, dtype))
ok("broadcast")

# reduce to dst: dst has op over ranks, the others keep their tensor
for dtype in DTYPES:
    for op in DEFS:
        for dst in range(N):
            t = cr.tensor(value(RANK, (3, 2), dtype))
            dist.reduce(t, dst=dst, op=op)
            want = expected(op, (3, 2), dtype) if RANK == dst else value(RANK, (3, 2), dtype)
            np.testing.assert_array_equal(t._array, want, err_msg=f"reduce {op} dst={dst}")
ok("reduce")

# all_gather (list and into one tensor)
for dtype in DTYPES:
    for shape in SHAPES:
        out = [cr.tensor(np.zeros(shape, dtype)) for _ in range(N)]
        dist.all_gather(out, cr.tensor(value(RANK, shape, dtype)))
        for r in range(N):
            np.testing.assert_array_equal(out[r]._array, value(r, shape, dtype))
        big = cr.tensor(np.zeros((N * 2, 3), dtype))
        dist.all_gather_into_tensor(big, cr.tensor(value(RANK, (2, 3), dtype)))
        np.testing.assert_array_equal(big._array, np.concatenate([value(r, (2, 3), dtype) for r in range(N)]))
ok("all_gather")

# reduce_scatter: rank r gets op over ranks of their input_list[r]
for dtype in DTYPES:
    for op in DEFS:
        out = cr.tensor(np.zeros((2, 3), dtype))
        ins = [cr.tensor(value(RANK, (2, 3), dtype, 10 + k)) for k in range(N)]
        dist.reduce_scatter(out, ins, op=op)
        np.testing.assert_array_equal(out._array, expected(op, (2, 3), dtype, 10 + RANK),
                                      err_msg=f"reduce_scatter {op}")
        out = cr.tensor(np.zeros(3, dtype))
        flat = np.concatenate([value(RANK, (3,), dtype, 20 + k) for k in range(N)])
        dist.reduce_scatter_tensor(out, cr.tensor(flat), op=op, async_op=True).wait()
        np.testing.assert_array_equal(out._array, expected(op, (3,), dtype, 20 + RANK))
ok("reduce_scatter")

# objects
objs: list = [None] * N
dist.all_gather_object(objs, {"rank": RANK, "text": "x" * (10 + 1000 * RANK)})
assert objs == [{"rank": r, "text": "x" * (10 + 1000 * r)} for r in range(N)], objs
lst = [RANK, f"from {RANK}", np.arange(3) * RANK] if RANK == 1 else [None, None, None]
dist.broadcast_object_list(lst, src=1)
assert lst[0] == 1 and lst[1] == "from 1" and list(lst[2]) == [0, 1, 2]
ok("objects")

# barrier; bad input is refused with the op's name
dist.barrier()
dist.barrier(async_op=True).wait()
for call, kind, text in [
    (lambda: dist.all_reduce(cr.ones(2), op="sum"), TypeError, "ReduceOp"),
    (lambda: dist.all_reduce(np.ones(2)), TypeError, "all_reduce"),
    (lambda: dist.broadcast(cr.ones(2), src=5), ValueError, "src=5"),
    (lambda: dist.all_gather([cr.ones(2)], cr.ones(2)), ValueError, "world_size=2"),
    (lambda: dist.all_gather([cr.ones(3), cr.ones(3)], cr.ones(2)), ValueError, "shape"),
    (lambda: dist.all_reduce(cr.tensor([1, 2]), op=ReduceOp.AVG), TypeError, "AVG"),
    (lambda: dist.init_process_group("mpi"), RuntimeError, "twice"),
    (lambda: dist.init_process_group("gloo"), ValueError, "mpi"),
]:
    try:
        call()
    except kind as e:
        assert text in str(e), (text, str(e))
    else:
        raise AssertionError(f"no {kind.__name__} mentioning {text!r}")
ok("errors")

dist.destroy_process_group()
assert not dist.is_initialized()
try:
    dist.get_rank()
except ValueError as e:
    assert "init_process_group" in str(e)
else:
    raise AssertionError("get_rank() without a process group did not raise")
dist.init_process_group("mpi")  # again, after destroy
t = cr.ones(2)
dist.all_reduce(t)
np.testing.assert_array_equal(t._array, [2.0, 2.0])
dist.destroy_process_group()
if RANK == 0:
    print("OK lifecycle", flush=True)
