"""The compiled mode's plan stage: constant folding, copy elision, guard hoisting, fusion.

Each rewrite is checked two ways: it happened (the generated source shows it) and the numbers
are eager's (bit-identical where the rewrite keeps NumPy's operations, to rounding where a fused
loop uses the C library's exp/tanh).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.backend import native


def _chain(depth: int = 6):
    rng = np.random.default_rng(0)
    x, w, b = (cr.tensor(rng.standard_normal(10).astype(np.float32), requires_grad=True) for _ in range(3))

    def step():
        x.grad = w.grad = b.grad = None
        h = x
        for _ in range(depth):
            h = (h * w + b).tanh()
        h.sum().backward()

    return step, (x, w, b)


def _source(fn) -> str:
    return fn.entries[-1].plan.source


def test_constants_are_folded_and_copies_elided():
    """The seed of backward (ones) and the engine's defensive copies of leaves' gradients: the
    plan holds the first as a constant and drops a copy where nothing else reads the original
    (it keeps the others), and the numbers stay eager's."""
    step, ts = _chain()
    step_c, ts_c = _chain()
    fn = cr.compile(step_c, options={"fusion": False})
    for _ in range(4):
        step()
        fn()
    src = _source(fn)
    assert "m_ones" not in src and re.search(r"v\d+ = k\d+\n", src)  # the seed: a folded constant
    assert re.search(r"v\d+ = v\d+\n", src)  # a copy nothing else needed: the array itself
    for a, b in zip(ts, ts_c):
        assert np.array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.skipif(native.load_source("probe", "void probe(void) {}\n") is None, reason="no C compiler")
def test_an_elementwise_chain_becomes_one_c_loop():
    step, ts = _chain()
    step_c, ts_c = _chain()
    fn = cr.compile(step_c)
    for _ in range(4):
        step()
        fn()
    src = _source(fn)
    assert src.count("fused loop") == 1 and "tanhf(" in src
    assert "m_tanh" not in src.split("/*")[0]  # no NumPy tanh left in the replay
    for a, b in zip(ts, ts_c):  # tanhf against NumPy's tanh: equal to rounding
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(native.load_source("probe", "void probe(void) {}\n") is None, reason="no C compiler")
def test_a_fused_loop_of_arithmetic_is_bit_identical():
    """+ - * / in a loop compiled in ISO C without -ffast-math: no fused multiply-add, NumPy's bits."""
    def f(a, b, c):
        return ((a * b + c) / (a - c) * 3.0 - b) * 1.0

    fn = cr.compile(f)
    rng = np.random.default_rng(1)
    for _ in range(3):
        a, b, c = (cr.tensor(rng.standard_normal((7, 5)).astype(np.float32)) for _ in range(3))
        assert np.array_equal(fn(a, b, c).numpy(), f(a, b, c).numpy())
    assert "fused loop" in _source(fn)


def test_no_compiler_means_a_numpy_plan(monkeypatch):
    monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    step, ts = _chain()
    step_c, ts_c = _chain()
    fn = cr.compile(step_c)
    for _ in range(3):
        step()
        fn()
    assert "fused loop" not in _source(fn)
    for a, b in zip(ts, ts_c):
        assert np.array_equal(a.grad.numpy(), b.grad.numpy())


def _bn_step():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_a_value_check_is_hoisted_before_the_state_changes():
    """Batch norm updates its running statistics (state) before cross-entropy checks its
    targets (a value read): the check moves to the front, so a replay whose targets fail it
    hands the call to eager with nothing changed, and the state ends as eager's."""
    model_e, step_e = _bn_step()
    model_c, step_c = _bn_step()
    fn = cr.compile(step_c, options={"fusion": False})
    x = cr.randn(8, 4)
    y = cr.tensor(np.arange(8) % 3)
    for _ in range(3):
        step_e(x, y)
        fn(x, y)
    assert fn.stats["replays"] >= 1
    src = _source(fn)
    assert src.index("raise Diverged") < src.index("H")  # the check comes before the optimizer's step
    bad = cr.tensor(np.full(8, 7))  # target 7 of 3 classes
    for f in (step_e, fn):
        with pytest.raises((IndexError, ValueError)):
            f(x, bad)
    assert fn.stats["diverged"] == 1
    for a, b in zip(model_e.state_dict().values(), model_c.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())


