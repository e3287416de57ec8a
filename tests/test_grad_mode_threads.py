"""Grad mode is per thread (issue 10, item 1), as in PyTorch.

``no_grad`` / ``enable_grad`` / ``set_grad_enabled`` / ``inference_mode``, forward
mode (``dual_level``) and anomaly detection in one thread must not change what
another thread records.  Threads are made to interleave finely
(``sys.setswitchinterval``) and are lined up with barriers so that the blocks of
two threads really overlap.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.autograd import forward_ad as fwAD


@pytest.fixture(autouse=True)
def _fine_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(*targets):
    """Run each target in its own thread; re-raise the first exception any of them raised."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported to the test thread
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def serving():
        with cr.no_grad():
            inside.set()
            seen["serving_enabled"] = cr.is_grad_enabled()
            done.wait(10)

    def training():
        inside.wait(10)
        seen["training_enabled"] = cr.is_grad_enabled()
        x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x * x).sum()
        seen["requires_grad"] = y.requires_grad
        y.backward()
        seen["grad"] = x.grad.numpy().copy()
        done.set()

    _run_threads(serving, training)
    assert seen["serving_enabled"] is False
    assert seen["training_enabled"] is True
    assert seen["requires_grad"] is True
    np.testing.assert_array_equal(seen["grad"], [2.0, 4.0, 6.0])  # d(sum x²)/dx = 2x


def test_overlapping_no_grad_blocks_leave_recording_on_everywhere():
    # A enters, B enters, A leaves, B leaves: with one global flag B restores A's "off" for good.
    b1, b2, b3 = threading.Barrier(2), threading.Barrier(2), threading.Barrier(2)

    def a():
        with cr.no_grad():
            b1.wait()  # both inside
            b2.wait()
        b3.wait()

    def b():
        b1.wait()
        with cr.no_grad():
            b2.wait()  # A leaves while B is still inside
            b3.wait()

    _run_threads(a, b)
    assert cr.is_grad_enabled()
    x = cr.tensor([3.0], requires_grad=True)
    (x * x).sum().backward()  # would fail with "does not require grad" if recording stayed off
    np.testing.assert_array_equal(x.grad.numpy(), [6.0])


@pytest.mark.parametrize(
    "context",
    [
        lambda: cr.no_grad(),
        lambda: cr.set_grad_enabled(False),
        lambda: cr.inference_mode(),
    ],
    ids=["no_grad", "set_grad_enabled", "inference_mode"],
)
def test_each_off_switch_is_per_thread(context):
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def other():
        with context():
            inside.set()
            done.wait(10)

    def me():
        inside.wait(10)
        seen["enabled"] = cr.is_grad_enabled()
        x = cr.ones(2, requires_grad=True)
        seen["rg"] = (x * 2).requires_grad
        done.set()

    _run_threads(other, me)
    assert seen == {"enabled": True, "rg": True}


def test_set_grad_enabled_called_as_a_function_stays_in_its_thread():
    seen = {}

    def off_for_good():
        cr.set_grad_enabled(False)  # a plain call: the mode of this thread only
        seen["there"] = cr.is_grad_enabled()

    _run_threads(off_for_good)
    assert seen["there"] is False
    assert cr.is_grad_enabled()
    assert (cr.ones(1, requires_grad=True) * 2).requires_grad


def test_a_thread_that_ends_outside_record_mode_leaves_the_fast_path_to_the_others():
    from chainrule.autograd.grad_mode import DIFFERING

    before = len(DIFFERING)

    def ends_in_no_grad():
        cr.set_grad_enabled(False)
        assert len(DIFFERING) == before + 1

    _run_threads(ends_in_no_grad, ends_in_no_grad)
    assert len(DIFFERING) == before  # the two finished threads took their entries with them


def test_enable_grad_in_a_thread_and_a_new_thread_starts_recording():
    seen = {}

    def child():
        seen["child_default"] = cr.is_grad_enabled()  # a new thread starts with grad mode on
        with cr.no_grad():
            with cr.enable_grad():
                seen["inner"] = (cr.ones(1, requires_grad=True) * 2).requires_grad

    with cr.no_grad():
        _run_threads(child)
        assert not cr.is_grad_enabled()
    assert seen == {"child_default": True, "inner": True}


