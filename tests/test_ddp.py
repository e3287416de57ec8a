"""DistributedDataParallel and SyncBatchNorm (issue 15), and the engine's "gradient is final" hook.

The hook tests run in one process. The DDP tests launch 2 processes with ``mpiexec``
(marked ``mpi``; skipped, with the reason, when mpi4py or mpiexec is missing).
"""

from __future__ import annotations

import numpy as np
import pytest
from _mpi_launch import expect_ok, launch, needs_mpi

import chainrule as cr
from chainrule import nn

# -- Tensor.register_post_accumulate_grad_hook (no MPI) ------------------------------------------


def _mlp(seed: int = 0) -> nn.Sequential:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))


def _general_path_on(model: nn.Module, x: cr.Tensor) -> cr.Tensor:
    """The output of model(x), with a tensor hook on an intermediate value: the engine's general walk."""
    h = model[0](x)
    h.register_hook(lambda g: None)
    out = h
    for layer in list(model)[1:]:
        out = layer(out)
    return out


@pytest.fixture
def walks(monkeypatch):
    """Which engine walk ran: counts calls of the fast and the general walk. ``HOOKS`` stays set
    while a hooked tensor of an earlier test is alive (until the garbage collector runs, in a
    cycle); it is cleared here so that the fast walk can run (tests asking for the general path
    put a tensor hook on their graph)."""
    from chainrule.autograd import engine, grad_mode

    monkeypatch.setattr(grad_mode.HOOKS, "any", False)
    monkeypatch.setattr(grad_mode.HOOKS, "live", 0)
    calls = {"fast": 0, "general": 0}
    fast, general = engine._walk_simple, engine._walk

    def count_fast(*a, **k):
        calls["fast"] += 1
        return fast(*a, **k)

    def count_general(*a, **k):
        calls["general"] += 1
        return general(*a, **k)

    monkeypatch.setattr(engine, "_walk_simple", count_fast)
    monkeypatch.setattr(engine, "_walk", count_general)
    return calls


@pytest.mark.parametrize("path", ["fast", "general"])
def test_post_accumulate_grad_hooks_see_final_grads_in_reverse_layer_order(path, walks):
    model = _mlp()
    x = cr.randn(7, 4)
    params = list(model.parameters())  # w1 b1 w2 b2 w3 b3
    # the reference gradients, by autograd.grad on the same graph (nothing accumulated)
    ref = cr.autograd.grad((model(x) ** 2).sum(), params)
    seen: list = []

    def hook(p):
        # p is the leaf itself; its .grad is final; the earlier layers' are not computed yet
        seen.append((p, p.grad._array.copy(), [q.grad is None for q in params]))

    handles = [p.register_post_accumulate_grad_hook(hook) for p in params]
    out = model(x) if path == "fast" else _general_path_on(model, x)
    walks["fast"] = walks["general"] = 0
    (out**2).sum().backward()
    assert walks == ({"fast": 1, "general": 0} if path == "fast" else {"fast": 0, "general": 1})
    assert len(seen) == len(params)
    order = [next(i for i, q in enumerate(params) if q is p) for p, _, _ in seen]
    layer = [i // 2 for i in order]
    assert layer == sorted(layer, reverse=True), order  # layer 3, then 2, then 1
    for i, (p, g, none_then) in zip(order, seen):
        np.testing.assert_allclose(g, ref[i]._array, rtol=1e-6)
        np.testing.assert_array_equal(g, p.grad._array)  # what the hook saw is what backward left
        # every parameter of an earlier layer had no gradient yet when this hook ran
        assert all(none_then[j] for j in range(len(params)) if j // 2 < i // 2)
    for h in handles:
        h.remove()
    seen.clear()
    model(x).sum().backward()
    assert seen == []


@pytest.mark.parametrize("path", ["fast", "general"])
def test_post_accumulate_grad_hook_once_per_backward_with_the_accumulated_grad(path, walks):
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = cr.tensor([2.0, -1.0, 0.5])
    calls = []
    w.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad._array.copy()))

    def loss():
        a = w * x
        if path == "general":
            a.register_hook(lambda g: None)
        return (a * w).sum() + (w * w * w).sum()  # w used four times: one hook call, with the sum

    loss().backward()
    assert walks[path] == 1
    g1 = 2 * w._array * x._array + 3 * w._array**2  # d/dw of sum(x w^2 + w^3)
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], g1, rtol=1e-6)
    loss().backward()  # accumulates into .grad: the hook sees the total
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], 2 * g1, rtol=1e-6)