def test_explain_shows_guard_replay_and_host_step():
    cr.manual_seed(0)
    lin = nn.Linear(3, 1)
    opt = optim.Adam(lin.parameters())

    @cr.compile
    def step(x):
        opt.zero_grad()
        lin(x).sum().backward()
        opt.step()

    assert "nothing captured" in step.explain()
    for _ in range(3):
        step(cr.ones(2, 3))
    text = step.explain()
    for part in ("guard:", "def replay(args, kwargs):", "host step: Adam.step", "(2, 3)"):
        assert part in text
    rows = text.split("--- entry 1 ---")[1].split("guard:")[0]  # the table: one row per step
    assert "m.matmul" in rows and "(2, 1) float32" in rows and "host   Adam.step" in rows


def test_arrays_made_outside_are_read_not_folded():
    """A tensor the capture did not find (three levels down a structure) is read by reference
    on every replay: what it computes is not folded, so an in-place change is seen."""
    holder = [[{"w": cr.tensor([1.0, 2.0, 3.0])}]]

    def f(x):
        return x * holder[0][0]["w"].exp()

    fn = cr.compile(f)
    x = cr.ones(3)
    with cr.no_grad():
        fn(x)
        fn(x)
        holder[0][0]["w"].mul_(0)
        assert np.array_equal(fn(x).numpy(), f(x).numpy())
        assert fn.stats["replays"] >= 1


@pytest.mark.skipif(native.load_source("probe", "void probe(void) {}\n") is None, reason="no C compiler")
@pytest.mark.parametrize("shape", [(7, 5), (80, 70), (0, 5)])
def test_a_fused_loop_with_two_outputs_and_a_strided_input(shape):
    """The caller written for each loop (fuse._caller): a transposed input is copied before the
    loop reads it, two results come back (in one block when small, as two arrays from 4,096
    elements), and an empty shape runs the loop no times."""
    def f(a, b, c):
        at = a.t()
        u = at * b + c
        return u, (u * 2.0 - at) / b

    fn = cr.compile(f)
    rng = np.random.default_rng(2)
    for _ in range(3):
        a = cr.tensor(rng.standard_normal(shape[::-1]).astype(np.float32))
        b, c = (cr.tensor(rng.standard_normal(shape).astype(np.float32) + 3.0) for _ in range(2))
        got, want = fn(a, b, c), f(a, b, c)
        for x, y in zip(got, want):
            assert x.shape == shape and np.array_equal(x.numpy(), y.numpy())
    if shape[0]:
        assert "fused loop" in _source(fn)


GAIN = 1.5  # a Python number the function below reads as a global


@pytest.mark.skipif(not native.enabled(), reason="fusion needs the compiled kernels")
def test_constants_a_fused_loop_reads_are_there_for_the_backward_outside():
    """``lin(x) * GAIN * 2.0``: a fused loop takes the two numbers as its own constants, and the
    graph the call returns keeps them for the backward pass that runs after it (outside the
    plan); the replay must still bind them (it raised NameError)."""
    def run(compiled):
        cr.manual_seed(0)
        lin = nn.Linear(4, 3)

        def f(x):
            return (lin(x) * GAIN * 2.0).sum()

        fn = cr.compile(f) if compiled else f
        x = cr.tensor(np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(2, 4))
        out = []
        for _ in range(3):
            lin.zero_grad()
            y = fn(x)
            y.backward()
            out += [_arr(y), _arr(lin.weight.grad), _arr(lin.bias.grad)]
        return out, fn

    eager, _ = run(False)
    compiled, fn = run(True)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert fn.stats["replays"] == 2 and "fused" in _source(fn)


def _arr(t):
    return t.detach().numpy().copy()
