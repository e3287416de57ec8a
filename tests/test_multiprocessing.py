"""chainrule.multiprocessing (torch.multiprocessing): spawn, tensors between processes, shared memory.

The in-process tests pickle with ``multiprocessing``'s own pickler (``ForkingPickler``), what a
Queue or a Pipe does to what it sends; the others start 1 or 2 "spawn" processes (about a second
each on a loaded 2-core machine, the children's functions in tests/_mp_workers.py).  Expected
behaviour is PyTorch 2.13's (read from torch/multiprocessing/*.py and checked by hand).
"""

from __future__ import annotations

import copy
import multiprocessing as std_mp
import pickle
import signal
import time
from multiprocessing.reduction import ForkingPickler

import _mp_workers as workers
import numpy as np
import pytest

import chainrule as cr
import chainrule.multiprocessing as mp
import chainrule.nn as nn

SPAWN = std_mp.get_context("spawn")


def through_queue(obj):
    """What the receiving end of a Queue gets (pickled and unpickled by ForkingPickler)."""
    return ForkingPickler.loads(ForkingPickler.dumps(obj))


# -- the module itself ---------------------------------------------------------------------------


def test_it_is_pythons_multiprocessing_plus_pytorchs_names():
    import chainrule as torch

    assert torch.multiprocessing is mp
    for name in std_mp.__all__:
        assert hasattr(mp, name), name
    assert mp.Queue is not None and mp.get_context("spawn").get_start_method() == "spawn"
    assert set(mp.__all__) >= {"set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies"}
    for name in ("spawn", "start_processes", "ProcessContext", "ProcessRaisedException", "ProcessExitedException",
                 "SpawnContext", "ENV_VAR_PARALLEL_START"):
        assert hasattr(mp, name), name
    assert issubclass(mp.ProcessRaisedException, mp.ProcessException)


def test_sharing_strategies():
    assert mp.get_all_sharing_strategies() == {"file_descriptor", "file_system"}  # Linux, as PyTorch
    assert mp.get_sharing_strategy() == "file_descriptor"
    with pytest.raises(AssertionError, match="invalid sharing strategy"):
        mp.set_sharing_strategy("carrier_pigeon")
    mp.set_sharing_strategy("file_system")
    try:
        assert mp.get_sharing_strategy() == "file_system"
        t = cr.arange(6.0).share_memory_()
        got = through_queue(t)
        got[0] = -1.0
        assert t[0].item() == -1.0 and got.is_shared()
    finally:
        mp.set_sharing_strategy("file_descriptor")


def test_the_spawn_and_gloo_ddp_recipe_says_to_use_mpiexec():
    import chainrule.distributed as dist

    # what each spawned rank of PyTorch's usual DDP script calls first: chainrule's back end is MPI
    with pytest.raises(ValueError, match="mpiexec -n N"):
        dist.init_process_group("gloo", rank=0, world_size=2)
    assert not dist.is_initialized()


def test_process_exceptions_pickle():
    e = pickle.loads(pickle.dumps(mp.ProcessExitedException("m", 1, 123, exit_code=-9, signal_name="SIGKILL")))
    assert (e.msg, e.error_index, e.error_pid, e.exit_code, e.signal_name) == ("m", 1, 123, -9, "SIGKILL")
    e2 = pickle.loads(pickle.dumps(mp.ProcessRaisedException("trace", 0, 7)))
    assert type(e2) is mp.ProcessRaisedException and e2.error_pid == 7


# -- share_memory_ / is_shared -------------------------------------------------------------------


def test_share_memory_moves_values_in_place():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert not t.is_shared()
    assert t.share_memory_() is t
    assert t.is_shared() and t.requires_grad and t.is_leaf
    np.testing.assert_array_equal(t.detach().numpy(), [[1.0, 2.0], [3.0, 4.0]])
    arr = t._array
    t.share_memory_()  # already shared: nothing happens
    assert t._array is arr
    assert t[1].is_shared()  # a view of shared memory is shared too
    assert not t.clone().is_shared()
    (t * 2).sum().backward()  # still an ordinary leaf
    np.testing.assert_array_equal(t.grad.numpy(), np.full((2, 2), 2.0))