def test_post_accumulate_grad_hook_on_a_leaf_output_and_with_create_graph():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad._array.copy()))
    w.backward(cr.tensor([3.0, 4.0]))  # the output is the leaf itself
    np.testing.assert_allclose(seen[0], [3.0, 4.0])
    w.grad = None
    (w**3).sum().backward(create_graph=True)
    np.testing.assert_allclose(seen[1], 3 * w._array**2)


def test_post_accumulate_grad_hook_not_called_by_autograd_grad():
    # autograd.grad accumulates nothing into .grad, so (as in PyTorch) the hook does not run
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda p: seen.append(1))
    cr.autograd.grad((w * w).sum(), [w])
    assert seen == [] and w.grad is None


def test_post_accumulate_grad_hook_refuses_non_leaves_and_tensors_without_grad():
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="requires_grad"):
        cr.tensor([1.0]).register_post_accumulate_grad_hook(lambda p: None)


# -- SyncBatchNorm in one process, convert_sync_batchnorm (no MPI) ---------------------------------


def test_sync_batchnorm_without_a_process_group_is_batchnorm():
    cr.manual_seed(0)
    x = cr.randn(6, 3, 4, 4)
    bn, sbn = nn.BatchNorm2d(3), nn.SyncBatchNorm(3)
    np.testing.assert_allclose(sbn(x)._array, bn(x)._array, rtol=1e-6)
    np.testing.assert_allclose(sbn.running_var._array, bn.running_var._array, rtol=1e-6)
    with pytest.raises(ValueError, match="SyncBatchNorm.*channels"):
        sbn(cr.randn(2, 4))


def test_convert_sync_batchnorm_replaces_batchnorm_layers_sharing_their_tensors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.Flatten(), nn.BatchNorm1d(8)))
    model.eval()
    bn = model[1]
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert conv is model
    assert type(model[1]) is nn.SyncBatchNorm and type(model[2][1]) is nn.SyncBatchNorm
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    assert not model[1].training
    assert list(conv.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "2.1.weight", "2.1.bias", "2.1.running_mean", "2.1.running_var", "2.1.num_batches_tracked",
    ]
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3))
    assert type(single) is nn.SyncBatchNorm


def test_ddp_needs_a_process_group():
    with pytest.raises(ValueError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


# -- DDP on 2 MPI processes ------------------------------------------------------------------------

@pytest.mark.mpi
@needs_mpi
def test_ddp_on_two_ranks():
    """One launch: construction (broadcast from rank 0, state_dict prefix, bucket views), SyncBatchNorm
    against the full batch's BatchNorm, equivalence with one process on batch 2B after 20 steps (MLP with
    Adam, CNN with SyncBatchNorm vs BatchNorm, LSTM), no_sync accumulation, overlap, unused parameters."""
    proc = launch("_mpi_ddp_worker.py", timeout=300)
    expect_ok(
        proc,
        [
            "construction-state-dict",
            "syncbn-layer",
            "equivalence-mlp-adam",
            "equivalence-cnn-syncbn",
            "equivalence-lstm",
            "no-sync",
            "overlap",
            "unused-parameters",
        ],
    )
    print(next(line for line in proc.stdout.splitlines() if line.startswith("overlap:")))
