"""ReLU, leaky ReLU, ELU and dropout as back-end table entries (issue 13, item 3): the compiled
kernels (kernels/masks.c) against their NumPy twins (bits; ELU's expm1 to rounding), against
the formulas, on the ops that use them (gradcheck, gradgradcheck, forward mode, create_graph,
the strict back end, the compiled mode), with the kernels switched off, and against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from strict_backend import DEVICE, strict_backend

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd import forward_ad as fwAD
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend import ArrayMath, mask_math, native, threads

DTYPES = [np.float32, np.float64]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45, 50.0, -50.0, 200.0, -200.0]


def _masks_kernel_or_skip():
    native.reset()
    if native.load("masks") is None:
        pytest.skip(f"no compiled kernel here: {native.status('masks')}")


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request, monkeypatch, two_threads):
    """The kernels on for every size (and threaded from 64 elements), or switched off: the ops'
    tests below then run through the kernel even on their small inputs."""
    if request.param == "numpy":
        monkeypatch.setenv("CHAINRULE_NATIVE", "0")
    else:
        monkeypatch.setattr(mask_math, "_SIZES", {name: (1, 64) for name in mask_math._SIZES})
    native.reset()
    yield request.param
    native.reset()


def _inputs(dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    x[: len(SPECIAL)] = SPECIAL
    g = rng.standard_normal(n).astype(dtype)
    g[len(SPECIAL) : len(SPECIAL) + 4] = [np.nan, np.inf, -np.inf, -0.0]  # where x is a plain number
    g[:3] = [2.0, -3.0, np.nan]  # where x is NaN, inf, -inf
    return x, g


def _entries(x, g, u, p):
    """(name, entry call, twin call) for every entry on x (and g, u)."""
    y = ArrayMath.relu(x)
    e = mask_math.elu_twin(x, 1.3)
    tw = mask_math
    return [
        ("relu", lambda: ArrayMath.relu(x), lambda: tw.relu_twin(x)),
        ("relu_backward", lambda: ArrayMath.relu_backward(g, y), lambda: tw.relu_backward_twin(g, y)),
        ("leaky_relu", lambda: ArrayMath.leaky_relu(x, 0.07), lambda: tw.leaky_relu_twin(x, 0.07)),
        (
            "leaky_relu_backward",
            lambda: ArrayMath.leaky_relu_backward(g, x, 0.07),
            lambda: tw.leaky_relu_backward_twin(g, x, 0.07),
        ),
        ("elu_backward", lambda: ArrayMath.elu_backward(g, x, e, 1.3), lambda: tw.elu_backward_twin(g, x, e, 1.3)),
        ("dropout", lambda: ArrayMath.dropout(x, u, p), lambda: tw.dropout_twin(x, u, p)),
    ]


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(np.signbit(a), np.signbit(b))  # (-0 against +0 too)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [20_011, (1 << 20) + 3])  # one call, and cut into ranges on 2 threads
def test_kernels_give_their_twins_bits(dtype, n, two_threads):
    _masks_kernel_or_skip()
    x, g = _inputs(dtype, n)
    u = np.random.default_rng(1).random(n, dtype=dtype)
    for name, entry, twin in _entries(x, g, u, 0.3):
        with np.errstate(invalid="ignore"):  # (the twins' inf · 0)
            got, want = entry(), twin()
        assert got is not None, name
        _same_bits(got, want)
    # ELU's e^x - 1 is glibc's vector expm1 in the kernel, NumPy's in the twin: to rounding
    ulp = np.finfo(dtype).eps
    got, want = ArrayMath.elu(x, 1.3), mask_math.elu_twin(x, 1.3)
    np.testing.assert_allclose(got, want, rtol=4 * ulp, atol=0)
    assert np.array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bits_do_not_depend_on_the_thread_count(dtype, monkeypatch):
    """ELU's kernel gets e^x - 1 from glibc's vector expm1 in its loop's body and the scalar one
    in the tail: ranges cut for threads must leave every element in the same part."""
    _masks_kernel_or_skip()
    x, g = _inputs(dtype, 100_003)
    monkeypatch.setattr(mask_math, "_SIZES", {name: (1, 1) for name in mask_math._SIZES})
    before = threads.intra_threads()
    try:
        results = []
        for count in (1, 2, 3, 7):
            threads.set_intra_threads(count)
            y = ArrayMath.elu(x, 1.3)
            results.append((y, ArrayMath.elu_backward(g, x, y, 1.3), ArrayMath.leaky_relu(x, 0.1)))
    finally:
        threads.set_intra_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            _same_bits(a, b)


def test_entries_take_the_kernel_on_plain_arrays(monkeypatch):
    """A float32 array of 2^20 elements must not reach a twin (so the tests above compare two
    different computations)."""
    _masks_kernel_or_skip()

    def refuse(*args):
        raise AssertionError("the twin ran")

    for name in ("relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu", "elu_backward", "dropout"):
        monkeypatch.setattr(mask_math, f"{name}_twin", refuse)
    x, g = _inputs(np.float32, 1 << 20)
    u = np.random.default_rng(1).random(x.size, dtype=np.float32)
    y = ArrayMath.relu(x)
    ArrayMath.relu_backward(g, y)
    ArrayMath.leaky_relu(x, 0.1)
    ArrayMath.leaky_relu_backward(g, x, 0.1)
    ArrayMath.elu_backward(g, x, ArrayMath.elu(x, 1.0), 1.0)
    ArrayMath.dropout(x, u, 0.5)


def test_the_ops_call_the_entries(monkeypatch):
    """F.relu, F.leaky_relu, F.elu and F.dropout go through the entries both ways (reverse and
    forward mode), so the tests of the ops below test the kernels."""
    calls = []
    for name in ("relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu", "elu_backward", "dropout"):
        real = getattr(ArrayMath, name)

        def spy(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(ArrayMath, name, staticmethod(spy))
    fns = {
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.1),
        "elu": F.elu,
        "dropout": lambda t: F.dropout(t, 0.5, training=True),
    }
    for name, fn in fns.items():
        calls.clear()
        x = cr.randn(4, 5, requires_grad=True)
        fn(x).sum().backward()
        with fwAD.dual_level():
            fn(fwAD.make_dual(x.detach(), cr.ones(4, 5)))
        backward = "dropout" if name == "dropout" else name + "_backward"
        assert calls == [name, backward, name, backward]


def _formula(name, x, g, u, p):
    """The entries' values element by element in Python floats (float64 inputs)."""
    out = []
    for xv, gv, uv in zip(x.tolist(), g.tolist(), u.tolist()):
        ev = xv if xv > 0 else 1.3 * math.expm1(min(xv, 0.0)) if not math.isnan(xv) else math.nan
        out.append(
            {
                "relu": math.nan if math.isnan(xv) else max(xv, 0.0),
                "relu_backward": gv * (1.0 if max(xv, 0.0) > 0 else 0.0),
                "leaky_relu": xv if xv > 0 else 0.07 * xv,
                "leaky_relu_backward": gv if xv > 0 else 0.07 * gv,
                "elu": ev,
                "elu_backward": gv if xv > 0 else gv * (ev + 1.3),
                "dropout": xv * (1.0 / (1.0 - p) if uv >= p else 0.0),
            }[name]
        )
    return np.array(out)


