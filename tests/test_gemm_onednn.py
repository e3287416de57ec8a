"""float32 products on oneDNN's sgemm, on the threads oneDNN holds (backend/gemm_onednn.py):
the table's matmul against float64 products, for every operand layout; the cases it leaves to
NumPy; and when a product takes the threads for oneDNN."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.backend import ArrayMath, gemm_onednn, onednn, threads

pytestmark = pytest.mark.skipif(not onednn.available(), reason=onednn.status())


@pytest.fixture
def held(monkeypatch):
    """oneDNN holding the threads under the current setting, and a spy on the products it runs:
    dnnl_sgemm's calls as (ta, tb, m, n, k), the matmul primitive's as ("primitive", m, n, k)."""
    saved = onednn.HELD[0]
    onednn.HELD[0] = threads.settings()
    calls: list = []
    real = gemm_onednn._sgemm()
    monkeypatch.setattr(gemm_onednn, "_sgemm", lambda: lambda *a: (calls.append(a[:5]), real(*a))[1])
    primitive = gemm_onednn._primitive_product

    def spy(a, b, out):
        calls.append(("primitive", a.shape[-2], b.shape[-1], a.shape[-1]))
        return primitive(a, b, out)

    monkeypatch.setattr(gemm_onednn, "_primitive_product", spy)
    yield calls
    onednn.HELD[0] = saved


def _layouts(a: np.ndarray) -> list:
    """a in C order, as a transposed view of a C-ordered array, and as a strided view (copied)."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    wide[:, ::2] = a
    return [a.copy(), np.ascontiguousarray(a.T).T, wide[:, ::2]]


