"""Adagrad's and RMSprop's one-pass table entries (``adagrad_update``, ``rmsprop_update``): the
compiled kernels (kernels/rmsprop_adagrad.c) give their NumPy twins' bits, for float32 and
float64, centered or not, with momentum or not, NaN and inf included; arrays the kernel does not
take go to the twin; big updates cut into threaded ranges give the same bits; the entries follow
the formulas; the optimisers call them and agree with ``torch.optim``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.backend import ArrayMath, native, optim_math
from chainrule.backend.optim_math import adagrad_update_twin, rmsprop_update_twin

RMS_OPTIONS = [(False, False), (True, False), (False, True), (True, True)]  # (centered, momentum)
RMS_IDS = ["plain", "centered", "momentum", "centered-momentum"]


def _need_kernel():
    if native.load("rmsprop_adagrad") is None:
        pytest.skip(native.status("rmsprop_adagrad"))


def _rms_start(rng, n, dtype):
    """w, g, S ≥ 0.5, ḡ (small: S − ḡ² > 0, unless a test sets it otherwise), b."""
    w, g, b = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    s = (0.5 + rng.random(n)).astype(dtype)
    ga = (0.1 * rng.standard_normal(n)).astype(dtype)
    return w, g, s, ga, b


def _rms_scalars(dtype):
    return [np.array(v, dtype) for v in (1e-2, 0.99, 1 - 0.99, 1e-8, 0.9)]  # lr, α, 1 − α, ε, μ


def _copy(a):
    """A copy of ``a``, strided as ``a`` is when ``a`` is a strided 1-D view."""
    if a.flags.c_contiguous:
        return a.copy()
    out = np.zeros(2 * a.size, a.dtype)[::2]
    out[...] = a
    return out


def _run_rms(fn, start, centered, momentum, scalars):
    w, g, s, ga, b = (_copy(a) for a in start)
    fn(w, g, s, ga if centered else None, b if momentum else None, np.empty_like(w), *scalars)
    return w, s, ga, b


def _run_ada(fn, start, scalars):
    w, g, s = (_copy(a) for a in start)
    fn(w, g, s, np.empty_like(w), *scalars)
    return w, s


def _same_bits(got, want):
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("centered,momentum", RMS_OPTIONS, ids=RMS_IDS)
def test_rmsprop_kernel_gives_the_twins_bits(dtype, centered, momentum):
    _need_kernel()
    rng = np.random.default_rng(0)
    n = 5001
    w, g, s, ga, b = start = _rms_start(rng, n, dtype)
    g[7], g[8], g[9] = np.nan, np.inf, -np.inf
    s[10] = np.inf
    g[11], s[11] = 0, 0  # g / (√0 + ε) = 0
    ga[12], s[12] = 3, 1  # centered: S − ḡ² < 0, √ is NaN
    sc = _rms_scalars(dtype)
    got = _run_rms(ArrayMath.rmsprop_update, start, centered, momentum, sc)
    want = _run_rms(rmsprop_update_twin, start, centered, momentum, sc)
    _same_bits(got, want)
    assert np.isnan(got[0][7]) and not np.isnan(got[0][13])
    assert not np.array_equal(got[0], w)  # (it did update)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_kernel_gives_the_twins_bits(dtype):
    _need_kernel()
    rng = np.random.default_rng(1)
    n = 5001
    w, g, s = start = (
        rng.standard_normal(n).astype(dtype),
        rng.standard_normal(n).astype(dtype),
        rng.random(n).astype(dtype),
    )
    g[3], g[4], s[5] = np.nan, np.inf, np.inf
    g[6], s[6] = 0, 0
    sc = [np.array(v, dtype) for v in (0.05 / 1.3, 1e-10)]
    got = _run_ada(ArrayMath.adagrad_update, start, sc)
    want = _run_ada(adagrad_update_twin, start, sc)
    _same_bits(got, want)
    assert np.isnan(got[0][3]) and got[0][6] == w[6]
    assert not np.array_equal(got[0], w)


def _spy_twins(monkeypatch):
    """The twins' calls, by name, through the module the entries call them from."""
    calls = []
    for name in ("rmsprop_update_twin", "adagrad_update_twin"):
        real = getattr(optim_math, name)
        monkeypatch.setattr(optim_math, name, lambda *a, _real=real, _name=name: (calls.append(_name), _real(*a)))
    return calls


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 1537, 2047, 2048, 2049])
def test_small_and_odd_sizes_give_the_twins_bits(monkeypatch, n):
    """Below 256 elements the twin runs (below 2,048 for Adagrad and plain RMSprop, whose twins
    are short), from there the kernel (with a tail its vector loop leaves): the same bits either
    way; an empty update changes nothing and does not fail."""
    kernel = native.load("rmsprop_adagrad") is not None
    calls = _spy_twins(monkeypatch)
    rng = np.random.default_rng(n)
    start = _rms_start(rng, n, np.float32)
    sc = _rms_scalars(np.float32)
    for centered, momentum in RMS_OPTIONS:
        del calls[:]
        got = _run_rms(ArrayMath.rmsprop_update, start, centered, momentum, sc)
        short = not (centered or momentum)
        assert (calls == []) == (kernel and n >= (2048 if short else 256))
        _same_bits(got, _run_rms(rmsprop_update_twin, start, centered, momentum, sc))
    del calls[:]
    sc2 = [np.array(v, np.float32) for v in (0.01, 1e-10)]
    got = _run_ada(ArrayMath.adagrad_update, start[:3], sc2)
    assert (calls == []) == (kernel and n >= 2048)
    _same_bits(got, _run_ada(adagrad_update_twin, start[:3], sc2))