@pytest.mark.parametrize(
    "name", ["relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu", "elu_backward", "dropout"]
)
def test_entries_against_the_formula(kernels, name):
    x, g = _inputs(np.float64, 3001)
    u = np.random.default_rng(2).random(x.size)
    y, e = ArrayMath.relu(x), ArrayMath.elu(x, 1.3)
    entry = {
        "relu": lambda: y,
        "relu_backward": lambda: ArrayMath.relu_backward(g, y),
        "leaky_relu": lambda: ArrayMath.leaky_relu(x, 0.07),
        "leaky_relu_backward": lambda: ArrayMath.leaky_relu_backward(g, x, 0.07),
        "elu": lambda: e,
        "elu_backward": lambda: ArrayMath.elu_backward(g, x, e, 1.3),
        "dropout": lambda: ArrayMath.dropout(x, u, 0.25),
    }[name]
    with np.errstate(invalid="ignore"):  # (inf · 0)
        got, want = entry(), _formula(name, x, g, u, 0.25)
    assert got.dtype == np.float64 and got.shape == x.shape
    # ELU: expm1 to rounding; its backward's y + α cancels where y is near -α, so there the
    # last bit of y (glibc's expm1 against Python's) is an absolute error of about α ulp(1) |g|
    atol = 8e-16 * 1.3 * np.abs(g[np.isfinite(g)]).max() if name == "elu_backward" else 0
    np.testing.assert_allclose(got, want, rtol=1e-15 if "elu" in name else 0, atol=atol)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_relu_keeps_nan_and_integers(kernels):
    for dtype in DTYPES:
        y = ArrayMath.relu(np.array([np.nan, -1.0, 2.0, -np.inf, np.inf] * 9, dtype))
        assert y.dtype == dtype and np.isnan(y[0]) and list(y[1:5]) == [0.0, 2.0, 0.0, np.inf]
    assert ArrayMath.relu(np.array([-3, 4])).tolist() == [0, 4]  # (integers: the twin)


