"""Layer norm's table entries (kernels/layer_norm.c, rows split over threads) and the
LayerNormAffine primitive: against the definition written out in float64 and against the NumPy
twins, both dtypes, with and without γ and β, odd row lengths and row counts, NaN and inf rows,
empty and non-contiguous arrays (the twins' cases); threads change no bit; F.layer_norm against
PyTorch, gradcheck, gradgradcheck and forward mode in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import ArrayMath, native, norm_math
from chainrule.backend.norm_math import layer_norm_twin, layer_norm_vjp_twin
from chainrule.nn.functional.normalization import LayerNormAffine

EPS = 1e-5
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}
AFFINE = [(True, True), (True, False), (False, True), (False, False)]


def _kernel_on():
    if native.load("layer_norm") is None:
        pytest.skip(native.status("layer_norm"))


def _data(shape, k, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    ns = shape[len(shape) - k:]
    w = (rng.standard_normal(ns) + 1).astype(dtype)
    b = rng.standard_normal(ns).astype(dtype)
    return x, g, w, b


def _definition(x, w, b, g, k):
    """(y, mean, rstd, gx, gw, gb) in float64, written out from the formulas (w, b may be None)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    d = int(np.prod(x.shape[x.ndim - k:]))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(var + EPS)
    xhat = (x - mean) * rstd
    wf = np.ones(x.shape[x.ndim - k:]) if w is None else w.astype(np.float64)
    bf = 0.0 if b is None else b.astype(np.float64)
    y = xhat * wf + bf
    gg = g * wf
    gx = rstd * (gg - gg.sum(axis=axes, keepdims=True) / d - xhat * (gg * xhat).sum(axis=axes, keepdims=True) / d)
    return y, mean, rstd, gx, (g * xhat).sum(axis=lead), g.sum(axis=lead)