def test_forward_mode_level_is_per_thread():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def forward_thread():
        with fwAD.dual_level():
            x = fwAD.make_dual(cr.tensor([2.0], dtype=cr.float64), cr.tensor([1.0], dtype=cr.float64))
            inside.set()
            done.wait(10)
            seen["tangent"] = fwAD.unpack_dual(x * x).tangent.numpy().copy()  # d(x²) = 2x dx

    def plain_thread():
        inside.wait(10)
        x = cr.tensor([2.0], requires_grad=True)
        y = x * x
        # no dual level is open in this thread: nothing has a tangent
        seen["plain_tangent"] = fwAD.unpack_dual(y).tangent
        y.sum().backward()
        seen["grad"] = x.grad.numpy().copy()
        done.set()

    _run_threads(forward_thread, plain_thread)
    np.testing.assert_array_equal(seen["tangent"], [4.0])
    assert seen["plain_tangent"] is None
    np.testing.assert_array_equal(seen["grad"], [4.0])


def test_anomaly_mode_is_per_thread():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def anomalous():
        with cr.autograd.detect_anomaly():
            inside.set()
            seen["there"] = cr.autograd.is_anomaly_enabled()
            done.wait(10)

    def plain():
        inside.wait(10)
        seen["here"] = cr.autograd.is_anomaly_enabled()
        x = cr.tensor([0.0], requires_grad=True)
        with np.errstate(all="ignore"):
            y = (x / x).sum()  # 0/0 = nan: anomaly mode would raise in the backward pass
            y.backward()
        seen["grad_is_nan"] = bool(np.isnan(x.grad.numpy()).all())
        done.set()

    _run_threads(anomalous, plain)
    assert seen == {"there": True, "here": False, "grad_is_nan": True}


# --- whole training runs in threads give exactly the sequential results -----------------

def _mlp():
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))


def _cnn():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 3),
    )


class _LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 32)
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.head = nn.Linear(64, 3)

    def forward(self, idx):
        h, _ = self.lstm(self.emb(idx))
        return self.head(h[:, -1])


def _job(kind: str, seed: int):
    """A model, its optimiser and fixed batches, built deterministically from a seed."""
    cr.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        model, opt = _mlp(), None
        xs = [cr.tensor(rng.standard_normal((64, 20)).astype(np.float32)) for _ in range(3)]
        opt = optim.Adam(model.parameters(), lr=1e-2)
    elif kind == "cnn":
        model = _cnn()
        xs = [cr.tensor(rng.standard_normal((32, 3, 16, 16)).astype(np.float32)) for _ in range(3)]
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        model = _LSTMNet()
        xs = [cr.tensor(rng.integers(0, 30, (32, 24))) for _ in range(3)]
        opt = optim.Adam(model.parameters(), lr=1e-2)
    ys = [cr.tensor(rng.integers(0, 3, len(x))) for x in xs]
    return model, opt, list(zip(xs, ys))


def _train(model, opt, batches, steps: int = 6) -> tuple[list, list]:
    losses = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("repeat", range(3))
def test_threads_training_at_once_match_sequential_training(repeat):
    kinds = [("mlp", 1), ("cnn", 2), ("lstm", 3)]
    expected = {k: _train(*_job(k, s)) for k, s in kinds}
    jobs = {k: _job(k, s) for k, s in kinds}  # built before the threads: the global RNG is shared
    results = {}
    stop = threading.Event()
    served = []

    def trainer(kind):
        def run():
            results[kind] = _train(*jobs[kind])

        return run

    server_model = _mlp()
    query = cr.randn(8, 20)

    def server():
        # inference under no_grad beside the training threads, until they are done
        while not stop.is_set():
            with cr.no_grad():
                out = server_model(query)
            served.append(out.requires_grad)

    srv = threading.Thread(target=server)
    srv.start()
    try:
        _run_threads(*(trainer(k) for k, _ in kinds))
    finally:
        stop.set()
        srv.join(30)
    assert served and not any(served)
    for kind, _ in kinds:
        exp_losses, exp_params = expected[kind]
        got_losses, got_params = results[kind]
        assert got_losses == exp_losses, kind
        for e, g in zip(exp_params, got_params):
            np.testing.assert_array_equal(g, e)
    assert cr.is_grad_enabled()