def test_share_memory_keeps_dtype_and_shape_and_empty_tensors():
    for t in (cr.arange(5), cr.zeros(0, 3), cr.tensor(True), cr.Tensor(np.arange(6.0).reshape(3, 2).T)):
        shape, dtype, values = t.shape, t.dtype, t.numpy().copy()
        t.share_memory_()
        assert t.is_shared() and t.shape == shape and t.dtype == dtype
        np.testing.assert_array_equal(t.numpy(), values)


def test_share_memory_of_a_view_refuses():
    base = cr.zeros(4)
    view = base[1:3]
    with pytest.raises(RuntimeError, match="view of another tensor"):
        view.share_memory_()


def test_module_share_memory():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    model[0].weight.grad = cr.ones(2, 3)
    assert model.share_memory() is model
    for t in [*model.parameters(), *model.buffers(), model[0].weight.grad]:
        assert t.is_shared()
    assert type(model[0].weight) is nn.Parameter


def test_plain_pickle_and_deepcopy_still_copy_values():
    t = cr.arange(4.0).share_memory_()
    for other in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t)):
        assert not other.is_shared()
        other[0] = 9.0
        assert t[0].item() == 0.0


# -- tensors through multiprocessing's pickler (what a Queue does) -----------------------------


def test_a_shared_tensor_arrives_as_the_same_memory():
    t = cr.zeros(6).share_memory_()
    got = through_queue(t)
    assert got.is_shared()
    got[2] = 5.0
    assert t[2].item() == 5.0
    view = through_queue(t[3:5])  # a view travels as its place in the shared memory
    view[0] = 7.0
    assert t.tolist() == [0.0, 0.0, 5.0, 7.0, 0.0, 0.0]


def test_a_plain_tensor_arrives_as_a_copy_with_its_dtype_shape_and_class():
    for t in (cr.arange(6, dtype=cr.int32).reshape(2, 3), cr.randn(3, 2, dtype=cr.float64).t(), cr.tensor(1.5)):
        got = through_queue(t)
        assert type(got) is cr.Tensor and got.dtype == t.dtype and got.shape == t.shape
        np.testing.assert_array_equal(got.numpy(), t.numpy())
        assert not got.requires_grad and got.is_leaf
    t = cr.zeros(2)
    through_queue(t)[0] = 1.0
    assert t.tolist() == [0.0, 0.0]


def test_requires_grad_crosses_as_pytorch_does():
    # a leaf keeps requires_grad (not its grad); a Parameter stays a Parameter
    leaf = cr.ones(3, requires_grad=True)
    leaf.grad = cr.ones(3)
    got = through_queue(leaf)
    assert got.requires_grad and got.is_leaf and got.grad is None
    p = nn.Parameter(cr.zeros(2))
    got_p = through_queue(p)
    assert type(got_p) is nn.Parameter and got_p.requires_grad
    frozen = through_queue(nn.Parameter(cr.zeros(2), requires_grad=False))
    assert type(frozen) is nn.Parameter and not frozen.requires_grad
    # a non-leaf that requires grad refuses: autograd does not cross processes
    nonleaf = leaf * 2
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor which requires_grad"):
        ForkingPickler.dumps(nonleaf)
    a, b = std_mp.Pipe()
    with pytest.raises(RuntimeError, match="call detach"):
        a.send(nonleaf)
    a.send(nonleaf.detach())
    got = b.recv()
    assert got.tolist() == [2.0, 2.0, 2.0] and not got.requires_grad
    a.close()
    b.close()


def test_a_shared_module_through_the_pickler_shares_its_parameters():
    model = nn.Linear(2, 1).share_memory()
    other = through_queue(model)
    with cr.no_grad():
        other.weight.fill_(3.0)
    assert model.weight.tolist() == [[3.0, 3.0]]


# -- processes ---------------------------------------------------------------------------------


def test_spawn_runs_fn_with_the_index_and_args():
    q = SPAWN.SimpleQueue()
    assert mp.spawn(workers.put_rank, args=(q, 2.0), nprocs=2) is None  # join=True: None
    got = dict(q.get() for _ in range(2))
    assert sorted(got) == [0, 1]
    for rank, t in got.items():
        assert t.dtype == cr.float64 and t.shape == (2, 3)
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), rank * 2.0))