def test_dropout_compares_u_with_p_in_the_arrays_precision(kernels):
    """NumPy compares float32 draws with p rounded to float32 (a Python float is weak): a draw
    equal to float32(p) is kept even where p itself is a little larger, and the kernel agrees."""
    p = float(np.float32(0.3)) + 1e-12  # rounds to float32(0.3) = 0.30000001192...
    u = np.full(40, np.float32(0.3))
    u[::2] = np.nextafter(np.float32(0.3), np.float32(0))
    x = np.ones(40, np.float32)
    y = ArrayMath.dropout(x, u.astype(np.float32), p)
    scale = np.float32(1 / (1 - p))
    assert y.dtype == np.float32
    assert y[1::2].tolist() == [scale] * 20 and y[::2].tolist() == [0.0] * 20
    y64 = ArrayMath.dropout(x.astype(np.float64), u.astype(np.float64), p)  # float64: 0.3000000119 < p
    assert y64.tolist() == [0.0] * 40


@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_that_take_the_twin_or_keep_their_order(kernels, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6, 5, 7)).astype(dtype)
    g = rng.standard_normal((8, 6, 5, 7)).astype(dtype)
    # a batch-last map (the layout convolutions leave): the kernel, and the result keeps it
    xb = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    gb = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    yb = ArrayMath.leaky_relu(xb, 0.2)
    assert yb.strides == xb.strides
    _same_bits(yb, mask_math.leaky_relu_twin(x, 0.2))
    _same_bits(ArrayMath.relu_backward(gb, ArrayMath.relu(xb)), mask_math.relu_backward_twin(g, np.maximum(x, 0)))
    # the same shape in two layouts, a strided view, a broadcast g, another dtype: the twin
    _same_bits(ArrayMath.leaky_relu_backward(g, xb, 0.2), mask_math.leaky_relu_backward_twin(g, x, 0.2))
    _same_bits(ArrayMath.relu(x[:, ::2]), np.maximum(x[:, ::2], 0))
    ones = np.broadcast_to(np.ones((), dtype), x.shape)
    _same_bits(ArrayMath.relu_backward(ones, ArrayMath.relu(x)), mask_math.relu_backward_twin(ones, np.maximum(x, 0)))
    g16 = g.astype(np.float16)
    np.testing.assert_array_equal(ArrayMath.leaky_relu_backward(g16, x, 0.2), np.where(x > 0, g16, g16 * 0.2))
    # empty and 0-d arrays
    for name, fn in [
        ("relu", ArrayMath.relu),
        ("elu", lambda a: ArrayMath.elu(a, 1.0)),
        ("leaky", lambda a: ArrayMath.leaky_relu(a, 0.1)),
    ]:
        assert fn(np.zeros((0, 3), dtype)).shape == (0, 3), name
        assert fn(np.array(-2.0, dtype)).shape == (), name
    assert ArrayMath.dropout(np.zeros((4, 0), dtype), np.zeros((4, 0), dtype), 0.5).shape == (4, 0)


# ---------------------------------------------------------------- the ops that use the entries
ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "elu": lambda t: F.elu(t, 0.7),
    "selu": F.selu,
    "relu_method": lambda t: t.relu(),
}
SHAPES = [(5, 7), (0, 3), (3, 1, 4)]