@pytest.mark.parametrize("m, k, n", [(128, 96, 100), (2048, 256, 65), (65, 2048, 256), (1, 4096, 300)])
def test_every_layout_gives_the_product(held, m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    tol = 8 * np.finfo(np.float32).eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    for x in _layouts(a):
        for y in _layouts(b):
            got = ArrayMath.matmul(x, y)
            assert got.dtype == np.float32 and got.shape == (m, n)
            assert np.all(np.abs(got - exact) <= tol)
    assert len(held) == 9
    assert sum(c[0] == "primitive" for c in held) == 3  # (b as a transposed view)
    if m > 1:  # (a single row is C-ordered whichever way it was made)
        assert {c[:2] for c in held if c[0] != "primitive"} == {(b"N", b"N"), (b"T", b"N")}


@pytest.mark.parametrize("m, k, n", [(128, 512, 384), (2048, 256, 65), (7, 1024, 300)])
def test_a_transposed_right_operand_runs_on_the_matmul_primitive(held, m, k, n):
    """x @ Wᵀ (a Linear layer's forward), W C-ordered: oneDNN's matmul primitive, which reads Wᵀ
    where it lies, rather than dnnl_sgemm with b transposed (slower there); also with rows that
    lie apart in both operands (column slices of wider arrays) and into a given ``out``.  Each
    result is the product to float32 rounding, and a second call gives the same bits."""
    rng = np.random.default_rng(5)
    a_wide = rng.standard_normal((m, k + 24)).astype(np.float32)
    w_wide = rng.standard_normal((n, k + 40)).astype(np.float32)
    for a, w in [(a_wide[:, :k].copy(), w_wide[:, :k].copy()), (a_wide[:, :k], w_wide[:, 8:k + 8])]:
        exact = a.astype(np.float64) @ w.T.astype(np.float64)
        tol = 8 * np.finfo(np.float32).eps * (np.abs(a).astype(np.float64) @ np.abs(w.T).astype(np.float64))
        got = ArrayMath.matmul(a, w.T)
        assert got.dtype == np.float32 and got.shape == (m, n) and got.flags.c_contiguous
        assert np.all(np.abs(got - exact) <= tol)
        out = np.full((m, n), np.nan, np.float32)
        assert ArrayMath.matmul(a, w.T, out=out) is out
        np.testing.assert_array_equal(out, got)
    assert held == [("primitive", m, n, k)] * 4


def _stack_layouts(shape: tuple, rng: np.random.Generator) -> list:
    """float32 arrays of ``shape`` (at least 3-D) in C order, with the last two axes transposed
    (a view), and as a permuted view of a (B, T, H, d)-like array (attention's heads)."""
    a = rng.standard_normal(shape).astype(np.float32)
    swapped = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    axes = (1, 0) + tuple(range(2, a.ndim))  # (the first two axes swapped in memory)
    permuted = np.ascontiguousarray(a.transpose(axes)).transpose(axes)
    return [a, swapped, permuted]


@pytest.mark.parametrize("a_shape, b_shape", [((8, 64, 32), (8, 32, 64)), ((2, 4, 64, 48), (2, 4, 48, 64)),
                                              ((8, 128, 64), (1, 64, 128)), ((8, 128, 64), (64, 128)),
                                              ((96, 128), (4, 128, 64))])
def test_a_stack_of_products_runs_on_the_matmul_primitive(held, a_shape, b_shape):
    """Stacks of products (attention's Q Kᵀ and A V, a batched Linear) go to the matmul
    primitive while oneDNN holds the threads (NumPy's matmul would run them on BLAS's one
    thread): every layout of each operand, broadcast batch dimensions and an operand with fewer
    dimensions give the product to float32 rounding, into a new array or a given ``out``."""
    rng = np.random.default_rng(6)
    k = a_shape[-1]
    def layouts(shape: tuple) -> list:
        return _stack_layouts(shape, rng) if len(shape) > 2 else [rng.standard_normal(shape).astype(np.float32)]

    for x in layouts(a_shape):
        for y in layouts(b_shape):
            exact = np.matmul(x.astype(np.float64), y.astype(np.float64))
            tol = 8 * np.finfo(np.float32).eps * np.matmul(np.abs(x).astype(np.float64), np.abs(y).astype(np.float64))
            got = ArrayMath.matmul(x, y)
            assert got.dtype == np.float32 and got.shape == exact.shape and got.flags.c_contiguous
            assert np.all(np.abs(got - exact) <= tol)
            out = np.full(exact.shape, np.nan, np.float32)
            assert ArrayMath.matmul(x, y, out=out) is out
            np.testing.assert_array_equal(out, got)
    assert held and all(c[0] == "primitive" and c[3] == k for c in held)


@pytest.mark.parametrize(
    "a, b",
    [
        (np.ones((4, 16, 16), np.float32), np.ones((4, 16, 16), np.float32)),  # below _MIN_MACS
        (np.ones((8, 128, 64), np.float64), np.ones((8, 64, 128), np.float64)),  # float64
        (np.ones((8, 128, 64), np.float32), np.ones((8, 64, 0), np.float32)),  # empty
        (np.ones((8, 128, 64), np.float32), np.ones(64, np.float32)),  # a vector: matmul's own rule
    ],
)
def test_other_stacks_stay_with_numpy(held, a, b):
    np.testing.assert_array_equal(ArrayMath.matmul(a, b), np.matmul(a, b))
    assert held == []


def test_a_stack_whose_batches_do_not_match_raises_as_numpy_does(held):
    with pytest.raises(ValueError):
        ArrayMath.matmul(np.ones((3, 128, 64), np.float32), np.ones((4, 64, 128), np.float32))


def test_a_layout_with_only_a_reference_kernel_is_left_to_numpy(held, monkeypatch):
    """Where oneDNN has only its reference kernel for a primitive (slow), the product is NumPy's,
    and that answer is kept: the primitive is not described again at each call."""
    asked = []
    monkeypatch.setattr(onednn, "implementation", lambda pd: (asked.append(pd), "ref:any")[1])
    onednn._STEPS.pop("matmul", None)
    rng = np.random.default_rng(7)
    a = rng.standard_normal((8, 128, 64)).astype(np.float32)
    b = rng.standard_normal((8, 64, 128)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(ArrayMath.matmul(a, b), np.matmul(a, b))
    assert len(asked) == 1
    onednn._STEPS.pop("matmul", None)


def test_out_is_written(held):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((256, 128)).astype(np.float32), rng.standard_normal((128, 64)).astype(np.float32)
    out = np.empty((256, 64), np.float32)
    assert ArrayMath.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-4)
    assert len(held) == 1


@pytest.mark.parametrize(
    "a, b",
    [
        (np.ones((64, 64), np.float32), np.ones((64, 64), np.float32)),  # below _MIN_MACS
        (np.ones((256, 128), np.float64), np.ones((128, 64), np.float64)),  # float64
        (np.ones((256, 128), np.float32), np.ones((128, 64), np.float64)),  # mixed dtypes
    ],
)
def test_other_products_stay_with_numpy(held, a, b):
    np.testing.assert_array_equal(ArrayMath.matmul(a, b), np.matmul(a, b))
    assert held == []


def test_a_large_float32_product_takes_the_threads(monkeypatch):
    """Under a new thread setting BLAS has the threads; a float32 product the fast path covers
    hands them to oneDNN (as a convolution does) at two threads, and runs on its sgemm, and so
    does a stack of products (on the matmul primitive); smaller or float64 products leave them
    with BLAS, and at one thread nothing takes them."""
    count = threads.intra_threads()
    a, b = np.ones((256, 128), np.float32), np.ones((128, 64), np.float32)
    calls = []
    real = gemm_onednn._sgemm()
    monkeypatch.setattr(gemm_onednn, "_sgemm", lambda: lambda *x: (calls.append(x[:2]), real(*x))[1])
    try:
        cr.set_num_threads(2)
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))  # a hold under a setting that then changes
        cr.set_num_threads(2)
        assert not onednn.holds_threads()
        for x, y in [(a[:64, :64], b[:64]), (a.astype(np.float64), b.astype(np.float64))]:
            ArrayMath.matmul(x, y)
        assert calls == [] and not onednn.holds_threads()
        np.testing.assert_array_equal(ArrayMath.matmul(a, b), np.full((256, 64), 128, np.float32))
        assert onednn.holds_threads() and len(calls) == 1
        cr.set_num_threads(1)
        ArrayMath.matmul(a, b)
        assert not onednn.holds_threads() and len(calls) == 1
        cr.set_num_threads(2)  # a new setting: BLAS has the threads again until the next primitive
        assert not onednn.holds_threads()
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        assert onednn.holds_threads()
        cr.set_num_threads(2)
        np.testing.assert_array_equal(ArrayMath.matmul(a[None], b), np.full((1, 256, 64), 128, np.float32))
        assert onednn.holds_threads() and len(calls) == 1  # (the stack: the primitive, not sgemm)
    finally:
        cr.set_num_threads(count)