# rows of 128 (the transformer's), of 17 and 40 (the partial-sum lanes' tail), of 3 and 1 (shorter
# than the lanes), 13 rows (not a multiple of the row group), two normalised axes, one row alone
CASES = [((16, 8, 128), 1), ((13, 17), 1), ((5, 40), 1), ((7, 3), 1), ((4, 1), 1), ((3, 4, 6), 2), ((9,), 1),
         ((70, 5), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k", CASES)
@pytest.mark.parametrize("affine", AFFINE)
def test_kernel_is_the_definition_and_agrees_with_its_twin(shape, k, dtype, affine):
    tol = TOL[dtype]
    x, g, w, b = _data(shape, k, dtype, seed=len(shape) * 10 + shape[-1])
    w = w if affine[0] else None
    b = b if affine[1] else None
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, k, EPS)
    want = _definition(x, w, b, g, k)
    assert y.dtype == mean.dtype == rstd.dtype == dtype and y.shape == x.shape
    for got, ref in zip((y, mean, rstd), want[:3]):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, **tol)
    twin = layer_norm_twin(x, w, b, k, EPS)
    for got, ref in zip((y, mean, rstd), twin):
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, **tol)
    for need in [(True, True, True), (True, False, False), (False, True, True), (False, True, False)]:
        nw, nb = need[1] and w is not None, need[2] and b is not None
        got = ArrayMath.layer_norm_vjp(g, x, mean, rstd, w, k, need[0], nw, nb)
        tw = layer_norm_vjp_twin(g, x, mean, rstd, w, k, need[0], nw, nb)
        for on, a, ref, t in zip((need[0], nw, nb), got, want[3:], tw):
            if not on:
                assert a is None and t is None
                continue
            assert a.dtype == dtype and a.shape == ref.shape == t.shape
            np.testing.assert_allclose(a, ref, **tol)
            np.testing.assert_allclose(a, t, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernel_not_the_twin_runs_on_contiguous_rows(monkeypatch, dtype):
    _kernel_on()

    def refuse(*args):
        raise AssertionError("the twin ran")

    monkeypatch.setattr(norm_math, "layer_norm_twin", refuse)
    monkeypatch.setattr(norm_math, "layer_norm_vjp_twin", refuse)
    x, g, w, b = _data((6, 10), 1, dtype, seed=1)
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
    gx, gw, gb = ArrayMath.layer_norm_vjp(g, x, mean, rstd, w, 1, True, True, True)
    want = _definition(x, w, b, g, 1)
    np.testing.assert_allclose(gx, want[3], **TOL[dtype])


def test_the_elementwise_steps_are_the_twins():
    """Given its μ and s, the kernel's y is bit for bit NumPy's element-wise steps in x's dtype,
    in the twin's order ((x - μ) s γ + β): only the sums differ from the twin."""
    x, _, w, b = _data((64, 32), 1, np.float32, seed=2)
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
    ref = (x - mean) * rstd * w + b  # NumPy, float32, the kernel's μ and s
    np.testing.assert_array_equal(y, ref)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (the twins' NumPy warns of inf - inf)
def test_nan_and_inf_rows():
    for dtype in (np.float32, np.float64):
        x, g, w, b = _data((5, 20), 1, dtype, seed=3)
        x[1, 3] = np.nan
        x[3, 0] = np.inf
        y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
        for r in (1, 3):
            assert np.isnan(y[r]).all()  # NaN spreads over its row; inf gives inf - inf
        ok = [0, 2, 4]
        np.testing.assert_allclose(y[ok], _definition(x[ok], w, b, g[ok], 1)[0], **TOL[dtype])
        tw = layer_norm_twin(x, w, b, 1, EPS)
        np.testing.assert_allclose(y, tw[0], **TOL[dtype])  # (NaN where the twin has NaN)
        gx, gw, gb = ArrayMath.layer_norm_vjp(g, x, mean, rstd, w, 1, True, True, True)
        assert np.isnan(gx[1]).all() and np.isfinite(gx[ok]).all()
        assert np.isnan(gw).all()  # the NaN rows reach every column's Σ g ẑ
        np.testing.assert_allclose(gb, g.sum(axis=0), **TOL[dtype])  # Σ g does not read x


def test_empty_arrays_take_the_twins():
    x = np.zeros((0, 4), np.float32)
    w, b = np.ones(4, np.float32), np.zeros(4, np.float32)
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
    assert y.shape == (0, 4) and mean.shape == rstd.shape == (0, 1)
    gx, gw, gb = ArrayMath.layer_norm_vjp(x, x, mean, rstd, w, 1, True, True, True)
    assert gx.shape == (0, 4)
    np.testing.assert_array_equal(gw, np.zeros(4))
    np.testing.assert_array_equal(gb, np.zeros(4))


def test_non_contiguous_input_and_gradient():
    """A transposed input takes the twin; strided parameters and a transposed or broadcast
    gradient are copied for the kernel."""
    rng = np.random.default_rng(4)
    xt = rng.standard_normal((12, 9)).T  # (9, 12), rows not contiguous
    w, b = rng.standard_normal(12), rng.standard_normal(12)
    g = rng.standard_normal((12, 9)).T
    y, mean, rstd = ArrayMath.layer_norm(xt, w, b, 1, EPS)
    want = _definition(xt, w, b, g, 1)
    np.testing.assert_allclose(y, want[0], **TOL[np.float64])
    for got, ref in zip(ArrayMath.layer_norm_vjp(g, xt, mean, rstd, w, 1, True, True, True), want[3:]):
        np.testing.assert_allclose(got, ref, **TOL[np.float64])
    x = np.ascontiguousarray(xt)
    ws, bs = rng.standard_normal(24)[::2], rng.standard_normal(36)[::3]  # strided parameters: copied
    y, mean, rstd = ArrayMath.layer_norm(x, ws, bs, 1, EPS)
    want = _definition(x, ws, bs, g, 1)
    np.testing.assert_allclose(y, want[0], **TOL[np.float64])
    for got, ref in zip(ArrayMath.layer_norm_vjp(g, x, mean, rstd, ws, 1, True, True, True), want[3:]):
        np.testing.assert_allclose(got, ref, **TOL[np.float64])
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
    for gg in (g, np.broadcast_to(rng.standard_normal(12), x.shape)):
        want = _definition(x, w, b, gg, 1)
        for got, ref in zip(ArrayMath.layer_norm_vjp(gg, x, mean, rstd, w, 1, True, True, True), want[3:]):
            np.testing.assert_allclose(got, ref, **TOL[np.float64])


def test_other_dtypes_take_the_twins():
    x, g, w, b = _data((4, 6), 1, np.float16, seed=5)
    y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, _definition(x, w, b, g, 1)[0], rtol=1e-2, atol=1e-2)
    x32 = x.astype(np.float32)  # float32 input, float64 parameters: no kernel
    y, *_ = ArrayMath.layer_norm(x32, w.astype(np.float64), b.astype(np.float64), 1, EPS)
    np.testing.assert_allclose(y, _definition(x32, w, b, g, 1)[0], rtol=1e-5, atol=1e-5)


def test_threads_change_nothing(three_threads):
    _kernel_on()
    x, g, w, b = _data((100, 24), 1, np.float32, seed=6)

    def run():
        y, mean, rstd = ArrayMath.layer_norm(x, w, b, 1, EPS)
        return (y.copy(), mean, rstd) + tuple(
            a.copy() for a in ArrayMath.layer_norm_vjp(g, x, mean, rstd, w, 1, True, True, True))

    one = run()
    calls = three_threads(norm_math)
    three = run()
    assert calls == [100, norm_math._LN_BLOCKS]  # (the rows, then the row blocks, split into ranges)
    for a, b_ in zip(one, three):
        np.testing.assert_array_equal(a, b_)


# ------------------------------------------------------------------------ the primitive
def _tensors(shape, k, affine, dtype, seed):
    x, g, w, b = _data(shape, k, dtype, seed)
    return (cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True) if affine[0] else None,
            cr.tensor(b, requires_grad=True) if affine[1] else None, g)


