"""ops/ through the door (issue 11, items 1 and 5): the creation functions, the linear algebra,
the pointwise functions, the comparisons and tests and the Tensor methods run on the strict
back end (tests/strict_backend.py: arrays NumPy refuses) and give the CPU's numbers.

Each case runs forward, backward (and forward mode where the op has a jvp) on float64 strict
tensors and compares with the same computation on the CPU to 1e-12; an operation that calls
NumPy on the arrays, or mixes a host array into a device computation, fails loudly.
"""

from __future__ import annotations

import numpy as np
import pytest
from strict_backend import DEVICE, StrictArray
from strict_backend import host as _host

import chainrule as cr
from chainrule.autograd import forward_ad as fwAD
from chainrule.ops import activation as act


def _same(got: cr.Tensor, want: cr.Tensor) -> None:
    assert got.device == DEVICE and type(got._array) is StrictArray, got.device
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(_host(got), want.detach().numpy(), rtol=1e-12, atol=1e-14)


def _run(fn, arrays, backward=True, jvp=True):
    """fn on CPU tensors and on strict tensors made from ``arrays``: outputs, gradients of the sum of
    the (floating) outputs, and the tangent along ones, compared."""
    cpu = [cr.tensor(a) for a in arrays]
    dev = [t.to("strict") for t in cpu]
    outs = [fn(*cpu), fn(*dev)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    for want, got in zip(*outs):
        _same(got, want)
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if backward and floats:
        grads = []
        for ts in (cpu, dev):
            leaves = [t.detach().requires_grad_(t.dtype.kind == "f") for t in ts]
            res = fn(*leaves)
            res = res if isinstance(res, tuple) else (res,)
            total = sum(r.sum() for r in res if r.requires_grad)
            total.backward()
            grads.append([leaves[i].grad for i in floats])
        for want, got in zip(*grads):
            if want is None:
                assert got is None
            else:
                _same(got, want)
    if jvp and floats:
        tangents = []
        for ts in (cpu, dev):
            with fwAD.dual_level():
                t0 = ts[floats[0]]
                dual = fwAD.make_dual(t0, cr.ones_like(t0))
                args = [dual if i == floats[0] else t for i, t in enumerate(ts)]
                res = fn(*args)
                res = res if isinstance(res, tuple) else (res,)
                tangents.append([fwAD.unpack_dual(r).tangent for r in res])
        for want, got in zip(*tangents):
            if want is None:
                assert got is None
            else:
                _same(got, want)


_RNG = np.random.default_rng(7)
U = _RNG.uniform(0.1, 0.9, (2, 3))  # inside every domain below
V = _RNG.uniform(0.1, 0.9, (2, 3))
W = _RNG.standard_normal((2, 3))  # both signs
I = np.array([[3, -7, 0], [12, 5, -2]], dtype=np.int64)
J = np.array([[2, 3, 5], [-4, 5, 3]], dtype=np.int64)


# ---------------------------------------------------------------- creation
def test_creation_functions_make_strict_tensors(strict):
    cases = {
        "zeros": lambda d: cr.zeros(2, 3, dtype=cr.float64, device=d),
        "ones": lambda d: cr.ones((2, 3), device=d),
        "full_int": lambda d: cr.full((2,), 3, device=d),
        "full_bool": lambda d: cr.full((2,), True, device=d),
        "arange": lambda d: cr.arange(0.0, 1.0, 0.25, device=d),
        "linspace": lambda d: cr.linspace(-1, 1, 5, device=d),
        "logspace": lambda d: cr.logspace(0, 2, 3, base=2.0, device=d),
        "eye": lambda d: cr.eye(2, 3, dtype=cr.int64, device=d),
        "tensor": lambda d: cr.tensor([[1, 2], [3, 4]], device=d),
        "tensor_dtype": lambda d: cr.tensor([1, 2], dtype=cr.float64, device=d),
    }
    for name, make in cases.items():
        want, got = make(None), make("strict")
        assert got.device == DEVICE and type(got._array) is StrictArray, name
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(_host(got), want.numpy(), err_msg=name)


def test_like_functions_keep_the_strict_device_and_take_a_dtype(strict):
    s = cr.tensor(W).to("strict")
    for fn, want in [
        (lambda t: cr.zeros_like(t, dtype=cr.int64), np.zeros((2, 3), np.int64)),
        (lambda t: cr.ones_like(t), np.ones((2, 3))),
        (lambda t: cr.full_like(t, 2.5), np.full((2, 3), 2.5)),
        (lambda t: t.new_full((2,), 4.0), np.full((2,), 4.0)),
        (lambda t: t.new_zeros(3, dtype=cr.int64), np.zeros(3, np.int64)),
        (lambda t: t.new_ones(1, 2), np.ones((1, 2))),
    ]:
        got = fn(s)
        assert got.device == DEVICE
        np.testing.assert_array_equal(_host(got), want)
        assert got.dtype == want.dtype
    assert cr.empty_like(s).device == DEVICE and s.new_empty(2).device == DEVICE


def test_random_functions_of_a_strict_input_draw_what_the_cpu_draws(strict):
    p = cr.tensor([[0.2, 0.5, 0.3], [0.0, 0.9, 0.1]], dtype=cr.float64)
    cases = [
        lambda t: cr.bernoulli(t),
        lambda t: t.bernoulli(),
        lambda t: cr.multinomial(t, 2),
        lambda t: t.multinomial(4, replacement=True),
        lambda t: cr.rand_like(t),
        lambda t: cr.randn_like(t),
    ]
    for make in cases:
        cr.manual_seed(11)
        want = make(p)
        cr.manual_seed(11)
        got = make(p.to("strict"))
        assert got.device == DEVICE and got.dtype == want.dtype
        np.testing.assert_array_equal(_host(got), want.numpy())


@pytest.mark.parametrize(
    "fill",
    [
        lambda t: t.uniform_(-1, 2),
        lambda t: t.normal_(1.0, 3.0),
        lambda t: t.exponential_(2.0),
        lambda t: t.bernoulli_(0.3),
        lambda t: t.random_(0, 9),
        lambda t: t.log_normal_(),
        lambda t: t.cauchy_(),
        lambda t: t.geometric_(0.4),
        lambda t: t.fill_(2.5),
        lambda t: t.zero_(),
        lambda t: t.copy_([1.0, 2.0, 3.0]),
        lambda t: t.fill_diagonal_(7.0),
    ],
)
def test_in_place_fills_on_strict(strict, fill):
    cr.manual_seed(5)
    want = fill(cr.zeros(3, 3, dtype=cr.float64))
    cr.manual_seed(5)
    s = cr.zeros(3, 3, dtype=cr.float64, device="strict")
    got = fill(s)
    assert got is s and type(s._array) is StrictArray
    np.testing.assert_array_equal(_host(s), want.numpy())


def test_recorded_fill_and_copy_on_strict(strict):
    """fill_/copy_ on a tensor in the graph are recorded (the old values get gradient 0)."""
    for t in (cr.tensor(W), cr.tensor(W).to("strict")):
        x = t.detach().requires_grad_(True)
        src = (t.detach()[0] * 2).requires_grad_(True)
        y = x * 1.0
        y.copy_(src)
        z = x * 1.0
        z.fill_(3.0)
        (y * y + z).sum().backward()
        np.testing.assert_allclose(_host(src.grad), 8 * W[0], rtol=1e-12)  # 2 rows, d(y²)/dy = 2y, y = 2 W[0]
        np.testing.assert_array_equal(_host(x.grad), np.zeros((2, 3)))


# ---------------------------------------------------------------- linear algebra
def _spd(n: int = 3) -> np.ndarray:
    a = _RNG.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


A3 = _spd()
B32 = _RNG.standard_normal((3, 2))
M43 = _RNG.standard_normal((4, 3))

LINALG = {
    "inv": (lambda a: cr.linalg.inv(a), [A3]),
    "det": (lambda a: cr.linalg.det(a), [A3]),
    "slogdet": (lambda a: cr.linalg.slogdet(a), [A3]),
    "logdet": (lambda a: cr.logdet(a), [A3]),
    "solve": (lambda a, b: cr.linalg.solve(a, b), [A3, B32]),
    "solve_vector": (lambda a, b: cr.linalg.solve(a, b[:, 0]), [A3, B32]),
    "cholesky": (lambda a: cr.linalg.cholesky(a), [A3]),
    "eigh": (lambda a: cr.linalg.eigh(a)[0], [A3]),
    "eigh_vectors": (lambda a: cr.linalg.eigh(a)[1].abs(), [A3]),
    "svd_values": (lambda a: cr.linalg.svd(a, full_matrices=False)[1], [M43]),
    "svd": (lambda a: tuple(t.abs() for t in cr.linalg.svd(a, full_matrices=False)), [M43]),
    "qr": (lambda a: cr.linalg.qr(a), [M43]),
}
JVP_FREE = {"eigh", "eigh_vectors", "svd_values", "svd", "qr"}  # (reverse mode only, as PyTorch's rules here)


@pytest.mark.parametrize("name", list(LINALG))
def test_linalg_on_strict(strict, name):
    fn, arrays = LINALG[name]
    _run(fn, arrays, jvp=name not in JVP_FREE)


def test_linalg_without_gradient_on_strict(strict):
    a = cr.tensor(M43)
    for fn in (
        lambda t: cr.linalg.svd(t, full_matrices=True),
        lambda t: cr.linalg.qr(t, mode="complete"),
        lambda t: cr.linalg.qr(t, mode="r"),
    ):
        for want, got in zip(fn(a), fn(a.to("strict"))):
            assert got.device == DEVICE
            np.testing.assert_allclose(np.abs(_host(got)), np.abs(want.numpy()), rtol=1e-12, atol=1e-14)
    zero = cr.zeros(2, 2, dtype=cr.float64, device="strict")
    with pytest.raises(RuntimeError, match="singular"):
        cr.linalg.inv(zero)
    with pytest.raises(RuntimeError, match="singular"):
        cr.linalg.solve(zero, cr.ones(2, dtype=cr.float64, device="strict"))


def test_linalg_second_derivatives_on_strict(strict):
    """create_graph=True: the vjp runs on TensorMath, whose constants must be on the device too."""
    grads = []
    for a in (cr.tensor(A3), cr.tensor(A3).to("strict")):
        x = a.detach().requires_grad_(True)
        (g,) = cr.autograd.grad(cr.linalg.cholesky(x).sum() + cr.linalg.inv(x).sum(), x, create_graph=True)
        (h,) = cr.autograd.grad((g * g).sum(), x)
        grads.append(h)
    _same(grads[1], grads[0])


# ---------------------------------------------------------------- pointwise
POINTWISE = {
    "sinh": (cr.sinh, [W]),
    "cosh": (cr.cosh, [W]),
    "tan": (cr.tan, [W]),
    "asin": (cr.asin, [U]),
    "acos": (cr.acos, [U]),
    "atan": (cr.atan, [W]),
    "asinh": (cr.asinh, [W]),
    "acosh": (lambda x: cr.acosh(x + 1), [U]),
    "atanh": (cr.atanh, [U]),
    "log2": (cr.log2, [U]),
    "log10": (cr.log10, [U]),
    "exp2": (cr.exp2, [W]),
    "expm1": (cr.expm1, [W]),
    "erf": (cr.erf, [W]),
    "erfc": (cr.erfc, [W]),
    "erfinv": (cr.erfinv, [U]),
    "i0": (cr.i0, [W]),
    "lgamma": (cr.lgamma, [U]),
    "digamma": (cr.digamma, [U]),
    "polygamma": (lambda x: cr.polygamma(2, x), [U]),
    "mvlgamma": (lambda x: cr.mvlgamma(x + 2, 2), [U]),
    "floor": (lambda x: cr.floor(x * 4), [W]),
    "ceil": (lambda x: cr.ceil(x * 4), [W]),
    "trunc": (lambda x: cr.trunc(x * 4), [W]),
    "round": (lambda x: cr.round(x * 40, decimals=-1), [W]),
    "frac": (lambda x: cr.frac(x * 4), [W]),
    "atan2": (cr.atan2, [W, V]),
    "fmod": (lambda a, b: cr.fmod(a * 5, b), [W, V]),
    "remainder": (lambda a, b: cr.remainder(a * 5, b), [W, V]),
    "ldexp": (lambda a, b: cr.ldexp(a, b), [W, J]),
    "xlogy": (cr.xlogy, [W, V]),
    "xlogy_zero": (lambda a, b: cr.xlogy(a * 0, b - 1), [W, V]),
    "logit": (lambda x: cr.logit(x, eps=0.2), [U]),
    "hypot": (cr.hypot, [W, V]),
    "logaddexp": (cr.logaddexp, [W, V]),
    "logaddexp2": (cr.logaddexp2, [W, V]),
    "lerp": (lambda a, b: cr.lerp(a, b, 0.3), [W, V]),
    "addcmul": (lambda a, b: cr.addcmul(a, b, b, value=2), [W, V]),
    "addcdiv": (lambda a, b: cr.addcdiv(a, a, b, value=0.5), [W, V]),
    "nan_to_num": (lambda x: cr.nan_to_num(cr.log(x)), [W]),
    "fmax": (lambda a, b: cr.fmax(cr.log(a), b), [W, V]),
    "fmin": (lambda a, b: cr.fmin(a, cr.log(b - 0.5)), [W, V]),
    "copysign": (cr.copysign, [W, W[::-1].copy()]),
    "sinc": (lambda x: cr.sinc(x * cr.floor(x * 3)), [W]),
    "deg2rad": (cr.deg2rad, [W]),
    "rad2deg": (cr.rad2deg, [W]),
    "float_power": (lambda x: cr.float_power(x, 3), [U]),
    "float_power_scalar_base": (lambda x: cr.float_power(2, x), [U]),
    "div_trunc": (lambda a, b: cr.div(a, b, rounding_mode="trunc"), [W, V]),
    "div_floor": (lambda a, b: cr.div(a, b, rounding_mode="floor"), [W, V]),
    "rsqrt": (cr.rsqrt, [U]),
    "square": (cr.square, [W]),
    "reciprocal": (cr.reciprocal, [U]),
    "clamp_min": (lambda x: cr.clamp_min(x, 0.1), [W]),
    "rsub": (lambda a, b: cr.rsub(a, b, alpha=2), [W, V]),
    "gelu": (lambda x: act.gelu(x), [W]),
    "gelu_tanh": (lambda x: act.gelu(x, approximate="tanh"), [W]),
    "swish": (lambda x: act.swish(x, beta=1.5), [W]),
    "leaky_relu": (lambda x: act.leaky_relu(x, 0.1), [W]),
    "elu": (act.elu, [W]),
    "softplus": (act.softplus, [W]),
}


@pytest.mark.parametrize("name", list(POINTWISE))
def test_pointwise_on_strict(strict, name):
    fn, arrays = POINTWISE[name]
    _run(fn, arrays)


def test_pointwise_second_derivatives_on_strict(strict):
    """The derivatives of lgamma, i0 and prod are primitives of their own under create_graph."""
    grads = []
    for a in (cr.tensor(U), cr.tensor(U).to("strict")):
        x = a.detach().requires_grad_(True)
        y = cr.lgamma(x).sum() + cr.i0(x).sum() + cr.prod(x * cr.floor(x * 2), 1).sum() + act.gelu(x).sum()
        (g,) = cr.autograd.grad(y, x, create_graph=True)
        (h,) = cr.autograd.grad((g * g).sum(), x)
        grads.append(h)
    _same(grads[1], grads[0])


INTEGER = {
    "div_trunc": lambda a, b: cr.div(a, b, rounding_mode="trunc"),
    "div_floor": lambda a, b: cr.div(a, b, rounding_mode="floor"),
    "floor_divide": cr.floor_divide,
    "fmod": cr.fmod,
    "remainder": cr.remainder,
    "floordiv_op": lambda a, b: a // b,
    "mod_op": lambda a, b: a % b,
    "rfloordiv_op": lambda a, b: 7 // b,
    "invert": lambda a, b: ~a,
    "bitwise_and": cr.bitwise_and,
    "bitwise_or": lambda a, b: cr.bitwise_or(a, 6),
    "bitwise_xor": cr.bitwise_xor,
    "bitwise_not": lambda a, b: cr.bitwise_not(a),
    "left_shift": lambda a, b: cr.bitwise_left_shift(a, b.abs()),
    "right_shift": lambda a, b: cr.bitwise_right_shift(a, 1),
    "gcd": cr.gcd,
    "lcm": cr.lcm,
    "floor": lambda a, b: cr.floor(a),
    "round": lambda a, b: cr.round(a),
    "isin": lambda a, b: cr.isin(a, b),
    "isin_invert": lambda a, b: cr.isin(a, b, invert=True),
    "heaviside": lambda a, b: cr.heaviside(a, b),
    "nan_to_num": lambda a, b: cr.nan_to_num(a),
    "float_power": lambda a, b: cr.float_power(a, 2),
}


@pytest.mark.parametrize("name", list(INTEGER))
def test_integer_pointwise_on_strict(strict, name):
    _run(INTEGER[name], [I, J])


# ---------------------------------------------------------------- comparisons and tests
SPECIAL = np.array([[0.5, -np.inf, np.nan], [np.inf, -0.0, 2.0]])
COMPARE = {
    "eq": lambda a, b: cr.eq(a, b),
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: cr.gt(a, 0.5),
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: cr.lt(0.5, b),
    "le": lambda a, b: a <= 0.5,
    "logical_and": lambda a, b: cr.logical_and(a > 0, b > 0),
    "logical_or": lambda a, b: cr.logical_or(a, b),
    "logical_xor": lambda a, b: cr.logical_xor(a > 0, b),
    "logical_not": lambda a, b: cr.logical_not(a),
    "and_op": lambda a, b: (a > 0) & (b > 0),
    "invert_bool": lambda a, b: ~(a > 0),
    "isnan": lambda a, b: cr.isnan(a),
    "isinf": lambda a, b: a.isinf(),
    "isfinite": lambda a, b: cr.isfinite(a),
    "isposinf": lambda a, b: cr.isposinf(a),
    "isneginf": lambda a, b: cr.isneginf(a),
    "isreal": lambda a, b: cr.isreal(a),
    "signbit": lambda a, b: cr.signbit(a),
    "isclose": lambda a, b: cr.isclose(a, b, equal_nan=True),
    "isclose_scalar": lambda a, b: cr.isclose(a, 0.5),
    "heaviside": lambda a, b: cr.heaviside(a, b),
    "norm_0": lambda a, b: cr.norm(a, p=0, dim=1),  # (a count: no gradient)
}


@pytest.mark.parametrize("name", list(COMPARE))
def test_comparisons_and_tests_on_strict(strict, name):
    fn = COMPARE[name]
    b = SPECIAL[::-1].copy()
    _run(fn, [SPECIAL, b], backward=False, jvp=False)
    got = fn(cr.tensor(SPECIAL).requires_grad_(True).to("strict"), cr.tensor(b).to("strict"))
    assert not got.requires_grad


def test_boolean_answers_on_strict(strict):
    a, b = cr.tensor(W), cr.tensor(W + 1e-9)
    sa, sb = a.to("strict"), b.to("strict")
    assert cr.allclose(sa, sb) is True and cr.allclose(sa, sb * 2) is False
    assert cr.equal(sa, sa) is True and cr.equal(sa, sb) is False and cr.equal(sa, sa[0]) is False
    assert sa.allclose(sb) and sa.equal(sa.clone())
