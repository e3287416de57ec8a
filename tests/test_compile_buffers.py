"""The compiled mode's fused loops over broadcast inputs and in-place steps, and its planned
buffers (compiler/fuse.py, compiler/buffers.py).

Each is checked three ways: it happened (the plan's source or table shows it), the numbers are
eager's (bit-identical: these loops use + - * / and selects only), and nothing a caller holds is
overwritten by a later replay.
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.backend import ArrayMath, native

needs_cc = pytest.mark.skipif(native.load_source("probe", "void probe(void) {}\n") is None, reason="no C compiler")


def _plan(fn):
    return fn.entries[-1].plan


def _mlp_step(seed: int = 0, sizes=(5, 8, 8, 3)):
    cr.manual_seed(seed)
    layers: list = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


@needs_cc
def test_bias_and_relu_become_one_loop_over_rows_and_columns():
    """``x Wᵀ + b`` then ReLU: the in-place bias add (on the product's own array) and the ReLU
    join one loop, which reads the bias row at the column index; ReLU's backward joins the
    product of the output gradient.  Twenty steps equal eager's to the bit."""
    model_e, step_e = _mlp_step()
    model_c, step_c = _mlp_step()
    fn = cr.compile(step_c)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = cr.tensor(rng.standard_normal((16, 5)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 16))
        assert step_e(x, y).item() == fn(x, y).item()
    assert fn.stats["replays"] >= 18
    plan = _plan(fn)
    assert "in1[c]" in plan.source and "MAXIMUM(" in plan.source  # the bias row, ReLU
    relus = [r for r in plan.table if r[1] in ("m.relu", "m.relu_backward")]
    assert len(relus) == 4 and all("fused loop" in r[3] for r in relus)
    assert sum(r[1] == "a += b" and "fused loop" in r[3] for r in plan.table) == 2  # (the last one: alone)
    for a, b in zip(model_e.parameters(), model_c.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


@needs_cc
@pytest.mark.parametrize("case", ["column", "one", "outer product"])
def test_loops_read_columns_single_values_and_outer_products(case):
    """An (N, 1) input is read at the row index, a (1, 1) one as a number, and an (N, 1) times
    (1, C) product fills the (N, C) loop; the results are NumPy's bits."""
    rng = np.random.default_rng(1)
    a = cr.tensor(rng.standard_normal((6, 4)).astype(np.float32))
    col = cr.tensor(rng.standard_normal((6, 1)).astype(np.float32))
    one = cr.tensor(rng.standard_normal((1, 1)).astype(np.float32))
    row = cr.tensor(rng.standard_normal((1, 4)).astype(np.float32))

    def f(a, col, one, row):
        if case == "column":
            return ((a * col - 1.0) / (col + 3.0)).relu()
        if case == "one":
            return ((a - one) * one + 2.0).relu()
        return ((col * row) * a + row).relu()

    fn = cr.compile(f)
    for _ in range(3):
        assert np.array_equal(fn(a, col, one, row).numpy(), f(a, col, one, row).numpy())
    src = _plan(fn).source
    assert "fused loop" in src
    if case == "column":
        assert "in1[i]" in src or "in0[i]" in src


@needs_cc
def test_broadcasts_split_at_two_places_are_not_fused_but_right():
    """A (C,) row and a (N, 1, 1) column of an (N, K, C) loop split it at two axes: no single
    (rows, columns) loop, so the steps stay NumPy's."""
    rng = np.random.default_rng(2)
    a = cr.tensor(rng.standard_normal((3, 4, 5)).astype(np.float32))
    r = cr.tensor(rng.standard_normal(5).astype(np.float32))
    c = cr.tensor(rng.standard_normal((3, 1, 1)).astype(np.float32))

    def f(a, r, c):
        return (a + r) * c - r * 2.0

    fn = cr.compile(f)
    for _ in range(3):
        assert np.array_equal(fn(a, r, c).numpy(), f(a, r, c).numpy())
    assert "fused loop" not in _plan(fn).source


@needs_cc
def test_an_in_place_write_into_an_input_is_not_rewritten():
    """``a += b`` on an array the caller sees (an argument, or a view of the product's array
    that another slot holds) stays an in-place write: the caller's array changes as in eager."""
    def f(x, b):
        y = x * 2.0
        x.add_(b)  # the argument itself
        return (y + b).relu() * 3.0 - 1.0

    rng = np.random.default_rng(3)
    b = cr.tensor(rng.standard_normal(4).astype(np.float32))
    fn = cr.compile(f)
    with cr.no_grad():
        for _ in range(3):
            start = rng.standard_normal((5, 4)).astype(np.float32)
            xe, xc = cr.tensor(start.copy()), cr.tensor(start.copy())
            assert np.array_equal(fn(xc, b).numpy(), f(xe, b).numpy())
            assert np.array_equal(xc.numpy(), xe.numpy()) and not np.array_equal(xc.numpy(), start)


def test_planned_buffers_are_reused_but_never_returned():
    """The intermediates of a step get buffers planned once (the table shows them) and reused
    by liveness; what the replay returns and the gradients it writes are new arrays each call,
    so a result kept from one replay is not changed by the next."""
    model, step = _mlp_step(sizes=(5, 8, 8, 8, 3))
    fn = cr.compile(step)
    rng = np.random.default_rng(4)
    kept = []
    for _ in range(4):
        x = cr.tensor(rng.standard_normal((16, 5)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 16))
        loss = fn(x, y)
        kept.append((loss, loss.item(), [(p.grad, p.grad.numpy().copy()) for p in model.parameters()]))
    for loss, value, grads in kept:
        assert loss.item() == value
        for g, copy in grads:
            assert np.array_equal(g.numpy(), copy)
    plan = _plan(fn)
    assert sum("planned buffer" in r[3] for r in plan.table) >= 3
    buffers = {id(v) for v in plan.ready().run.__globals__.values() if type(v) is np.ndarray}
    assert not any(id(p.grad._array) in buffers or id(p._array) in buffers for p in model.parameters())


def test_plans_without_buffers_and_without_fusion_agree_to_the_bit():
    """options={'buffers': False} allocates as eager does; both plans give the same numbers."""
    results = []
    for options in ({"fusion": False}, {"fusion": False, "buffers": False}):
        model, step = _mlp_step(seed=5)
        fn = cr.compile(step, options=options)
        rng = np.random.default_rng(5)
        for _ in range(5):
            fn(cr.tensor(rng.standard_normal((16, 5)).astype(np.float32)), cr.tensor(rng.integers(0, 3, 16)))
        results.append([p.detach().numpy().copy() for p in model.parameters()])
        planned = any("planned buffer" in r[3] for r in _plan(fn).table)
        assert planned == ("buffers" not in options)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_a_plan_running_already_hands_the_call_to_eager():
    """One plan's buffers serve one call at a time: a call that finds the plan running (here:
    its lock held, as another thread would hold it) runs eagerly, with the same result."""
    model, step = _mlp_step(seed=6)
    fn = cr.compile(step)
    rng = np.random.default_rng(6)
    x = cr.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 3, 16))
    for _ in range(3):
        fn(x, y)
    lock = _plan(fn).exclusive
    assert lock is not None
    eager_before = fn.stats["eager"]
    with lock:
        fn(x, y)
    assert fn.stats["eager"] == eager_before + 1 and fn.stats["diverged"] >= 1



