"""Max pooling's compiled kernels (backend/window_math.py, kernels/max_pool.c: 2 × 2 windows
at stride 2, and any other window) against their NumPy twin (the pooling op's own code,
ops/window.py): the forward's maxima and argmaxes bit for bit (ties, NaN, -inf, -0), the
backward's values, for rows that take each of the kernels' loops, odd sizes, padding,
dilation, ceil_mode, any layout, 1-D, any number of threads; where the twin still runs;
PyTorch as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.backend import ArrayMath, native, window_math


@pytest.fixture(autouse=True)
def _needs_the_kernel():
    if native.load("max_pool") is None:
        pytest.skip(native.status("max_pool"))


def _twin(monkeypatch):
    monkeypatch.setattr(ArrayMath, "max_pool_kernel", staticmethod(lambda *a: None))
    monkeypatch.setattr(ArrayMath, "max_pool_backward_kernel", staticmethod(lambda *a: None))


def _spy(monkeypatch):
    calls = []
    real = ArrayMath.max_pool_kernel

    def spy(*a):
        out = real(*a)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(ArrayMath, "max_pool_kernel", staticmethod(spy))
    return calls


def _pool(x, grad_seed=1, **kw):
    """(y, indices, dx) of max_pool2d(x, **kw) with a random output gradient."""
    t = cr.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(t, return_indices=True, **kw)
    g = np.random.default_rng(grad_seed).standard_normal(y.shape).astype(x.dtype)
    y.backward(cr.tensor(g))
    return y.detach().numpy(), idx.numpy(), t.grad.numpy()


def _input(rng, shape, dtype, kind):
    if kind == "ties":  # few distinct values: many ties, the first in window order must win
        return rng.integers(0, 3, shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if kind == "special":
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 9, replace=False)] = np.nan
        flat[rng.choice(flat.size, 9, replace=False)] = -np.inf
        flat[rng.choice(flat.size, 9, replace=False)] = -0.0
        flat[rng.choice(flat.size, 9, replace=False)] = 0.0
    return x


# rows of 8 (one chunk), 15 (two overlapping chunks), 16 and 20 (the row loop, with a
# remainder) outputs; odd H and W (a row and a column no window reads); rows of fewer than 8
# (LeNet's 5 x 5 planes: chunks across rows, the last overlapping; 7 x 3 and 4 x 1; a plane of
# fewer than 8 outputs, one by one)
SHAPES = [(2, 3, 10, 16), (1, 2, 9, 31), (2, 2, 4, 32), (1, 3, 7, 41),
          (2, 3, 10, 10), (1, 2, 15, 7), (2, 2, 8, 3), (1, 2, 4, 6)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "ties", "special"])
def test_kernel_gives_the_twins_forward_bits_and_backward_values(shape, dtype, kind, monkeypatch):
    x = _input(np.random.default_rng(0), shape, dtype, kind)
    calls = _spy(monkeypatch)
    fast = _pool(x, kernel_size=2)
    assert calls == [True]
    with monkeypatch.context() as mp:
        _twin(mp)
        slow = _pool(x, kernel_size=2)
    for a, b in zip(fast[:2], slow[:2]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))  # (bits: -0 and NaN too)
    np.testing.assert_array_equal(fast[2], slow[2])  # (values: the twin's product may give -0)
    assert not np.signbit(fast[2][fast[2] == 0]).any()  # the kernel: +0 where nothing arrives


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_maxima_alone_without_a_gradient(kw, monkeypatch):
    """Under no_grad the kernels keep no argmaxes (the op's argk is None) and give the same maxima."""
    from chainrule.ops import window

    x = _input(np.random.default_rng(1), (2, 3, 8, 24), np.float32, "special")
    calls = _spy(monkeypatch)
    with cr.no_grad():
        y = F.max_pool2d(cr.tensor(x), **kw).numpy()
        k, s, p = (kw["kernel_size"],) * 2, (kw.get("stride", 2),) * 2, kw.get("padding", 0)
        _, op = window.max_pool_nd(cr.tensor(x), k, s, (1, 1), ((p, p), (p, p)), keep_argmax=False)
    assert calls == [True, True] and op.argk is None
    np.testing.assert_array_equal(y.view(np.uint8), _pool(x, **kw)[0].view(np.uint8))


ANY_WINDOW = [
    (dict(kernel_size=3, stride=2, padding=1), (2, 3, 12, 20)),  # ResNet's stem pooling
    (dict(kernel_size=3, stride=1, padding=1), (1, 2, 7, 9)),
    (dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), (1, 3, 9, 8)),
    (dict(kernel_size=3, stride=2, dilation=2, padding=1), (1, 2, 11, 13)),
    (dict(kernel_size=3, stride=2, ceil_mode=True), (2, 2, 9, 10)),
    (dict(kernel_size=2, padding=1), (1, 2, 8, 20)),
    (dict(kernel_size=1, stride=2), (1, 2, 5, 6)),
]