def _away_from_kinks(shape, seed=4):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)  # (finite differences across a kink are not a derivative)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_and_gradgradcheck(kernels, name, shape):
    fn = ACTIVATIONS[name]
    x = cr.tensor(_away_from_kinks(shape), dtype=cr.float64, requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradcheck_on_broadcast_inputs(kernels, name):
    """The op on a sum that broadcasts (3, 1) + (4,), and on an expanded view (stride 0)."""
    fn = ACTIVATIONS[name]
    a = cr.tensor(_away_from_kinks((3, 1), 5), dtype=cr.float64, requires_grad=True)
    b = cr.tensor(_away_from_kinks((4,), 6) * 0.1, dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda s, t: fn(s + t), (a, b))
    assert gradgradcheck(lambda s, t: fn(s + t), (a, b))
    assert gradcheck(lambda s: fn(s.expand(3, 5)), (a,))


def _seeded_dropout(p, seed=11):
    def fn(t):
        cr.manual_seed(seed)  # the same mask on every evaluation
        return F.dropout(t, p, training=True)

    return fn


@pytest.mark.parametrize("shape", SHAPES)
def test_dropout_gradcheck_and_gradgradcheck(kernels, shape):
    x = cr.tensor(np.random.default_rng(7).standard_normal(shape), dtype=cr.float64, requires_grad=True)
    assert gradcheck(_seeded_dropout(0.4), (x,))
    assert gradgradcheck(_seeded_dropout(0.4), (x,))
    a = cr.tensor(np.ones((3, 1)), dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda t: _seeded_dropout(0.4)(t.expand(3, 6) * 2.0), (a,))


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64])
def test_dropout_draws_stay_on_the_default_generator(kernels, dtype):
    """y = x · [u >= p] / (1 - p) with u the default generator's next draw in x's precision, so
    ``manual_seed`` makes masks reproducible (and the sequence is the one before the kernel); the
    gradient is the mask itself."""
    p = 0.3
    np_dtype = np.float32 if dtype == cr.float32 else np.float64
    x0 = np.random.default_rng(8).standard_normal((64, 40)).astype(np_dtype)
    cr.manual_seed(123)
    x = cr.tensor(x0, requires_grad=True)
    y = F.dropout(x, p, training=True)
    y.backward(cr.ones_like(y))
    u = np.random.default_rng(123).random((64, 40), dtype=np_dtype)
    mask = (u >= p).astype(np_dtype) * np_dtype(1 / (1 - p))
    _same_bits(y.detach().numpy(), x0 * mask)
    _same_bits(x.grad.numpy(), mask)
    assert 0.6 < (mask != 0).mean() < 0.8
    z = F.dropout(x, p, training=True)  # the next draw: another mask
    assert not np.array_equal(z.detach().numpy(), y.detach().numpy())


def test_channel_dropout_keeps_its_broadcast_mask(kernels):
    cr.manual_seed(5)
    x = cr.ones(3, 4, 2, 2)
    y = F.dropout2d(x, 0.5, training=True).numpy()
    u = np.random.default_rng(5).random((3, 4, 1, 1), dtype=np.float32)
    np.testing.assert_array_equal(y, np.broadcast_to(((u >= 0.5) * np.float32(2.0)), (3, 4, 2, 2)))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "dropout"])
def test_forward_mode_and_create_graph(kernels, name):
    """Forward mode (dy = J dx) and a recorded backward against J written out from the formula."""
    x0 = _away_from_kinks((6, 5), 9)
    dx0 = np.random.default_rng(10).standard_normal((6, 5))
    cr.manual_seed(3)
    u = np.random.default_rng(3).random((6, 5))
    jac = {
        "relu": (x0 > 0) * 1.0,
        "leaky_relu": np.where(x0 > 0, 1.0, 0.2),
        "elu": np.where(x0 > 0, 1.0, 0.7 * np.exp(x0)),
        "dropout": (u >= 0.4) / 0.6,
    }[name]
    fn = ACTIVATIONS.get(name) or (lambda t: F.dropout(t, 0.4, training=True))
    with fwAD.dual_level():
        cr.manual_seed(3)
        tangent = fwAD.unpack_dual(fn(fwAD.make_dual(cr.tensor(x0), cr.tensor(dx0)))).tangent
    np.testing.assert_allclose(tangent.numpy(), jac * dx0, rtol=1e-14)
    x = cr.tensor(x0, requires_grad=True)
    cr.manual_seed(3)
    (gx,) = cr.autograd.grad((fn(x) * cr.tensor(dx0)).sum(), x, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), jac * dx0, rtol=1e-14)
    assert gx.requires_grad == (name == "elu")  # elu's derivative depends on x; the others' not


