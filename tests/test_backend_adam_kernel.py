"""The optimisers' one-pass table entries (Adam's moments, SGD's momentum step): the compiled
kernels (kernels/adam.c) give their NumPy twins' bits, for float32 and float64, with and without
AMSGrad / Nesterov, NaN and inf included."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.backend import ArrayMath, native
from chainrule.backend.optim_math import adam_moments_twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_kernel_gives_the_twins_bits(dtype, amsgrad):
    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(0)
    n = 5001
    g = rng.standard_normal(n).astype(dtype)
    g[7] = np.nan
    start = [rng.random(n).astype(dtype) for _ in range(3)]
    scalars = [np.array(v, dtype) for v in (0.9, 0.1, 0.999, 1e-3, 3.3e-4, 1e-8 * 0.7)]
    results = []
    for fn in (ArrayMath.adam_moments, adam_moments_twin):
        ma, s, smax = (a.copy() for a in start)
        t = np.empty(n, dtype)
        fn(g, ma, s, smax if amsgrad else None, t, *scalars)
        results.append((ma, s, smax, t))
    for a, b in zip(*results):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.isnan(results[0][3][7]) and not np.isnan(results[0][3][8])


def test_strided_arrays_take_the_twin():
    g = np.arange(8, dtype=np.float32)[::2]
    ma, s = np.zeros(4, np.float32), np.zeros(4, np.float32)
    t = np.empty(4, np.float32)
    one = np.array(0.5, np.float32)
    ArrayMath.adam_moments(g, ma, s, None, t, one, one, one, one, one, one)
    np.testing.assert_array_equal(ma, g * np.float32(0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_kernel_gives_the_twins_bits(dtype, nesterov):
    from chainrule.backend.optim_math import sgd_momentum_twin

    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(1)
    n = 5001
    g = rng.standard_normal(n).astype(dtype)
    g[3] = np.inf
    w0, v0 = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    mu, lr = np.array(0.9, dtype), np.array(0.01, dtype)
    results = []
    for fn in (ArrayMath.sgd_momentum, sgd_momentum_twin):
        w, v = w0.copy(), v0.copy()
        fn(w, g, v, np.empty(n, dtype), mu, lr, nesterov)
        results.append((w, v))
    for a, b in zip(*results):
        assert np.array_equal(a, b, equal_nan=True)
    assert not np.array_equal(results[0][0], w0)


def test_the_twins_follow_the_notes_formulas():
    """Adam (notes 004): M ← β1 M + (1 − β1) g, S ← β2 S + (1 − β2) g², step α M̂ / (√Ŝ + ε) with
    the bias corrections folded into ``step_size`` and ``eps_c``; SGD with momentum:
    v ← μ v + g, w ← w − α v (Nesterov: w ← w − α (μ v + g)).  Written out in float64, the
    float32 entries agree to float32 rounding."""
    rng = np.random.default_rng(2)
    n = 5001
    g, m0, s0, w0, v0 = (rng.standard_normal(n) for _ in range(5))
    s0 = np.abs(s0)
    b1, b2, step_size, eps_c = 0.9, 0.999, 3.3e-4, 7e-9
    ma, s, t = (a.astype(np.float32) for a in (m0, s0, np.empty(n)))
    f32 = [np.array(v, np.float32) for v in (b1, 1 - b1, b2, 1 - b2, step_size, eps_c)]
    ArrayMath.adam_moments(g.astype(np.float32), ma, s, None, t, *f32)
    m_want = b1 * m0 + (1 - b1) * g
    s_want = b2 * s0 + (1 - b2) * g * g
    np.testing.assert_allclose(ma, m_want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, s_want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t, m_want / (np.sqrt(s_want) + eps_c) * step_size, rtol=1e-4, atol=1e-9)
    for nesterov in (False, True):
        w, v = w0.astype(np.float32), v0.astype(np.float32)
        mu, lr = 0.9, 0.01
        ArrayMath.sgd_momentum(w, g.astype(np.float32), v, np.empty(n, np.float32), np.array(mu, np.float32),
                               np.array(lr, np.float32), nesterov)
        v_want = mu * v0 + g
        np.testing.assert_allclose(v, v_want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(w, w0 - lr * (mu * v_want + g if nesterov else v_want), rtol=1e-5, atol=1e-6)


def test_threaded_ranges_give_the_same_bits(three_threads):
    """Big updates are cut into element ranges run on several threads: the same bits as one call
    (the ranges here are forced small and uneven: 3 threads over 5,001 elements)."""
    from chainrule.backend import optim_math

    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(5)
    n = 5001
    g = rng.standard_normal(n).astype(np.float32)
    start = [rng.random(n).astype(np.float32) for _ in range(3)]
    scalars = [np.array(v, np.float32) for v in (0.9, 0.1, 0.999, 1e-3, 3.3e-4, 1e-8)]

    def run():
        ma, s, w = (a.copy() for a in start)
        t = np.empty(n, np.float32)
        ArrayMath.adam_moments(g, ma, s, None, t, *scalars)
        ArrayMath.sgd_momentum(w, g, s, t.copy(), np.float32(0.9), np.float32(0.01), True)
        return ma, s, t, w

    one = run()
    calls = three_threads(optim_math)
    three = run()
    assert calls == [n, n]
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [255, 256, 1537])
def test_small_updates_give_the_twins_bits(n):
    """From 256 elements the kernel runs (its call costs less than the twin's ten NumPy calls
    there); below, the twin.  Both give the twin's bits."""
    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(n)
    g = rng.standard_normal(n).astype(np.float32)
    start = [rng.random(n).astype(np.float32) for _ in range(2)]
    scalars = [np.array(v, np.float32) for v in (0.9, 0.1, 0.999, 1e-3, 3.3e-4, 1e-8 * 0.7)]
    results = []
    for fn in (ArrayMath.adam_moments, adam_moments_twin):
        ma, s = (a.copy() for a in start)
        t = np.empty(n, np.float32)
        fn(g, ma, s, None, t, *scalars)
        results.append((ma, s, t))
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_a_repeated_call_with_the_same_arrays_updates_them_again():
    """The second call with the same five arrays reuses the first call's checks and addresses
    (optim_math._LAST); its result is still the twin's, step after step, and a call with one
    array changed takes that array."""
    if native.load("adam") is None:
        pytest.skip(native.status("adam"))
    rng = np.random.default_rng(3)
    n = 700
    sc = [np.array(v, np.float64) for v in (0.9, 0.1, 0.999, 1e-3, 1e-3, 1e-8)]
    g = rng.standard_normal(n)
    mine = [np.zeros(n), np.zeros(n), np.empty(n)]
    twin = [np.zeros(n), np.zeros(n), np.empty(n)]
    for _ in range(3):
        g[...] = rng.standard_normal(n)  # new values in the same array, as FlatAdam's gradient buffer
        ArrayMath.adam_moments(g, mine[0], mine[1], None, mine[2], *sc)
        adam_moments_twin(g, twin[0], twin[1], None, twin[2], *sc)
        for a, b in zip(mine, twin):
            assert np.array_equal(a, b)
    other_t = np.empty(n)
    ArrayMath.adam_moments(g, mine[0], mine[1], None, other_t, *sc)
    adam_moments_twin(g, twin[0], twin[1], None, twin[2], *sc)
    assert np.array_equal(other_t, twin[2]) and np.array_equal(mine[0], twin[0])


