"""Activations: forward against NumPy formulas written here (and the notes' table), derivatives by
finite differences in both modes, the subgradients at kinks, dtypes, stability at |x| = 1000."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.ops.activation import erf_array

R = np.random.default_rng(7)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_erf(x):
    return np.array([math.erf(v) for v in np.ravel(x)]).reshape(np.shape(x))


def away(shape, kinks=(0.0,), margin=0.05, lo=-4.0, hi=4.0):
    """Random points at least ``margin`` away from every kink (finite differences are valid there)."""
    x = R.uniform(lo, hi, size=shape)
    for k in kinks:
        close = np.abs(x - k) < margin
        x[close] = k + np.sign(x[close] - k + 1e-12) * margin * 2
    return x


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name -> (chainrule function, NumPy reference, derivative reference, kinks)
CASES = {
    "relu": (F.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0, (0.0,)),
    "leaky_relu_0.1": (lambda t: F.leaky_relu(t, 0.1), lambda x: np.maximum(0.1 * x, x),
                       lambda x: np.where(x > 0, 1.0, 0.1), (0.0,)),
    "elu": (lambda t: F.elu(t, 0.7), lambda x: np.where(x >= 0, x, 0.7 * (np.exp(x) - 1)),
            lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(x)), (0.0,)),
    "selu": (F.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
             lambda x: SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(x)), (0.0,)),
    "relu6": (F.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), lambda x: ((x > 0) & (x < 6)) * 1.0,
              (0.0, 6.0)),
    "hardtanh": (lambda t: F.hardtanh(t, -0.5, 2.0), lambda x: np.clip(x, -0.5, 2.0),
                 lambda x: ((x > -0.5) & (x < 2.0)) * 1.0, (-0.5, 2.0)),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6,
                    lambda x: ((x > -3) & (x < 3)) / 6.0, (-3.0, 3.0)),
    "piecewise_linear": (F.piecewise_linear,
                         lambda x: np.where(x >= 0.5, 1.0, np.where(x <= -0.5, 0.0, x + 0.5)),
                         lambda x: ((x > -0.5) & (x < 0.5)) * 1.0, (-0.5, 0.5)),
    "hardswish": (F.hardswish, lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
                  lambda x: np.where(x < -3, 0.0, np.where(x > 3, 1.0, x / 3 + 0.5)), (-3.0, 3.0)),
    "sigmoid": (F.sigmoid, sig, lambda x: sig(x) * (1 - sig(x)), ()),
    "tanh": (F.tanh, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
             lambda x: 1 - np.tanh(x) ** 2, ()),
    "softplus": (F.softplus, lambda x: np.log(1 + np.exp(x)), sig, ()),
    "softplus_beta2": (lambda t: F.softplus(t, 2.0), lambda x: np.log(1 + np.exp(2 * x)) / 2,
                       lambda x: sig(2 * x), ()),
    "logsigmoid": (F.logsigmoid, lambda x: np.log(sig(x)), lambda x: 1 - sig(x), ()),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + np_erf(x / np.sqrt(2))),
             lambda x: 0.5 * (1 + np_erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), ()),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))), None, ()),
    "silu": (F.silu, lambda x: x * sig(x), lambda x: sig(x) * (1 + x * (1 - sig(x))), ()),
    "swish_beta": (lambda t: F.swish(t, 1.7), lambda x: x * sig(1.7 * x),
                   lambda x: sig(1.7 * x) + 1.7 * x * sig(1.7 * x) * (1 - sig(1.7 * x)), ()),
    "eswish": (lambda t: F.eswish(t, 1.5), lambda x: 1.5 * x * sig(x),
               lambda x: 1.5 * (sig(x) + x * sig(x) * (1 - sig(x))), ()),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), None, ()),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2, (0.0,)),
    "identity": (F.identity, lambda x: x, lambda x: np.ones_like(x), ()),
}

SMOOTH = ["sigmoid", "tanh", "softplus", "softplus_beta2", "logsigmoid", "gelu", "gelu_tanh", "silu",
          "swish_beta", "eswish", "mish", "elu"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_derivative_match_formula(name):
    fn, ref, dref, kinks = CASES[name]
    x = away((5, 7), kinks)
    t = cr.tensor(x, requires_grad=True)
    y = fn(t)
    np.testing.assert_allclose(y.data, ref(x), rtol=1e-12, atol=1e-13)
    if dref is not None:
        y.sum().backward()
        np.testing.assert_allclose(t.grad.data, dref(x), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_both_modes_away_from_kinks(name):
    fn, _, _, kinks = CASES[name]
    x = cr.tensor(away((3, 4), kinks), requires_grad=True)
    assert gradcheck(fn, (x,), check_forward_ad=True)


@pytest.mark.parametrize("name", SMOOTH)
def test_gradgradcheck_smooth(name):
    fn = CASES[name][0]
    x = cr.tensor(away((2, 3), ()), requires_grad=True)
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    fn = CASES[name][0]
    x = cr.tensor(away((4, 3), CASES[name][3]).astype(np.float32), requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_subgradients_at_the_kinks():
    """The documented conventions (PyTorch's): relu'(0) = 0, leaky'(0) = slope, elu'(0) = α,
    clamped pieces 0 at their corners, step' = sign' = 0."""
    def d(fn, at):
        t = cr.tensor(np.array(at, dtype=np.float64), requires_grad=True)
        fn(t).sum().backward()
        return t.grad.data

    np.testing.assert_array_equal(d(F.relu, [0.0]), [0.0])
    np.testing.assert_array_equal(d(lambda t: F.leaky_relu(t, 0.1), [0.0]), [0.1])
    np.testing.assert_array_equal(d(lambda t: F.elu(t, 0.7), [0.0]), [0.7])
    np.testing.assert_array_equal(d(F.relu6, [0.0, 6.0, 3.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(d(F.hardtanh, [-1.0, 1.0, 0.0]), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(d(F.hardsigmoid, [-3.0, 3.0, 0.0]), [0.0, 0.0, 1 / 6])
    np.testing.assert_array_equal(d(F.piecewise_linear, [-0.5, 0.5, 0.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(d(F.step, [-1.0, 0.0, 2.0]), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(d(F.sign, [-1.0, 0.0, 2.0]), [0.0, 0.0, 0.0])


def test_notes_table_step_sign_piecewise_values():
    z = cr.tensor([-2.0, -0.5, -0.25, 0.0, 0.25, 0.5, 2.0])
    np.testing.assert_array_equal(F.step(z).data, [0, 0, 0, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(F.heaviside(z).data, [0, 0, 0, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(F.sign(z).data, [-1, -1, -1, 0, 1, 1, 1])
    np.testing.assert_array_equal(F.piecewise_linear(z).data, [0, 0, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_array_equal(F.identity(z).data, z.data)
    np.testing.assert_allclose(F.softplus(cr.tensor([0.0])).data, [math.log(2)])
    np.testing.assert_allclose(F.leaky_relu(cr.tensor([-2.0, 3.0]), 0.1).data, [-0.2, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_plus_minus_1000(dtype):
    x = cr.tensor(np.array([-1000.0, -50.0, 50.0, 1000.0], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        outs = {
            "softplus": (F.softplus(x), [0.0, math.exp(-50), 50.0, 1000.0], [0.0, math.exp(-50), 1.0, 1.0]),
            "logsigmoid": (F.logsigmoid(x), [-1000.0, -50.0, -math.exp(-50), 0.0], [1.0, 1.0, math.exp(-50), 0.0]),
            "elu": (F.elu(x), [-1.0, math.expm1(-50), 50.0, 1000.0], [0.0, math.exp(-50), 1.0, 1.0]),
            "gelu": (F.gelu(x), [0.0, 0.0, 50.0, 1000.0], [0.0, 0.0, 1.0, 1.0]),
            "silu": (F.silu(x), [0.0, -50 * math.exp(-50), 50.0, 1000.0], None),
        }
    for name, (y, val, dval) in outs.items():
        assert np.all(np.isfinite(y.data)), name
        np.testing.assert_allclose(y.data, val, rtol=1e-6, atol=1e-20, err_msg=name)
        if dval is not None:
            x.grad = None
            y.sum().backward()
            assert np.all(np.isfinite(x.grad.data)), name
            np.testing.assert_allclose(x.grad.data, dval, rtol=1e-6, atol=1e-20, err_msg=name)


def test_erf_against_math_erf_everywhere():
    x = np.concatenate([np.linspace(-7, 7, 4001), [0.0, 1e-300, 0.46875, -0.46875, 4.0, -4.0, 40.0, np.inf,
                                                  -np.inf]])
    np.testing.assert_allclose(erf_array(x), np_erf(x), rtol=1e-15, atol=1e-16)
    assert np.isnan(erf_array(np.array([np.nan]))).all()
    x32 = x.astype(np.float32)
    assert erf_array(x32).dtype == np.float32
    np.testing.assert_allclose(erf_array(x32), np_erf(x32.astype(np.float64)), atol=3e-7)


def test_softmax_log_softmax_maxout():
    x = R.standard_normal((3, 6))
    t = cr.tensor(x, requires_grad=True)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(F.softmax(t, dim=1).data, e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(t, -1).data, np.log(e / e.sum(1, keepdims=True)), rtol=1e-12)
    with pytest.warns(UserWarning):
        F.softmax(t)
    np.testing.assert_array_equal(F.maxout(t, 3).data, x.reshape(3, 2, 3).max(-1))
    np.testing.assert_array_equal(F.maxout(t, 3, dim=0).data, x.max(0, keepdims=True))
    assert gradcheck(lambda a: F.maxout(a, 2), (t,), check_forward_ad=True)
    with pytest.raises(ValueError, match="not divisible by pool_size 4"):
        F.maxout(t, 4)


def test_modules_match_functionals_and_repr():
    x = cr.tensor(away((2, 6), (-3, -0.5, 0, 0.5, 3, 6)))
    pairs = [
        (nn.ReLU(), F.relu(x)), (nn.LeakyReLU(0.1), F.leaky_relu(x, 0.1)), (nn.ELU(0.5), F.elu(x, 0.5)),
        (nn.Softplus(2.0, 10.0), F.softplus(x, 2.0, 10.0)), (nn.GELU("tanh"), F.gelu(x, "tanh")),
        (nn.SiLU(), F.silu(x)), (nn.Swish(2.0), F.swish(x, 2.0)), (nn.ESwish(1.5), F.eswish(x, 1.5)),
        (nn.Hardsigmoid(), F.hardsigmoid(x)), (nn.Hardtanh(-2, 2), F.hardtanh(x, -2, 2)),
        (nn.PiecewiseLinear(), F.piecewise_linear(x)), (nn.Sigmoid(), F.sigmoid(x)), (nn.Tanh(), F.tanh(x)),
        (nn.Softmax(dim=-1), F.softmax(x, -1)), (nn.LogSoftmax(1), F.log_softmax(x, 1)),
        (nn.Step(), F.step(x)), (nn.Heaviside(), F.step(x)), (nn.Sign(), F.sign(x)),
        (nn.Maxout(3), F.maxout(x, 3)), (nn.ReLU6(), F.relu6(x)), (nn.LogSigmoid(), F.logsigmoid(x)),
        (nn.Softsign(), F.softsign(x)), (nn.Mish(), F.mish(x)), (nn.SELU(), F.selu(x)),
        (nn.Hardswish(), F.hardswish(x)),
    ]
    for mod, ref in pairs:
        np.testing.assert_array_equal(mod(x).data, ref.data, err_msg=repr(mod))
        assert list(mod.parameters()) == []
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


def test_integer_input_becomes_default_float():
    y = F.gelu(cr.tensor([0, 1, 2]))
    assert y.dtype == cr.get_default_dtype()


def test_relu_inplace_writes_into_its_input_as_pytorch_does():
    """``ReLU(inplace=True)`` changes the tensor it is given: a forward hook that kept a conv's
    output (the style-transfer idiom) sees the rectified values, and the gradient still flows."""
    x = cr.tensor([-1.0, 2.0, -3.0])
    y = F.relu(x, inplace=True)
    assert y is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 2.0, 0.0])
    kept = {}
    lin = nn.Linear(1, 2)
    lin.register_forward_hook(lambda m, i, o: kept.__setitem__("out", o))
    with cr.no_grad():
        lin.weight.copy_(cr.tensor([[1.0], [-1.0]]))
        lin.bias.zero_()
    inp = cr.tensor([[2.0]], requires_grad=True)
    out = nn.Sequential(lin, nn.ReLU(inplace=True))(inp)
    np.testing.assert_array_equal(kept["out"].detach().numpy(), [[2.0, 0.0]])  # relu(2), relu(-2)
    out.sum().backward()  # d/dinp [relu(inp) + relu(-inp)] at inp = 2 is 1
    np.testing.assert_array_equal(inp.grad.numpy(), [[1.0]])
