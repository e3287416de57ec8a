"""Run under ``mpiexec -n 2`` by tests/test_ddp.py: DistributedDataParallel checks, one launch.

Every rank also trains the single-process reference (the whole batch, 2B samples) and
compares; a failed check raises, which aborts the job (non-zero exit). Each check that
passes prints ``OK <name>`` on rank 0, and the test looks for every name.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.nn.parallel import DistributedDataParallel as DDP

cr.set_default_dtype(np.float64)  # float64: the two runs differ only by the order of additions
dist.init_process_group("mpi")
RANK, WORLD = dist.get_rank(), dist.get_world_size()
assert WORLD == 2
B = 8  # per-rank batch; the reference trains on 2B


def ok(name: str) -> None:
    dist.barrier()
    if RANK == 0:
        print("OK", name, flush=True)


def close(a, b, what, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"rank {RANK}: {what}")


def build(make, seed):
    cr.manual_seed(seed)
    return make()


def equivalence(name, make, data, loss_fn, opt_fn, steps=20, sync_bn=False):
    """DDP on 2 ranks with batch B per rank vs one process with batch 2B, ``steps`` steps."""
    ref = build(make, 0)
    # rank 1 starts from other values: DDP's broadcast from rank 0 must fix them
    model = build(make, 0 if RANK == 0 else 1)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DDP(model)
    opt_ref, opt = opt_fn(ref.parameters()), opt_fn(ddp.parameters())
    for step in range(steps):
        x, t = data(step)
        opt_ref.zero_grad()
        loss_fn(ref(x), t).backward()
        opt_ref.step()
        opt.zero_grad()
        loss_fn(ddp(x[RANK * B : (RANK + 1) * B]), t[RANK * B : (RANK + 1) * B]).backward()
        opt.step()
    for (n, p), q in zip(ref.named_parameters(), model.parameters()):
        close(q._array, p._array, f"{name}: parameter {n} after {steps} steps")
    for (n, b), c in zip(ref.named_buffers(), model.buffers()):
        close(c._array, b._array, f"{name}: buffer {n} after {steps} steps")
    # the same on both ranks, bit for bit (the same averaged gradients, the same steps)
    mine = np.concatenate([p._array.ravel() for p in model.parameters()])
    other = mine.copy()
    dist.broadcast(cr.Tensor(other), src=1)
    np.testing.assert_array_equal(mine, other, err_msg=f"{name}: ranks disagree")
    ok(f"equivalence-{name}")


def check_mlp_adam():
    g = np.random.default_rng(10)
    xs = g.standard_normal((20, 2 * B, 6))
    ts = g.integers(0, 3, (20, 2 * B))

    def make():
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))

    equivalence(
        "mlp-adam",
        make,
        lambda s: (cr.tensor(xs[s]), cr.tensor(ts[s])),
        F.cross_entropy,
        lambda ps: optim.Adam(ps, lr=1e-2),
    )


def check_cnn_syncbn():
    g = np.random.default_rng(11)
    xs = g.standard_normal((20, 2 * B, 2, 6, 6)) * 2 + 1
    ts = g.integers(0, 4, (20, 2 * B))

    def make():
        return nn.Sequential(
            nn.Conv2d(2, 4, 3),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 8),
            nn.BatchNorm1d(8),
            nn.Tanh(),
            nn.Linear(8, 4),
        )

    equivalence(
        "cnn-syncbn",
        make,
        lambda s: (cr.tensor(xs[s]), cr.tensor(ts[s])),
        F.cross_entropy,
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
        sync_bn=True,
    )


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def check_lstm():
    g = np.random.default_rng(12)
    xs = g.standard_normal((20, 2 * B, 5, 3))
    ts = g.standard_normal((20, 2 * B, 1))
    equivalence(
        "lstm",
        LSTMNet,
        lambda s: (cr.tensor(xs[s]), cr.tensor(ts[s])),
        F.mse_loss,
        lambda ps: optim.Adam(ps, lr=1e-2),
    )


def check_no_sync():
    """Two micro-batches per rank, the first inside no_sync: the same as one step over all four."""
    g = np.random.default_rng(13)
    x = cr.tensor(g.standard_normal((4 * B, 5)))
    t = cr.tensor(g.standard_normal((4 * B, 2)))

    def make():
        return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))

    def mb(k, r):  # micro-batch k of rank r
        i = (2 * r + k) * B
        return x[i : i + B], t[i : i + B]

    ref = build(make, 0)
    for r in range(2):  # the accumulated, averaged gradient: (1/2) Σ_r Σ_k ∇ mean-loss(mb(k, r))
        for k in range(2):
            F.mse_loss(ref(mb(k, r)[0]), mb(k, r)[1]).backward()
    for p in ref.parameters():
        p.grad = p.grad / 2
    optim.SGD(ref.parameters(), lr=0.1).step()

    model = build(make, 0)
    ddp = DDP(model)
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    opt.zero_grad()
    with ddp.no_sync():
        F.mse_loss(ddp(mb(0, RANK)[0]), mb(0, RANK)[1]).backward()
    local = build(make, 0)  # inside no_sync the gradients are this rank's own
    F.mse_loss(local(mb(0, RANK)[0]), mb(0, RANK)[1]).backward()
    for p, q in zip(model.parameters(), local.parameters()):
        close(p.grad._array, q.grad._array, "no_sync: gradient after the first micro-batch")
    F.mse_loss(ddp(mb(1, RANK)[0]), mb(1, RANK)[1]).backward()
    opt.step()
    for (n, p), q in zip(ref.named_parameters(), model.parameters()):
        close(q._array, p._array, f"no_sync: parameter {n}")
    ok("no-sync")


def check_overlap():
    """Several buckets: the first all-reduce starts before backward has computed its last gradient."""
    cr.manual_seed(0)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(128, 128), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(128, 1))
    final_at: list = []
    for p in model.parameters():  # registered before DDP's: run when the gradient is final
        p.register_post_accumulate_grad_hook(lambda p: final_at.append(time.perf_counter()))
    ddp = DDP(model, bucket_cap_mb=128 * 129 * 8 / 2**20)  # one Linear layer (float64) per bucket
    nb = len(ddp._buckets)
    assert nb >= 6, f"expected at least 6 buckets, got {nb}"
    x = cr.randn(64, 128)
    starts = []
    for _ in range(3):
        final_at.clear()
        loss = ddp(x).pow(2).mean()
        t0 = time.perf_counter()
        loss.backward()
        t_end = time.perf_counter()
        s = [b.started_at for b in ddp._buckets]
        assert s == sorted(s), "buckets must start in index order"
        assert all(t0 < v <= t_end for v in s)
        # overlap: the first bucket's all-reduce began while backward still had gradients to compute
        assert s[0] < max(final_at), (s[0] - t0, max(final_at) - t0, t_end - t0)
        starts.append(((s[0] - t0) * 1e3, (max(final_at) - t0) * 1e3, (t_end - t0) * 1e3))
    if RANK == 0:
        f, last, end = starts[-1]
        print(f"overlap: {nb} buckets; first all-reduce started {f:.2f} ms into backward, last gradient "
              f"final at {last:.2f} ms, backward returned at {end:.2f} ms", flush=True)
    ok("overlap")


def check_construction_and_state_dict():
    cr.manual_seed(RANK)  # different on each rank
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model[1].running_mean._array[...] = RANK + 5.0
    ddp = DDP(model, device_ids=None, output_device=None, bucket_cap_mb=25, gradient_as_bucket_view=True)
    got = [p._array.copy() for p in model.parameters()] + [model[1].running_mean._array.copy()]
    theirs = [g.copy() for g in got]
    for a in theirs:
        dist.broadcast(cr.Tensor(a), src=0)
    for a, b in zip(got, theirs):
        np.testing.assert_array_equal(a, b)  # rank 0's values everywhere
    np.testing.assert_array_equal(model[1].running_mean._array, 5.0)
    keys = list(ddp.state_dict())
    assert keys == ["module." + k for k in model.state_dict()], keys
    assert ddp.module is model
    # gradient_as_bucket_view: .grad is a view of the bucket
    ddp(cr.randn(5, 3)).sum().backward()
    assert model[0].weight.grad._array.base is not None
    ok("construction-state-dict")


def check_unused():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(3, 2)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0)

    cr.manual_seed(0)
    ddp = DDP(Two(), find_unused_parameters=True)
    x = cr.tensor(np.full((4, 3), RANK + 1.0))
    ddp(x, use_b=RANK == 0).sum().backward()
    # b used on rank 0 only: its gradient is rank 0's / 2 on both ranks; a's is the average
    np.testing.assert_allclose(ddp.module.b.weight.grad._array, np.full((2, 3), 4.0 / 2))
    np.testing.assert_allclose(ddp.module.a.weight.grad._array, np.full((2, 3), (4.0 + 8.0) / 2))
    ddp.zero_grad()
    ddp(x, use_b=False).sum().backward()  # b used nowhere: its .grad stays None
    assert ddp.module.b.weight.grad is None
    # without find_unused_parameters, a parameter without gradient is an error at the next forward
    ddp2 = DDP(Two())
    ddp2(x, use_b=False).sum().backward()
    try:
        ddp2(x, use_b=True)
    except RuntimeError as e:
        assert "find_unused_parameters" in str(e) and "b.weight" in str(e), e
    else:
        raise AssertionError("DDP did not refuse a forward after an unfinished reduction")
    ok("unused-parameters")


def check_syncbn_layer():
    """SyncBatchNorm on uneven per-rank batches (3 and 5 samples) = BatchNorm2d on the 8 together."""
    g = np.random.default_rng(14)
    x_all = g.standard_normal((8, 3, 2, 2)) * 3 + 2
    w_out = g.standard_normal((8, 3, 2, 2))  # L = Σ y ⊙ w_out over the whole batch
    lo, hi = (0, 3) if RANK == 0 else (3, 8)
    cr.manual_seed(0)
    ref = nn.BatchNorm2d(3)
    ref.weight._array[...] = [1.5, -0.5, 2.0]
    xr = cr.tensor(x_all, requires_grad=True)
    (ref(xr) * cr.tensor(w_out)).sum().backward()
    sbn = nn.SyncBatchNorm(3)
    sbn.weight._array[...] = [1.5, -0.5, 2.0]
    x = cr.tensor(x_all[lo:hi], requires_grad=True)
    y = sbn(x)
    (y * cr.tensor(w_out[lo:hi])).sum().backward()
    close(y._array, _bn_out(ref, x_all)[lo:hi], "SyncBatchNorm output")
    close(x.grad._array, xr.grad._array[lo:hi], "SyncBatchNorm input gradient")
    for name in ("weight", "bias"):  # local sums: over the ranks they add up to the full batch's
        gsum = getattr(sbn, name).grad.clone()
        dist.all_reduce(gsum)
        close(gsum._array, getattr(ref, name).grad._array, f"SyncBatchNorm {name} gradient (summed over ranks)")
    close(sbn.running_mean._array, ref.running_mean._array, "SyncBatchNorm running_mean")
    close(sbn.running_var._array, ref.running_var._array, "SyncBatchNorm running_var")
    ok("syncbn-layer")


def _bn_out(ref, x_all):
    """The full batch's BatchNorm output, by the formula (biased variance, eps 1e-5)."""
    mu = x_all.mean(axis=(0, 2, 3), keepdims=True)
    var = x_all.var(axis=(0, 2, 3), keepdims=True)
    return (x_all - mu) / np.sqrt(var + 1e-5) * ref.weight._array.reshape(1, 3, 1, 1)


CHECKS = {
    "syncbn": check_syncbn_layer,
    "construction": check_construction_and_state_dict,
    "mlp": check_mlp_adam,
    "cnn": check_cnn_syncbn,
    "lstm": check_lstm,
    "nosync": check_no_sync,
    "overlap": check_overlap,
    "unused": check_unused,
}

for name in sys.argv[1:] or CHECKS:
    CHECKS[name]()
dist.destroy_process_group()
