"""erf, erfc and GELU as back-end table entries: the compiled kernel (kernels/gelu.c) against
the formula, against its NumPy twin, and with the kernels switched off (issue 13, item 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strict_backend import DEVICE, strict_backend

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import ArrayMath, native
from chainrule.backend.activation_math import gelu_backward_twin, gelu_twin
from chainrule.backend.special import erf_array, erfc_array

APPROX = ["none", "tanh"]


def _x(dtype, n=2001):
    x = np.linspace(-9.0, 9.0, n)
    return np.concatenate([x, [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0]]).astype(dtype)


def _gelu_formula(v: float, approximate: str) -> float:
    if approximate == "tanh":
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    return v * 0.5 * (1 + math.erf(v / math.sqrt(2)))


def _gelu_derivative(v: float, approximate: str) -> float:
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)
        t = math.tanh(u)
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * v * v)
    return 0.5 * (1 + math.erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request, monkeypatch):
    """Run a test with the compiled kernels on (where a compiler exists) and switched off."""
    if request.param == "numpy":
        monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    native.reset()
    yield request.param
    native.reset()


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-15), (np.float32, 3e-7)])
def test_erf_and_erfc_entries_against_the_c_library(kernels, dtype, tol):
    x = _x(dtype)
    want_erf = np.array([math.erf(float(v)) for v in x])
    want_erfc = np.array([math.erfc(float(v)) for v in x])
    got_erf, got_erfc = ArrayMath.erf(x), ArrayMath.erfc(x)
    assert got_erf.dtype == dtype and got_erfc.dtype == dtype
    np.testing.assert_allclose(got_erf, want_erf, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_erfc, want_erfc, rtol=20 * tol, atol=1e-300)


@pytest.mark.parametrize("approximate", APPROX)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_gelu_entries_against_the_formula(kernels, approximate, dtype, tol):
    x = _x(dtype)
    g = np.cos(np.arange(x.size)).astype(dtype)
    y = ArrayMath.gelu(x, approximate)
    dx = ArrayMath.gelu_backward(g, x, approximate)
    assert y.dtype == dtype and dx.dtype == dtype and y.shape == x.shape
    want_y = np.array([_gelu_formula(float(v), approximate) for v in x])
    want_dx = np.array([gv * _gelu_derivative(float(v), approximate) for v, gv in zip(x, g.astype(np.float64))])
    np.testing.assert_allclose(y, want_y, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("approximate", APPROX)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_kernel_equals_its_numpy_twin(approximate, dtype, rtol):
    native.reset()
    if native.load("gelu") is None:
        pytest.skip(f"no compiled kernel here: {native.status('gelu')}")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((37, 53)) * 3).astype(dtype)
    g = rng.standard_normal((37, 53)).astype(dtype)
    # the tanh form cancels in 1 + tanh u for x << 0: a few ulps of tanh (libmvec's against
    # NumPy's) become |x|/2 · ulp(1) · a few in y, so the float32 floor is absolute
    atol = 8 * float(np.abs(x).max()) * float(np.finfo(dtype).eps) if approximate == "tanh" else rtol
    np.testing.assert_allclose(ArrayMath.gelu(x, approximate), gelu_twin(x, approximate), rtol=rtol, atol=atol)
    np.testing.assert_allclose(
        ArrayMath.gelu_backward(g, x, approximate), gelu_backward_twin(g, x, approximate), rtol=rtol, atol=atol
    )
    np.testing.assert_allclose(ArrayMath.erf(x), erf_array(x), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ArrayMath.erfc(x), erfc_array(x), rtol=rtol, atol=1e-300)


def test_layouts_nan_and_empty(kernels):
    x = np.arange(12.0).reshape(3, 4).T - 5.5  # not contiguous
    np.testing.assert_allclose(ArrayMath.gelu(x), gelu_twin(np.ascontiguousarray(x)), rtol=1e-14)
    assert np.isnan(ArrayMath.gelu(np.array([np.nan, 1.0]))[0])
    assert np.isnan(ArrayMath.gelu_backward(np.ones(2), np.array([np.nan, 1.0]))[0])
    assert ArrayMath.gelu(np.zeros((0, 3), np.float32)).shape == (0, 3)


@pytest.mark.parametrize("approximate", APPROX)
def test_gelu_gradcheck_and_gradgradcheck(kernels, approximate):
    x = cr.tensor(np.linspace(-3, 3, 11), dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))
    assert gradgradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))


@pytest.mark.parametrize("approximate", APPROX)
def test_gelu_forward_and_reverse_mode_give_the_derivative(approximate):
    """Both modes against GELU'(x) written out with math.erf / math.tanh (not against each other:
    on arrays both call the same backward entry)."""
    from chainrule.autograd import forward_ad as fwAD

    x = cr.tensor(np.linspace(-3, 3, 7))
    dx = cr.tensor(np.linspace(0.5, 1.5, 7))
    want = [d * _gelu_derivative(float(v), approximate) for v, d in zip(x.numpy(), dx.numpy())]
    with fwAD.dual_level():
        t = fwAD.unpack_dual(F.gelu(fwAD.make_dual(x, dx), approximate=approximate)).tangent
    xr = x.detach().requires_grad_(True)
    F.gelu(xr, approximate=approximate).backward(dx)
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(xr.grad.numpy(), want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("approximate", APPROX)
def test_gelu_on_the_strict_back_end(approximate):
    x = cr.tensor(np.linspace(-3, 3, 9), requires_grad=True)
    F.gelu(x, approximate=approximate).sum().backward()
    with strict_backend():
        s = x.detach().to("strict").requires_grad_(True)
        y = F.gelu(s, approximate=approximate)
        y.sum().backward()
        assert y.device == DEVICE
        np.testing.assert_allclose(s.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("approximate", APPROX)
def test_gelu_against_pytorch(approximate):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xa = (rng.standard_normal((64, 33)) * 2).astype(np.float32)
    x = cr.tensor(xa, requires_grad=True)
    t = torch.tensor(xa, requires_grad=True)
    F.gelu(x, approximate=approximate).sum().backward()
    torch.nn.functional.gelu(t, approximate=approximate).sum().backward()
    atol = 8 * float(np.abs(xa).max()) * 1.2e-7  # the tanh form's cancellation for x << 0 (see above)
    np.testing.assert_allclose(F.gelu(x.detach(), approximate=approximate).numpy(),
                               torch.nn.functional.gelu(t.detach(), approximate=approximate).numpy(),
                               rtol=1e-6, atol=atol)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=max(1e-6, 2 * atol))


@pytest.mark.parametrize("approximate", APPROX)
def test_threads_change_no_bit(monkeypatch, approximate):
    """From _THREADED_MIN elements a call is cut into element ranges on several threads; every
    element is computed alone, so 1, 2 and 3 threads give the same bits (odd sizes: uneven cuts)."""
    from chainrule.backend import activation_math, threads

    if native.load("gelu") is None:
        pytest.skip(native.status("gelu"))
    x = np.random.default_rng(0).standard_normal(10_007).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(10_007).astype(np.float32)
    monkeypatch.setattr(activation_math, "_THREADED_MIN", 1)
    calls = []
    run = threads.run_ranges
    monkeypatch.setattr(threads, "run_ranges", lambda k, total, n, step=1: (calls.append(n), run(k, total, n, step)))
    results = []
    for n in (1, 2, 3):
        monkeypatch.setattr(threads, "intra_threads", lambda n=n: n)
        results.append((ArrayMath.gelu(x, approximate), ArrayMath.gelu_backward(g, x, approximate), ArrayMath.erf(x)))
    assert calls == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)