@pytest.mark.parametrize("case", ["strided", "float16", "mixed-dtypes"])
def test_arrays_the_kernel_does_not_take_go_to_the_twin(monkeypatch, case):
    """Strided views, dtypes other than float32/float64, and arrays of different dtypes take the
    twin (the kernel indexes one flat run of one dtype): its values, through its calls."""
    calls = _spy_twins(monkeypatch)
    rng = np.random.default_rng(4)
    n = 3000
    w, g, s, ga, b = (rng.standard_normal(2 * n) for _ in range(5))
    s = np.abs(s)
    if case == "strided":
        w, g, s, ga, b = (a.astype(np.float32)[::2] for a in (w, g, s, ga, b))
    elif case == "float16":
        w, g, s, ga, b = (a[:n].astype(np.float16) for a in (w, g, s, ga, b))
    else:
        w, s, ga, b = (a[:n].astype(np.float32) for a in (w, s, ga, b))
        g = g[:n]  # float64
    dt = w.dtype
    sc = _rms_scalars(dt)
    start = (w, g, s, ga, b)
    assert not all(a.flags.c_contiguous for a in start) if case == "strided" else True
    got = _run_rms(ArrayMath.rmsprop_update, start, True, True, sc)
    assert calls == ["rmsprop_update_twin"]
    want = _run_rms(rmsprop_update_twin, start, True, True, sc)
    _same_bits(got, want)
    got = _run_ada(ArrayMath.adagrad_update, start[:3], sc[:2])
    assert calls[-1] == "adagrad_update_twin"
    _same_bits(got, _run_ada(adagrad_update_twin, start[:3], sc[:2]))