def test_a_forked_child_does_not_take_the_threads_for_a_product():
    """A DataLoader worker forked before any oneDNN layer ran keeps its products with BLAS: GNU
    OpenMP must not start in a forked child."""
    import multiprocessing

    count = threads.intra_threads()
    try:
        cr.set_num_threads(2)
        assert not onednn.holds_threads()
        with multiprocessing.get_context("fork").Pool(1) as pool:
            holds, value = pool.apply_async(_child_holds).get(timeout=60)
        assert holds is False and value == 128.0
    finally:
        cr.set_num_threads(count)


def _child_holds() -> tuple:
    a, b = np.ones((256, 128), np.float32), np.ones((128, 64), np.float32)
    return onednn.holds_threads(), float(ArrayMath.matmul(a, b)[0, 0])


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_keeps_its_products_with_blas(held):
    """GNU OpenMP is not safe to start again after a fork: a DataLoader worker forked while
    oneDNN holds the threads runs its products on BLAS."""
    import multiprocessing

    assert onednn.holds_threads()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        holds, value = pool.apply_async(_child_holds).get(timeout=60)
    assert holds is False and value == 128.0


def test_a_bound_product_runs_each_step_with_fixed_arguments(held):
    """``bound``: one product's checks done once for a loop of steps a_t @ b (the LSTM's recurrent
    products); each call, given a_t's address, writes a_t @ b into ``out``; rows of a_t that lie
    apart (the LSTM's padded gate adjoints) are read where they are."""
    rng = np.random.default_rng(3)
    b = np.ascontiguousarray(rng.standard_normal((300, 256)).astype(np.float32).T)  # (256, 300)
    steps = rng.standard_normal((5, 32, 272)).astype(np.float32)[:, :, :256]  # rows 272 apart
    out = np.empty((32, 300), np.float32)
    product = gemm_onednn.bound(steps[0], b, out)
    assert product is not None
    for t in range(5):
        product(steps[t].ctypes.data)
        np.testing.assert_allclose(out, steps[t].astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert len(held) == 5 and all(c[4] == 256 for c in held)  # (m, n, k) = (32, 300, 256) each time


def test_a_bound_product_is_refused_where_sgemm_would_not_run(held):
    a, b, out = np.ones((32, 256), np.float32), np.ones((256, 300), np.float32), np.empty((32, 300), np.float32)
    assert gemm_onednn.bound(a, b, out) is not None
    assert gemm_onednn.bound(a[:, :8], b[:8], out) is None  # below the size sgemm takes
    assert gemm_onednn.bound(a.astype(np.float64), b, out) is None
    assert gemm_onednn.bound(a, b, np.empty((300, 32), np.float32).T) is None  # out not C-ordered
    assert gemm_onednn.bound(a[:, ::2], b[::2], out) is None  # a would be copied at every step
    onednn.HELD[0] = None  # (the fixture restores it)
    assert gemm_onednn.bound(a, b, out) is None  # OpenBLAS holds the threads


def test_the_threads_are_taken_again_once_the_hold_was_lost():
    """A thread that took the threads under the current setting takes them again when the hold
    was dropped meanwhile (``HELD`` is the process's, the record of having taken them the
    thread's own).  Otherwise that thread's products stayed on BLAS while every new thread's went
    to sgemm: training in threads and alone then summed differently (found by
    tests/test_grad_mode_threads.py in the whole suite)."""
    count = threads.intra_threads()
    try:
        cr.set_num_threads(2)
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        assert onednn.holds_threads()
        onednn.HELD[0] = None
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        assert onednn.holds_threads()
    finally:
        cr.set_num_threads(count)


def test_a_product_sums_the_same_before_and_after_a_convolution_ran():
    """Whether a float32 product runs on oneDNN's sgemm or on OpenBLAS must not depend on what
    the process ran before: a Linear layer's output once differed in its last bits before and
    after the first convolution took the threads."""
    count = threads.intra_threads()
    rng = np.random.default_rng(4)
    x = cr.tensor(rng.standard_normal((128, 784)).astype(np.float32))  # (K = 784: the two libraries
    w = cr.tensor(rng.standard_normal((512, 784)).astype(np.float32))  # block K apart, and sum apart)
    try:
        cr.set_num_threads(2)
        first = F.linear(x, w).numpy().copy()
        F.conv2d(cr.randn(1, 1, 5, 5), cr.randn(1, 1, 3, 3))
        np.testing.assert_array_equal(F.linear(x, w).numpy(), first)
    finally:
        cr.set_num_threads(count)