def test_threads_calling_one_plan_get_their_own_results(fine_switching):
    """Two threads replaying one plan of a function (no state of its own): each call either
    replays with the plan's buffers or, finding them in use, runs eagerly; every result is right."""
    rng = np.random.default_rng(8)
    w = cr.tensor(rng.standard_normal((6, 6)).astype(np.float32))
    b = cr.tensor(rng.standard_normal(6).astype(np.float32))

    def f(x):
        h = (x @ w + b).relu()
        return (h @ w + b).relu().sum(1)

    fn = cr.compile(f)
    xs = [cr.tensor(rng.standard_normal((40, 6)).astype(np.float32)) for _ in range(8)]
    with cr.no_grad():
        want = [f(x).numpy() for x in xs]
        fn(xs[0])
        fn(xs[0])
        assert _plan(fn).exclusive is not None
    wrong: list = []

    def worker(k: int) -> None:
        with cr.no_grad():
            for r in range(200):
                i = (k + r) % len(xs)
                if not np.array_equal(fn(xs[i]).numpy(), want[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


@pytest.mark.parametrize("shapes", [((7, 3), (3, 5)), ((7, 1), (1, 5)), ((0, 3), (3, 2)), ((4, 3), (3, 0))])
def test_the_tables_2d_product_is_numpys(shapes):
    """2-D products go through np.dot (cheaper to call than matmul): NumPy's product, with or
    without ``out=``; an ``out`` np.dot refuses (strided) takes matmul's way."""
    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    want = np.matmul(a, b)
    np.testing.assert_allclose(ArrayMath.matmul(a, b), want, rtol=1e-6, atol=1e-6)
    out = np.empty_like(want)
    assert ArrayMath.matmul(a, b, out) is out
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
    strided = np.empty((want.shape[1], want.shape[0]), np.float32).T
    assert ArrayMath.matmul(a, b, strided) is strided
    np.testing.assert_allclose(strided, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        ArrayMath.matmul(a, np.ones((shapes[0][1] + 1, 2), np.float32))


def test_an_outer_product_of_any_size_goes_through_np_dot(monkeypatch):
    """K = 1 (a Linear layer of one output feature: its input gradient g (N, 1) @ W (1, H)) goes
    through np.dot whatever its size: matmul's K = 1 loop was 5-7x slower (3200 x 128: 650-950 µs
    against 120-130).  The same bits as np.matmul's: an outer product has no sums."""
    from chainrule.backend import gemm_onednn

    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((3200, 1)).astype(np.float32), rng.standard_normal((1, 128)).astype(np.float32)
    assert a.shape[0] * b.shape[1] >= gemm_onednn._DOT_BELOW  # (np.dot for its size alone: no)
    called = []
    real = gemm_onednn._np_dot
    monkeypatch.setattr(gemm_onednn, "_np_dot", lambda *x, **k: called.append(1) or real(*x, **k))
    monkeypatch.setattr(gemm_onednn, "_HELD", [None])  # (oneDNN's sgemm not in play)
    out = np.empty((3200, 128), np.float32)
    assert ArrayMath.matmul(a, b, out) is out
    np.testing.assert_array_equal(out, np.matmul(a, b))
    assert called
    monkeypatch.setattr(gemm_onednn, "_np_dot", real)
    assert gemm_onednn.matmul_for(a.shape, b.shape, np.float32) is np.dot  # a compiled plan calls it too
    big = ((2048, 1), (1, 1024))  # 2^21 multiply-adds: oneDNN's sgemm may take it, so no fixed np.dot
    assert gemm_onednn.matmul_for(*big, np.float32) is None


@needs_cc
def test_a_one_element_intermediate_is_read_afresh_each_replay():
    """A (1, 1) product planned into a buffer and read by a loop as a number: the loop reads its
    value on every call (only a constant's value may be fixed in the caller)."""
    def f(a, u, v):
        s = u @ v  # (1, 1): a planned buffer of one element
        return ((a * s + 1.0) * s).relu().sum(1)  # (the loop's result stays inside: planned too)

    fn = cr.compile(f)
    rng = np.random.default_rng(9)
    a = cr.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    with cr.no_grad():
        for _ in range(4):
            u = cr.tensor(rng.standard_normal((1, 3)).astype(np.float32))
            v = cr.tensor(rng.standard_normal((3, 1)).astype(np.float32))
            assert np.array_equal(fn(a, u, v).numpy(), f(a, u, v).numpy())
    assert fn.stats["replays"] >= 2 and "fused loop" in _plan(fn).source


@needs_cc
def test_an_array_a_loop_rewrites_in_place_gets_no_buffer():
    """``h = lin(x)`` (a product, then ``h += b``) used both by the fused ReLU and by a later
    product: the loop rewrites h, whose values before and after are both read; one planned
    buffer for both would be the loop's input and output at once.  Neither is planned, and the
    results are eager's."""
    cr.manual_seed(0)
    lin = nn.Linear(5, 8)
    w2 = cr.randn(8, 3)

    def f(x):
        h = lin(x)
        return (((h.relu() * 2.0) @ w2) + (h @ w2)).sum(1)

    fn = cr.compile(f)
    rng = np.random.default_rng(10)
    with cr.no_grad():
        for _ in range(4):
            x = cr.tensor(rng.standard_normal((6, 5)).astype(np.float32))
            assert np.array_equal(fn(x).numpy(), f(x).numpy())
    table = _plan(fn).table
    row = next(k for k, r in enumerate(table) if r[1] == "a += b")
    assert "fused loop" in table[row][3]
    target = table[row][2].split()[1]  # "writes vK"
    made = [r for r in table if r[2].startswith(target + " ")]
    assert made and not any("planned buffer" in r[3] for r in made)


@needs_cc
def test_leaky_relu_and_its_backward_fuse_with_the_kernels_bits():
    """leaky_relu(x, s) = x where x > 0, else s x; its gradient g where x > 0, else s g
    (PyTorch's definition): the loop gives the table entries' bits, forward and backward."""
    import chainrule.nn.functional as F

    def make():
        cr.manual_seed(3)
        lin = nn.Linear(4, 6)
        return lin, optim.SGD(lin.parameters(), lr=0.1)

    (lin_e, opt_e), (lin_c, opt_c) = make(), make()

    def step(lin, opt, x):
        opt.zero_grad()
        loss = (F.leaky_relu(lin(x), 0.2) * 3.0 - 1.0).square().mean()
        loss.backward()
        opt.step()
        return loss

    fn = cr.compile(lambda x: step(lin_c, opt_c, x))
    rng = np.random.default_rng(11)
    for _ in range(6):
        x = cr.tensor(rng.standard_normal((10, 4)).astype(np.float32))
        assert step(lin_e, opt_e, x).item() == fn(x).item()
    rows = [r for r in _plan(fn).table if r[1] in ("m.leaky_relu", "m.leaky_relu_backward")]
    assert len(rows) == 2 and all("fused loop" in r[3] for r in rows)
    for a, b in zip(lin_e.parameters(), lin_c.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_pool_adopt_hands_over_the_smallest_free_array_that_fits():
    """``BufferPool.adopt``: the front of the smallest free pooled array of that dtype with room
    and at most twice the size asked, taken out of the pool (which then holds fewer bytes); an
    array in use, of another dtype or more than twice too large is never handed over; with
    nothing fit, a new array."""
    from chainrule.backend.pool import BufferPool

    pool = BufferPool(min_bytes=0)
    big = pool.empty((64, 64), np.float32)
    small = pool.empty((32, 64), np.float32)
    busy = pool.empty((40, 64), np.float32)  # still referred to below: in use
    other = pool.empty((8, 512), np.float64)
    big_ptr, small_ptr, other_ptr = (a.__array_interface__["data"][0] for a in (big, small, other))
    del big, small, other
    before = pool._bytes
    got = pool.adopt(1100, np.float32)
    assert got.shape == (1100,) and got.dtype == np.float32
    assert got.__array_interface__["data"][0] == small_ptr  # 2,048 elements: the smallest that fits
    assert pool._bytes == before - 32 * 64 * 4
    tiny = pool.adopt(100, np.float32)  # 4,096 is more than twice 100: the pool keeps it
    assert tiny.__array_interface__["data"][0] != big_ptr and pool._bytes == before - 32 * 64 * 4
    got2 = pool.adopt(3000, np.float32)
    assert got2.__array_interface__["data"][0] == big_ptr
    fresh = pool.adopt(1300, np.float32)  # only the busy one (2,560) would fit: a new array
    assert not np.shares_memory(fresh, busy) and fresh.__array_interface__["data"][0] != other_ptr
    assert pool.empty((32, 64), np.float32).__array_interface__["data"][0] != small_ptr  # it left the pool
    busy[:] = 1.0


@needs_cc
def test_a_replay_plans_the_arrays_eager_draws_from_the_pool_and_adopts_the_pools_free_ones():
    """An MLP whose (128, 512) activations are large enough for the buffer pool: the plan gives
    the products' ``m.pooled_empty`` results buffers of its own (the replay draws nothing from
    the pool), and takes those buffers from the arrays the captures left free in the pool, so
    that the pool and the plan do not both hold them.  Losses and parameters equal eager's to
    the bit."""
    from chainrule.backend.pool import POOL

    model_e, step_e = _mlp_step(sizes=(784, 512, 512, 10))
    model_c, step_c = _mlp_step(sizes=(784, 512, 512, 10))
    fn = cr.compile(step_c)
    rng = np.random.default_rng(1)
    batches = [(cr.tensor(rng.standard_normal((128, 784)).astype(np.float32)), cr.tensor(rng.integers(0, 10, 128)))
               for _ in range(8)]
    key = ((128, 512), np.dtype(np.float32))
    POOL.clear()
    for x, y in batches[:2]:  # the two captures run eagerly: they leave free arrays in the pool
        assert step_e(x, y).item() == fn(x, y).item()
    left = [weakref.ref(a) for a in POOL._free.get(key, [])]
    assert left
    for k, (x, y) in enumerate(batches[2:]):
        e = step_e(x, y).item()
        held = len(POOL._free.get(key, []))  # eager's arrays, free again after its step
        assert e == fn(x, y).item()
        if k:  # (the first replay makes the plan, taking free arrays from the pool)
            assert len(POOL._free.get(key, [])) == held  # a replay draws nothing from the pool
    assert fn.stats["replays"] == 6
    plan = _plan(fn)
    assert "m_pooled_empty" not in plan.source.split("\n\n")[0]
    assert any(kind == "call" and what == "m.pooled_empty" and "planned buffer" in how
               for kind, what, _, how in plan.table)
    for p, q in zip(model_e.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # the captures' free arrays left the pool, and live on as the plan's buffers, until it goes
    pooled = {id(a) for bufs in POOL._free.values() for a in bufs}
    assert all(r() is not None and id(r()) not in pooled for r in left)
    del fn, plan
    gc.collect()
    assert all(r() is None for r in left)