@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_against_pytorch(affine, dtype):
    torch = pytest.importorskip("torch")
    for shape, ns in (((4, 8, 33), (33,)), ((3, 5, 6), (5, 6))):
        x, w, b, g = _tensors(shape, len(ns), affine, dtype, seed=7)
        y = F.layer_norm(x, ns, w, b)
        assert isinstance(y._op, LayerNormAffine)  # (the one primitive, not the composition)
        y.backward(cr.tensor(g))
        tx = torch.tensor(x.detach().numpy(), requires_grad=True)
        tw = None if w is None else torch.tensor(w.detach().numpy(), requires_grad=True)
        tb = None if b is None else torch.tensor(b.detach().numpy(), requires_grad=True)
        ty = torch.nn.functional.layer_norm(tx, ns, tw, tb, EPS)
        ty.backward(torch.tensor(g))
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
        for ours, theirs in ((x, tx), (w, tw), (b, tb)):
            if ours is not None:
                np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)


@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("shape, ns", [((3, 7), (7,)), ((2, 3, 4), (3, 4)), ((5,), (5,))])
def test_gradcheck_gradgradcheck_and_forward_mode(affine, shape, ns):
    x, w, b, _ = _tensors(shape, len(ns), affine, np.float64, seed=8)
    args = tuple(t for t in (x, w, b) if t is not None)

    def f(*ts):
        it = iter(ts[1:])
        return F.layer_norm(ts[0], ns, next(it) if affine[0] else None, next(it) if affine[1] else None)

    assert gradcheck(f, args, check_forward_ad=True)
    assert gradgradcheck(f, args)


def test_layer_norm_module_and_bias_false():
    torch = pytest.importorskip("torch")
    x, _, _, g = _tensors((2, 5, 16), 1, (False, False), np.float32, seed=9)
    for kwargs in ({}, {"bias": False}, {"elementwise_affine": False}):
        layer = cr.nn.LayerNorm(16, **kwargs)
        tlayer = torch.nn.LayerNorm(16, **kwargs)
        if layer.weight is not None:
            layer.weight.data = cr.tensor(np.linspace(0.5, 2, 16, dtype=np.float32))
            tlayer.weight.data = torch.tensor(np.linspace(0.5, 2, 16, dtype=np.float32))
        tx = torch.tensor(x.detach().numpy())
        np.testing.assert_allclose(layer(x).detach().numpy(), tlayer(tx).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_in_place_changes_after_the_forward():
    """The vjp reads x and γ (an in-place change to either is an error) but not β or y."""
    x0, w0, b0, g = _tensors((3, 6), 1, (True, True), np.float64, seed=10)
    for edit in ("x", "w"):
        x, w, b = x0 * 1, w0 * 1, b0 * 1
        y = F.layer_norm(x, 6, w, b)
        (x if edit == "x" else w).add_(1.0)
        with pytest.raises(RuntimeError):
            y.backward(cr.tensor(g))
    x, w, b = x0 * 1, w0 * 1, b0 * 1
    y = F.layer_norm(x, 6, w, b)
    b.add_(1.0)
    y.mul_(2.0)
    y.backward(cr.tensor(g))
    want = _definition(x0.detach().numpy(), w0.detach().numpy(), b0.detach().numpy(), 2 * g, 1)
    for t, ref in zip((x0, w0, b0), want[3:]):
        np.testing.assert_allclose(t.grad.numpy(), ref, rtol=1e-11, atol=1e-11)