def test_forced_uneven_threaded_ranges_give_the_same_bits(three_threads):
    """Ranges run on threads give one call's bits (forced: 3 threads over 5,001 elements)."""
    _need_kernel()
    rng = np.random.default_rng(5)
    n = 5001
    start = _rms_start(rng, n, np.float32)
    sc = _rms_scalars(np.float32)
    sc2 = [np.array(v, np.float32) for v in (0.01, 1e-10)]

    def run():
        return (
            [_run_rms(ArrayMath.rmsprop_update, start, c, m, sc) for c, m in RMS_OPTIONS],
            _run_ada(ArrayMath.adagrad_update, start[:3], sc2),
        )

    one = run()
    calls = three_threads(optim_math)
    three = run()
    assert calls == [n] * 5
    for a, b in zip(one[0] + [one[1]], three[0] + [three[1]]):
        _same_bits(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_of_more_than_a_million_elements_are_threaded_with_the_twins_bits(monkeypatch, dtype):
    """From ``_THREADED_MIN`` (2^20) elements the update is cut into ranges on intra_threads()
    threads (here at least 2): the twin's bits."""
    _need_kernel()
    from chainrule.backend import threads

    monkeypatch.setattr(threads, "intra_threads", lambda: 2)
    calls = []
    real = threads.run_ranges
    monkeypatch.setattr(threads, "run_ranges", lambda k, total, n: (calls.append((total, n)), real(k, total, n)))
    rng = np.random.default_rng(6)
    n = (1 << 20) + 7
    start = _rms_start(rng, n, dtype)
    sc = _rms_scalars(dtype)
    _same_bits(
        _run_rms(ArrayMath.rmsprop_update, start, True, True, sc), _run_rms(rmsprop_update_twin, start, True, True, sc)
    )
    sc2 = [np.array(v, dtype) for v in (0.01, 1e-10)]
    _same_bits(_run_ada(ArrayMath.adagrad_update, start[:3], sc2), _run_ada(adagrad_update_twin, start[:3], sc2))
    assert calls == [(n, 2), (n, 2)]


@pytest.mark.parametrize("centered,momentum", RMS_OPTIONS, ids=RMS_IDS)
def test_rmsprop_entry_follows_the_formula_for_a_few_steps(centered, momentum):
    """RMSprop (notes 004, PyTorch's form with α the weight of the old average), written out in
    float64 for 4 steps with new gradients each step."""
    rng = np.random.default_rng(7)
    n = 3000
    lr, alpha, eps, mu = 0.01, 0.9, 1e-8, 0.8
    w0 = rng.standard_normal(n)
    w, s, ga, b = w0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    ww, ss, gg, bb = w0.copy(), np.zeros(n), np.zeros(n), np.zeros(n)
    sc = [np.array(v) for v in (lr, alpha, 1 - alpha, eps, mu)]
    for _ in range(4):
        g = rng.standard_normal(n)
        ArrayMath.rmsprop_update(w, g, s, ga if centered else None, b if momentum else None, np.empty(n), *sc)
        ss = alpha * ss + (1 - alpha) * g**2
        if centered:
            gg = alpha * gg + (1 - alpha) * g
            d = np.sqrt(ss - gg**2) + eps
        else:
            d = np.sqrt(ss) + eps
        if momentum:
            bb = mu * bb + g / d
            ww = ww - lr * bb
        else:
            ww = ww - lr * g / d
    np.testing.assert_allclose(s, ss, rtol=1e-13)
    np.testing.assert_allclose(w, ww, rtol=1e-12, atol=1e-14)
    if centered:
        np.testing.assert_allclose(ga, gg, rtol=1e-13, atol=1e-16)
    if momentum:
        np.testing.assert_allclose(b, bb, rtol=1e-12, atol=1e-14)
    assert not np.allclose(w, w0)


def test_adagrad_entry_follows_the_formula_for_a_few_steps():
    """Adagrad (notes 000): S ← S + g², w ← w − α_t g / (√S + ε), α_t = α / (1 + (t − 1) η), in
    float64 for 4 steps."""
    rng = np.random.default_rng(8)
    n = 3000
    lr, lr_decay, eps = 0.1, 0.05, 1e-10
    w0 = rng.standard_normal(n)
    w, s = w0.copy(), np.full(n, 0.1)
    ww, ss = w0.copy(), np.full(n, 0.1)
    for t in range(1, 5):
        g = rng.standard_normal(n)
        clr = lr / (1 + (t - 1) * lr_decay)
        ArrayMath.adagrad_update(w, g, s, np.empty(n), np.array(clr), np.array(eps))
        ss = ss + g * g
        ww = ww - clr * g / (np.sqrt(ss) + eps)
    np.testing.assert_allclose(s, ss, rtol=1e-14)
    np.testing.assert_allclose(w, ww, rtol=1e-12, atol=1e-14)
    assert not np.allclose(w, w0)


def test_the_optimisers_call_the_entries_once_per_parameter(monkeypatch):
    calls = []
    for name in ("rmsprop_update", "adagrad_update"):
        real = getattr(ArrayMath, name)
        monkeypatch.setattr(ArrayMath, name, staticmethod(lambda *a, _r=real, _n=name: (calls.append(_n), _r(*a))))
    ps = [cr.randn(30, 20, requires_grad=True), cr.randn(20, requires_grad=True)]
    for p in ps:
        p.grad = cr.ones_like(p)
    optim.RMSprop(ps, momentum=0.5, centered=True, weight_decay=0.1).step()
    optim.Adagrad(ps, lr_decay=0.1, maximize=True).step()
    assert calls == ["rmsprop_update"] * 2 + ["adagrad_update"] * 2


TORCH_CASES = [
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "maximize": True, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adagrad", {"lr": 0.1, "maximize": True, "eps": 1e-3}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CASES)])
def test_five_steps_match_torch_optim(name, kw, dtype):
    """A parameter big enough for the kernel of every variant, one for the centered or momentum
    ones only, and a 10-element bias for the twin; new gradients each step: the parameters and
    the state agree with PyTorch's (to float32 or float64 rounding: PyTorch's addcmul/addcdiv
    round differently)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    shapes = [(50, 60), (300,), (10,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    cs = [cr.tensor(a.copy(), requires_grad=True) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    c_opt, t_opt = getattr(optim, name)(cs, **kw), getattr(torch.optim, name)(ts, **kw)
    for _ in range(5):
        for c, t in zip(cs, ts):
            g = rng.standard_normal(c.shape).astype(dtype)
            c.grad, t.grad = cr.tensor(g.copy()), torch.from_numpy(g.copy())
        c_opt.step()
        t_opt.step()
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-11, 1e-13)
    for c, t, a in zip(cs, ts, init):
        assert c._array.dtype == np.dtype(dtype)
        np.testing.assert_allclose(c._array, t.detach().numpy(), rtol=rtol, atol=atol)
        for key, v in t_opt.state[t].items():
            if key != "step":
                np.testing.assert_allclose(c_opt.state[c][key]._array, v.numpy(), rtol=rtol, atol=atol, err_msg=key)
        assert not np.allclose(c._array, a)