def test_ops_on_the_strict_back_end():
    x = cr.tensor(np.linspace(-3, 3, 12), requires_grad=True)
    fns = [F.relu, lambda t: F.leaky_relu(t, 0.1), lambda t: F.elu(t, 0.5), _seeded_dropout(0.5)]
    for fn in fns:
        x.grad = None
        fn(x).sum().backward()
        want = x.grad.numpy().copy()
        with strict_backend():
            s = x.detach().to("strict").requires_grad_(True)
            y = fn(s)
            y.sum().backward()
            assert y.device == DEVICE
            np.testing.assert_array_equal(s.grad.cpu().numpy(), want)


# ---------------------------------------------------------------- the compiled mode
def test_compiled_step_matches_eager_and_draws_fresh_masks(kernels):
    """A step through all four ops, at sizes that take the kernels and their threads, compiled
    and eager from one seed: the same numbers, and a new dropout mask on every replay."""
    rng = np.random.default_rng(12)
    w0 = (rng.standard_normal((64, 300)) * 0.2).astype(np.float32)
    xs = [cr.tensor(rng.standard_normal((96, 64)).astype(np.float32)) for _ in range(4)]

    def step(w, x):
        h = F.dropout(F.elu(F.leaky_relu(F.relu(x @ w), 0.1), 0.9), 0.25, training=True)
        loss = (h * h).mean()
        loss.backward()
        return loss

    def run(f):
        cr.manual_seed(21)
        w = cr.tensor(w0, requires_grad=True)
        out = []
        for x in xs:
            w.grad = None
            loss = f(w, x)
            out.append((loss.item(), w.grad.numpy().copy()))
        return out

    eager = run(step)
    fn = cr.compile(step, options={"fusion": False})
    comp = run(fn)
    assert fn.stats["replays"] >= 2
    for (le, ge), (lc, gc) in zip(eager, comp):
        assert le == lc
        np.testing.assert_array_equal(ge, gc)


# ---------------------------------------------------------------- PyTorch as oracle
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu"])
def test_against_pytorch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    xa = (rng.standard_normal((64, 517)) * 3).astype(np.float32)  # 33k elements: the kernels
    xa[0, :4] = [np.nan, 0.0, -0.0, 1e-40]
    ga = rng.standard_normal(xa.shape).astype(np.float32)
    fn = ACTIVATIONS[name]
    tfn = {
        "relu": torch.relu,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
        "elu": lambda t: torch.nn.functional.elu(t, 0.7),
    }[name]
    x = cr.tensor(xa, requires_grad=True)
    t = torch.tensor(xa, requires_grad=True)
    y, yt = fn(x), tfn(t)
    y.backward(cr.tensor(ga))
    yt.backward(torch.tensor(ga))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=0)
    assert np.isnan(y.detach().numpy()[0, 0])  # relu(NaN) = NaN, as PyTorch's
    # at x = NaN PyTorch's relu and elu rules pass g on where chainrule's give 0 and NaN: compare elsewhere
    ok = ~np.isnan(xa)
    # ELU's rule reads g (y + α), PyTorch's g α e^x: y + α cancels where y is near -α (an
    # absolute error of about α ulp(1) |g|)
    atol = 4 * 1.2e-7 * 0.7 * float(np.abs(ga).max()) if name == "elu" else 0
    np.testing.assert_allclose(x.grad.numpy()[ok], t.grad.numpy()[ok], rtol=1e-6, atol=atol)


def test_dropout_against_pytorch_semantics():
    """Masks cannot match PyTorch's generator: the values can (0 or x / (1 - p), as
    ``torch.nn.functional.dropout``), and the kept fraction is 1 - p."""
    torch = pytest.importorskip("torch")
    xa = np.random.default_rng(14).standard_normal((16, 64, 512)).astype(np.float32)
    y = F.dropout(cr.tensor(xa), 0.1, training=True).numpy()
    yt = torch.nn.functional.dropout(torch.tensor(xa), 0.1, training=True).numpy()
    for out, rtol in ((y, 0), (yt, 2e-7)):  # (PyTorch's 1 / (1 - p) may be rounded otherwise)
        kept = out != 0
        np.testing.assert_allclose(out[kept], xa[kept] * np.float32(1 / 0.9), rtol=rtol, atol=0)
        assert abs(kept.mean() - 0.9) < 0.005