def test_an_exception_in_a_child_is_raised_with_its_traceback_and_the_others_stop():
    start = time.monotonic()
    with pytest.raises(mp.ProcessRaisedException, match="rank 1 failed on purpose") as info:
        mp.spawn(workers.raise_on, args=(1,), nprocs=2)
    assert time.monotonic() - start < 30  # rank 0 (sleeping 60 s) was terminated
    assert info.value.error_index == 1
    assert "Traceback" in info.value.msg and "ValueError" in info.value.msg and "raise_on" in info.value.msg


def test_a_non_zero_exit_raises_process_exited_exception():
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3") as info:
        mp.spawn(workers.exit_with, args=(3,), nprocs=1)
    assert info.value.exit_code == 3 and info.value.error_index == 0 and info.value.signal_name is None


def test_a_child_killed_by_a_signal_raises_with_the_signals_name():
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with signal SIGKILL") as info:
        mp.spawn(workers.exit_with, args=(-signal.SIGKILL,), nprocs=1)
    assert info.value.exit_code == -signal.SIGKILL and info.value.signal_name == "SIGKILL"


def test_join_false_returns_a_context_to_join_later():
    event = SPAWN.Event()
    context = mp.spawn(workers.wait_for, args=(event,), nprocs=1, join=False)
    assert isinstance(context, mp.ProcessContext)
    assert len(context.pids()) == 1 and context.pids()[0] > 0
    assert context.join(timeout=0.05) is False  # still running
    event.set()
    deadline = time.monotonic() + 60
    while not context.join(timeout=1):
        assert time.monotonic() < deadline
    assert context.join() is True


def test_start_processes_and_the_spawn_start_method_warning():
    q = SPAWN.SimpleQueue()
    assert mp.start_processes(workers.put_rank, args=(q, 1.0), nprocs=1, start_method="spawn") is None
    rank, t = q.get()
    assert rank == 0 and t.sum().item() == 0.0
    with pytest.warns(FutureWarning, match="only supports start_method=spawn"):
        mp.spawn(workers.exit_with, args=(0,), nprocs=1, start_method="fork")


def test_tensors_through_queues_between_processes():
    shared = cr.zeros(4).share_memory_()
    plain = cr.zeros(4)
    inbox, outbox = SPAWN.Queue(), SPAWN.Queue()
    p = SPAWN.Process(target=workers.echo, args=(inbox, outbox))
    p.start()
    try:
        inbox.put((shared, plain))
        was_shared, plain_shared, plain_back, tail = outbox.get(timeout=60)
        assert was_shared and not plain_shared
        assert shared[0].item() == 100.0  # the child's write into shared memory is seen here
        assert plain.tolist() == [0.0] * 4  # a plain tensor went as a copy
        assert plain_back.tolist() == [100.0, 0.0, 0.0, 0.0]
        tail[0] = 8.0  # came back as a handle to the same memory
        assert shared[1].item() == 8.0
        inbox.put(None)
    finally:
        p.join(60)
    assert p.exitcode == 0


def test_children_write_into_a_shared_tensor():
    t = cr.zeros(2).share_memory_()
    mp.spawn(workers.write_rank, args=(t,), nprocs=2)
    assert t.tolist() == [10.0, 11.0]


def test_hogwild_two_processes_train_one_shared_model():
    cr.manual_seed(0)
    model = nn.Linear(2, 1)
    with cr.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    model.share_memory()
    done = cr.zeros(2, dtype=cr.int64).share_memory_()
    mp.spawn(workers.hogwild, args=(model, 30, done), nprocs=2)
    assert done.tolist() == [30, 30]  # both processes stepped
    w = model.weight.detach().numpy()[0]
    b = model.bias.item()
    # 60 SGD steps (lr 0.1) in all from 0 towards w = (2, -1), b = 0.5: the shared parameters moved there
    np.testing.assert_allclose(w, [2.0, -1.0], atol=0.3)
    assert abs(b - 0.5) < 0.2