# ---- adam_segments: the moments and every parameter in one call -----------------------------------

def _segments_case(dtype, seed=0, sizes=((4, 3), (3,), (5, 2), (1,))):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s).astype(dtype) for s in sizes]
    n = sum(w.size for w in ws)
    g = rng.standard_normal(n).astype(dtype)
    start = [rng.random(n).astype(dtype) for _ in range(3)]
    return ws, g, start


def _segments_by_twin(ws, g, ma, s, smax, scalars):
    """What the entry must equal: the moments' twin into t, then w ← w − t per parameter."""
    t = np.empty_like(g)
    adam_moments_twin(g, ma, s, smax, t, *scalars)
    lo = 0
    for w in ws:
        np.subtract(w, t[lo:lo + w.size].reshape(w.shape), w)
        lo += w.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_segments_gives_the_twins_bits(dtype, amsgrad):
    ws, g, start = _segments_case(dtype)
    g[2] = np.nan  # (in the first parameter: it alone turns NaN there)
    scalars = [np.array(v, dtype) for v in (0.9, 0.1, 0.999, 1e-3, 3.3e-4, 1e-8 * 0.7)]
    mine_ws, twin_ws = [w.copy() for w in ws], [w.copy() for w in ws]
    mine, twin = [a.copy() for a in start], [a.copy() for a in start]
    for _ in range(3):  # (the second and third calls take the kept arguments)
        ArrayMath.adam_segments(g, mine[0], mine[1], mine[2] if amsgrad else None, mine_ws, *scalars)
        _segments_by_twin(twin_ws, g, twin[0], twin[1], twin[2] if amsgrad else None, scalars)
    for a, b in zip(mine_ws + mine, twin_ws + twin):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.isnan(mine_ws[0].reshape(-1)[2]) and not np.isnan(mine_ws[1]).any()


def test_adam_segments_sees_a_new_parameter_array():
    """The kept arguments are checked by identity: a parameter replaced by another array (a
    ``p.data = ...``) is written, not the old one."""
    ws, g, start = _segments_case(np.float32, seed=1)
    scalars = [np.array(v, np.float32) for v in (0.9, 0.1, 0.999, 1e-3, 1e-3, 1e-8)]
    ma, s = start[0].copy(), start[1].copy()
    ArrayMath.adam_segments(g, ma, s, None, ws, *scalars)
    old = ws[2].copy()
    ws[2] = ws[2].copy()
    before = ws[2].copy()
    want_ma, want_s = ma.copy(), s.copy()
    twin_ws = [w.copy() for w in ws]
    ArrayMath.adam_segments(g, ma, s, None, ws, *scalars)
    _segments_by_twin(twin_ws, g, want_ma, want_s, None, scalars)
    assert not np.array_equal(ws[2], before) and np.array_equal(ws[2], twin_ws[2])
    assert np.array_equal(old, before)


@pytest.mark.parametrize("layout", ["strided", "sizes"])
def test_adam_segments_falls_back_to_the_twin(layout):
    """A strided parameter goes through the moments' entry and one subtraction per parameter
    (same bits); parameters whose sizes do not add up to the flat arrays' are refused."""
    ws, g, start = _segments_case(np.float64, seed=2)
    scalars = [np.array(v, np.float64) for v in (0.9, 0.1, 0.999, 1e-3, 1e-3, 1e-8)]
    if layout == "strided":
        ws[0] = np.asfortranarray(ws[0])
        twin_ws = [w.copy() for w in ws]
        mine, twin = [a.copy() for a in start], [a.copy() for a in start]
        ArrayMath.adam_segments(g, mine[0], mine[1], None, ws, *scalars)
        _segments_by_twin(twin_ws, g, twin[0], twin[1], None, scalars)
        for a, b in zip(ws + mine[:2], twin_ws + twin[:2]):
            assert np.array_equal(a, b)
    else:
        with pytest.raises(ValueError, match="15 elements in all, the flat gradient 26"):
            ArrayMath.adam_segments(g, start[0], start[1], None, ws[:2], *scalars)
