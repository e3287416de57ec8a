"""Linear (functional + module), nn.init and the notes' residual/dense blocks: values from NumPy
formulas written here, derivatives by finite differences, statistics from the initialisers' laws."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.nn import init

R = np.random.default_rng(3)


def t64(*shape, grad=True):
    return cr.tensor(R.standard_normal(shape), requires_grad=grad)


# ---------------------------------------------------------------- F.linear
@pytest.mark.parametrize("xshape", [(5, 3), (3,), (2, 4, 3), (2, 1, 2, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward_matches_numpy_and_gradchecks(xshape, with_bias):
    x, w = t64(*xshape), t64(4, 3)
    b = t64(4) if with_bias else None
    y = F.linear(x, w, b)
    ref = x._array @ w._array.T + (b._array if with_bias else 0)
    assert y.shape == xshape[:-1] + (4,)
    np.testing.assert_allclose(y._array, ref, rtol=1e-12)
    args = (x, w, b) if with_bias else (x, w)
    assert gradcheck(lambda *a: F.linear(*a), args, check_forward_ad=True)


def test_linear_gradients_formula_and_layout():
    x, w, b = t64(6, 3), t64(4, 3), t64(4)
    g = R.standard_normal((6, 4))
    F.linear(x, w, b).backward(cr.tensor(g))
    np.testing.assert_allclose(x.grad._array, g @ w._array, rtol=1e-12)
    np.testing.assert_allclose(w.grad._array, g.T @ x._array, rtol=1e-12)
    np.testing.assert_allclose(b.grad._array, g.sum(0), rtol=1e-12)
    assert w.grad._array.flags.c_contiguous  # like W itself (optimiser passes stay fast)


def test_linear_gradgradcheck():
    assert gradgradcheck(lambda *a: F.linear(*a), (t64(3, 2), t64(2, 2), t64(2)))


def test_linear_float32_and_errors():
    x = cr.tensor(R.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    lin = nn.Linear(3, 4)
    y = lin(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and lin.weight.grad.dtype == np.float32 and lin.bias.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"Linear\(3, 4\): expected input of shape \(\*, 3\), got \(2, 5\)"):
        lin(cr.randn(2, 5))
    with pytest.raises(ValueError, match=r"linear: expected input of shape \(\*, 3\), got \(2, 5\)"):
        F.linear(cr.randn(2, 5), cr.randn(4, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(4,\), got \(3,\)"):
        F.linear(cr.randn(2, 3), cr.randn(4, 3), cr.randn(3))
    with pytest.raises(TypeError, match="dtype"):
        F.linear(cr.randn(2, 3, dtype=cr.float64), cr.randn(4, 3))


# ---------------------------------------------------------------- nn.Linear
def test_linear_module_attributes_repr_and_default_init_bounds():
    cr.manual_seed(0)
    lin = nn.Linear(50, 40)
    assert lin.weight.shape == (40, 50) and lin.bias.shape == (40,)
    assert lin.weight.dtype == cr.get_default_dtype()
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert repr(lin) == "Linear(in_features=50, out_features=40, bias=True)"
    bound = 1 / math.sqrt(50)  # kaiming_uniform_(a=√5): gain √(2/6), bound = √3·gain/√50 = 1/√50
    w = lin.weight._array
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-a, a) has std a/√3
    assert np.abs(lin.bias._array).max() <= bound
    nb = nn.Linear(3, 2, bias=False, dtype=cr.float64)
    assert nb.bias is None and nb.weight.dtype == np.float64 and "bias=False" in repr(nb)
    assert [n for n, _ in nb.named_parameters()] == ["weight"]
    x = t64(2, 5, 3)
    np.testing.assert_allclose(nb(x)._array, x._array @ nb.weight._array.T, rtol=1e-12)


def test_linear_module_gradcheck_3d_and_parameter_grads():
    lin = nn.Linear(3, 2, dtype=cr.float64)
    x = t64(2, 4, 3)
    assert gradcheck(lambda a: lin(a), (x,), check_forward_ad=True)
    g = R.standard_normal((2, 4, 2))
    lin(x).backward(cr.tensor(g))
    np.testing.assert_allclose(lin.weight.grad._array, np.einsum("nto,nti->oi", g, x._array), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad._array, g.sum((0, 1)), rtol=1e-12)
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_maxout_linear_is_max_of_affine_pieces():
    m = nn.MaxoutLinear(3, 2, pieces=3, dtype=cr.float64)
    x = t64(5, 3)
    w, b = m.linear.weight._array, m.linear.bias._array
    pieces = (x._array @ w.T + b).reshape(5, 2, 3)  # unit j's pieces are outputs 3j..3j+2
    np.testing.assert_allclose(m(x)._array, pieces.max(-1), rtol=1e-12)


def test_bilinear():
    x1, x2, a, b = t64(4, 2), t64(4, 3), t64(5, 2, 3), t64(5)
    y = F.bilinear(x1, x2, a, b)
    np.testing.assert_allclose(y._array, np.einsum("ni,kij,nj->nk", x1._array, a._array, x2._array) + b._array,
                               rtol=1e-12)
    assert gradcheck(lambda *z: F.bilinear(*z), (t64(2, 2), t64(2, 3), t64(2, 2, 3), t64(2)))
    assert nn.Bilinear(2, 3, 5)(cr.randn(4, 2), cr.randn(4, 3)).shape == (4, 5)


# ---------------------------------------------------------------- init
def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swishy")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(cr.empty(4, 3)) == (3, 4)
    assert init._calculate_fan_in_and_fan_out(cr.empty(8, 2, 3, 5)) == (30, 120)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(cr.empty(5))


@pytest.mark.parametrize(
    "fn, law",
    [
        (lambda t: init.xavier_uniform_(t), ("uniform", math.sqrt(2 / (400 + 300)))),
        (lambda t: init.xavier_normal_(t, gain=2.0), ("normal", 2 * math.sqrt(2 / (400 + 300)))),
        (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), ("uniform", math.sqrt(2 / 300))),
        (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), ("normal", math.sqrt(2 / 400))),
        (lambda t: init.kaiming_normal_(t, a=0.2), ("normal", math.sqrt(2 / 1.04 / 300))),
        (lambda t: init.normal_(t, 1.0, 0.5), ("normal", 0.5)),
        (lambda t: init.uniform_(t, -0.3, 0.3), ("uniform", 0.3 / math.sqrt(3))),
    ],
)
def test_initialiser_statistics(fn, law):
    t = cr.zeros(400, 300)
    out = fn(t)
    assert out is t and t.dtype == np.float32
    kind, std = law
    w = t._array.astype(np.float64)
    assert abs(w.std() - std) < 0.01 * std  # 120 000 samples: relative error of the std ~0.3%
    if kind == "uniform":
        a = std * math.sqrt(3)
        assert w.min() >= -a and w.max() <= a and w.max() > 0.99 * a


def test_trunc_normal_constant_eye_dirac():
    t = init.trunc_normal_(cr.zeros(200, 200, dtype=cr.float64), mean=0.5, std=1.0, a=0.0, b=1.0)
    assert t._array.min() >= 0.0 and t._array.max() <= 1.0
    # mean of N(0.5, 1) truncated to [0, 1] symmetric about its mean: 0.5
    assert abs(t._array.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(init.constant_(cr.empty(2, 3), 0.25)._array, np.full((2, 3), 0.25))
    np.testing.assert_array_equal(init.zeros_(cr.ones(3))._array, np.zeros(3))
    np.testing.assert_array_equal(init.ones_(cr.zeros(3))._array, np.ones(3))
    np.testing.assert_array_equal(init.eye_(cr.randn(3, 4))._array, np.eye(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(cr.empty(2, 2, 2))
    w = init.dirac_(cr.randn(4, 3, 3))
    x = R.standard_normal((1, 3, 7))
    # conv with padding 1: the first 3 output channels copy the 3 inputs, the 4th is 0
    y = F.conv1d(cr.tensor(x.astype(np.float32)), w, padding=1)._array
    np.testing.assert_allclose(y[0, :3], x[0], rtol=1e-6)
    np.testing.assert_array_equal(y[0, 3], 0)


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (3, 2, 2)])
def test_orthogonal(shape):
    t = init.orthogonal_(cr.empty(*shape, dtype=cr.float64), gain=2.0)
    m = t._array.reshape(shape[0], -1)
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, 4 * np.eye(m.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(m @ m.T, 4 * np.eye(m.shape[0]), atol=1e-12)


def test_generator_reproducibility_and_in_place():
    a = init.kaiming_uniform_(cr.empty(5, 4), generator=cr.Generator().manual_seed(11))
    b = init.kaiming_uniform_(cr.empty(5, 4), generator=cr.Generator().manual_seed(11))
    c = init.kaiming_uniform_(cr.empty(5, 4), generator=cr.Generator().manual_seed(12))
    np.testing.assert_array_equal(a._array, b._array)
    assert not np.array_equal(a._array, c._array)
    cr.manual_seed(5)
    d = init.normal_(cr.empty(3))
    cr.manual_seed(5)
    np.testing.assert_array_equal(init.normal_(cr.empty(3))._array, d._array)
    lin = nn.Linear(3, 2)
    w = lin.weight
    data = w._array
    init.xavier_normal_(w)
    assert lin.weight is w and w._array is data and w.requires_grad and w.grad is None


# ---------------------------------------------------------------- blocks
def test_residual_forward_gradcheck_and_error():
    lin = nn.Linear(3, 3, dtype=cr.float64)
    block = nn.Residual(nn.Sequential(lin, nn.Tanh()))
    x = t64(4, 3)
    np.testing.assert_allclose(block(x)._array, x._array + np.tanh(x._array @ lin.weight._array.T + lin.bias._array),
                               rtol=1e-12)
    assert gradcheck(lambda a: block(a), (x,), check_forward_ad=True)
    assert [n for n, _ in block.named_parameters()] == ["module.0.weight", "module.0.bias"]
    with pytest.raises(ValueError, match=r"maps \(4, 3\) to \(4, 2\)"):
        nn.Residual(nn.Linear(3, 2, dtype=cr.float64))(x)


def test_residual_identity_when_branch_is_zero():
    lin = nn.Linear(3, 3, dtype=cr.float64)
    init.zeros_(lin.weight)
    init.zeros_(lin.bias)
    x = t64(2, 3)
    np.testing.assert_array_equal(nn.Residual(lin)(x)._array, x._array)


def test_dense_connection_forward_gradcheck_and_error():
    lin = nn.Linear(3, 2, dtype=cr.float64)
    block = nn.DenseConnection(lin)
    x = t64(4, 3)
    y = block(x)
    assert y.shape == (4, 5)
    np.testing.assert_allclose(y._array,
                               np.concatenate([x._array, x._array @ lin.weight._array.T + lin.bias._array], 1),
                               rtol=1e-12)
    assert gradcheck(lambda a: block(a), (x,), check_forward_ad=True)
    conv = nn.DenseConnection(nn.Conv1d(2, 3, 3, padding=1, dtype=cr.float64))
    assert conv(t64(1, 2, 5)).shape == (1, 5, 5)
    with pytest.raises(ValueError, match="cannot concatenate"):
        nn.DenseConnection(nn.Linear(3, 2), dim=0)(cr.randn(4, 3))