@pytest.mark.parametrize("kw, shape", ANY_WINDOW)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["plain", "ties", "special"])
def test_any_window_gives_the_twins_forward_bits_and_backward_values(kw, shape, dtype, kind, monkeypatch):
    x = _input(np.random.default_rng(7), shape, dtype, kind)
    calls = _spy(monkeypatch)
    fast = _pool(x, **kw)
    assert calls == [True]
    with monkeypatch.context() as mp:
        _twin(mp)
        slow = _pool(x, **kw)
    for a, b in zip(fast[:2], slow[:2]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    # an input that is the maximum of three or more windows: the twin adds offset by offset,
    # the kernel output by output (PyTorch's order), so the sum may round differently
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(fast[2], slow[2], rtol=tol, atol=tol)


@pytest.mark.parametrize("d", [1, 2])
def test_any_window_in_any_layout_and_1d(d, monkeypatch):
    rng = np.random.default_rng(8)
    if d == 2:
        base = rng.standard_normal((2, 4, 9, 11)).astype(np.float32)
        leaf = cr.tensor(np.ascontiguousarray(base.transpose(0, 2, 3, 1)), requires_grad=True)
        x = leaf.permute(0, 3, 1, 2)  # channels last
        pool = lambda t: F.max_pool2d(t, 3, stride=2, padding=1)  # noqa: E731
    else:
        base = rng.standard_normal((3, 4, 17)).astype(np.float32)
        leaf = cr.tensor(np.ascontiguousarray(base.transpose(0, 2, 1)), requires_grad=True)
        x = leaf.permute(0, 2, 1)
        pool = lambda t: F.max_pool1d(t, 3, stride=2, padding=1)  # noqa: E731
    calls = _spy(monkeypatch)
    y = pool(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(cr.tensor(g))
    assert calls == [True]
    with monkeypatch.context() as mp:
        _twin(mp)
        t = cr.tensor(base, requires_grad=True)
        y2 = pool(t)
        y2.backward(cr.tensor(g))
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())
    back = leaf.grad.numpy().transpose(0, 3, 1, 2) if d == 2 else leaf.grad.numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(back, t.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw, shape", [
    (dict(kernel_size=12), (1, 1, 24, 24)),  # 144 offsets: more than an int8 argmax holds
])
def test_where_the_twin_runs(kw, shape, monkeypatch):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    calls = _spy(monkeypatch)
    _pool(x, **kw)
    assert calls == [False]


def test_a_strided_input_runs_the_twin_with_the_same_values(monkeypatch):
    base = np.random.default_rng(3).standard_normal((2, 4, 8, 16)).astype(np.float32)
    leaf = cr.tensor(np.ascontiguousarray(base.transpose(0, 2, 3, 1)), requires_grad=True)  # (N, H, W, C)
    x = leaf.permute(0, 3, 1, 2)  # channels last: not contiguous
    assert not x._array.flags.c_contiguous
    calls = _spy(monkeypatch)
    y = F.max_pool2d(x, 2)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(cr.tensor(g))
    assert calls == [False]
    t = cr.tensor(base, requires_grad=True)
    y2 = F.max_pool2d(t, 2)
    y2.backward(cr.tensor(g))
    assert calls == [False, True]
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())
    np.testing.assert_array_equal(leaf.grad.numpy().transpose(0, 3, 1, 2), t.grad.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_planes_on_threads_give_the_same_bits(three_threads, kw):
    """The (N·C) planes are cut into ranges on several threads (forced here: 3 threads over 7
    planes): the same bits as one call, forward and backward."""
    x = _input(np.random.default_rng(4), (1, 7, 11, 18), np.float32, "special")
    one = _pool(x, **kw)
    calls = three_threads(window_math)
    three = _pool(x, **kw)
    assert calls == [7, 7]
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def test_gradient_at_the_argmax_only_even_for_inf():
    """dx = g at each window's first maximum and +0 elsewhere, an inf in g included (as PyTorch)."""
    x = np.arange(64, dtype=np.float64).reshape(1, 1, 4, 16)  # each window's maximum: its last element
    t = cr.tensor(x, requires_grad=True)
    y = F.max_pool2d(t, 2)
    g = np.ones(y.shape)
    g[0, 0, 0, 0] = np.inf
    y.backward(cr.tensor(g))
    want = np.zeros_like(x)
    want[0, 0, 1::2, 1::2] = 1.0
    want[0, 0, 1, 1] = np.inf
    np.testing.assert_array_equal(t.grad.numpy(), want)


def test_gradcheck_through_the_kernel(monkeypatch):
    from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

    x = np.random.default_rng(5).permutation(2 * 3 * 4 * 16).reshape(2, 3, 4, 16) / 7.0  # no ties
    calls = _spy(monkeypatch)
    t = cr.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: F.max_pool2d(a, 2), (t,))
    assert gradgradcheck(lambda a: F.max_pool2d(a, 2), (t,))
    assert calls and all(calls)


@pytest.fixture
def torch():
    """PyTorch as oracle: the tests that take it skip where it is not installed (the others run)."""
    return pytest.importorskip("torch")


@pytest.mark.parametrize("kw, shape", ANY_WINDOW)
def test_torch_max_pool2d_any_window(kw, shape, torch):
    x = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    y, idx, dx = _pool(x, **kw)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, return_indices=True, **kw)
    ty.backward(torch.tensor(np.random.default_rng(1).standard_normal(ty.shape).astype(np.float32)))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch_max_pool2d(shape, torch):
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    y, idx, dx = _pool(x, kernel_size=2)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
    ty.backward(torch.tensor(np.random.default_rng(1).standard_normal(ty.shape).astype(np.float32)))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_array_equal(dx, tx.grad.numpy())
