"""batch_norm / layer_norm: forward against the notes' formula, running statistics by hand, gradcheck."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

RNG = np.random.default_rng(2)


def bn_formula(z, gamma, beta, eps, axes):
    """μ = mean, σ² = biased variance over axes;  γ (z - μ)/sqrt(σ² + ε) + β."""
    mu = z.mean(axis=axes, keepdims=True)
    var = ((z - mu) ** 2).mean(axis=axes, keepdims=True)
    shape = [1] * z.ndim
    shape[1] = z.shape[1]
    return gamma.reshape(shape) * (z - mu) / np.sqrt(var + eps) + beta.reshape(shape)


@pytest.mark.parametrize("shape, axes", [((5, 3), (0,)), ((4, 3, 5), (0, 2)), ((2, 3, 4, 3), (0, 2, 3))])
def test_batch_norm_training_forward_and_running_stats(shape, axes):
    z = RNG.standard_normal(shape) * 3 + 1
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    rm0, rv0 = RNG.standard_normal(3), RNG.random(3) + 0.5
    rm, rv = cr.tensor(rm0.copy()), cr.tensor(rv0.copy())
    y = F.batch_norm(cr.tensor(z), rm, rv, cr.tensor(gamma), cr.tensor(beta), training=True, momentum=0.2, eps=1e-3)
    np.testing.assert_allclose(y.data, bn_formula(z, gamma, beta, 1e-3, axes), atol=1e-12)
    m = z.size // 3
    mu = z.mean(axis=axes)
    unbiased = ((z - z.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (m - 1)
    np.testing.assert_allclose(rm.data, 0.8 * rm0 + 0.2 * mu, atol=1e-12)
    np.testing.assert_allclose(rv.data, 0.8 * rv0 + 0.2 * unbiased, atol=1e-12)


def test_batch_norm_running_stats_hand_numbers():
    # channel values 1, 2, 3, 6: mean 3, unbiased variance (4 + 1 + 0 + 9) / 3 = 14/3
    z = cr.tensor(np.array([[1.0], [2.0], [3.0], [6.0]]))
    rm, rv = cr.zeros(1, dtype="float64"), cr.ones(1, dtype="float64")
    F.batch_norm(z, rm, rv, training=True, momentum=0.1)
    np.testing.assert_allclose(rm.data, [0.3])
    np.testing.assert_allclose(rv.data, [0.9 + 0.1 * 14 / 3])


def test_batch_norm_eval_uses_running_stats():
    z = RNG.standard_normal((4, 3, 2))
    rm, rv = RNG.standard_normal(3), RNG.random(3) + 0.5
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    y = F.batch_norm(cr.tensor(z), cr.tensor(rm), cr.tensor(rv), cr.tensor(gamma), cr.tensor(beta), training=False)
    ref = gamma[:, None] * (z - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5) + beta[:, None]
    np.testing.assert_allclose(y.data, ref, atol=1e-12)
    w = cr.tensor(gamma, requires_grad=True)
    assert gradcheck(lambda x, w: F.batch_norm(x, cr.tensor(rm), cr.tensor(rv), w, None, False),
                     (cr.tensor(z, requires_grad=True), w))


def test_batch_norm_gradcheck_training():
    x = cr.tensor(RNG.standard_normal((3, 2, 2, 2)), requires_grad=True)
    g = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), (x, g, b))
    x1 = cr.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    assert gradgradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), (x1, g, b))


def test_batch_norm_float32_and_errors():
    x = cr.randn(4, 3, 2, 2, requires_grad=True)
    y = F.batch_norm(x, cr.zeros(3), cr.ones(3), cr.ones(3, requires_grad=True), cr.zeros(3), training=True)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(cr.zeros(1, 3), cr.zeros(3), cr.ones(3), training=True)
    with pytest.raises(ValueError, match=r"running_mean of shape \(3,\)"):
        F.batch_norm(cr.zeros(2, 3), cr.zeros(4), cr.ones(3), training=True)


@pytest.mark.parametrize("shape, norm", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((2, 2, 3), 3)])
def test_layer_norm_forward_and_gradcheck(shape, norm):
    z = RNG.standard_normal(shape) * 2 + 0.5
    ns = (norm,) if isinstance(norm, int) else norm
    gamma, beta = RNG.standard_normal(ns), RNG.standard_normal(ns)
    axes = tuple(range(z.ndim - len(ns), z.ndim))
    mu = z.mean(axis=axes, keepdims=True)
    var = ((z - mu) ** 2).mean(axis=axes, keepdims=True)
    ref = gamma * (z - mu) / np.sqrt(var + 1e-5) + beta
    y = F.layer_norm(cr.tensor(z), norm, cr.tensor(gamma), cr.tensor(beta))
    np.testing.assert_allclose(y.data, ref, atol=1e-12)
    args = (cr.tensor(z, requires_grad=True), cr.tensor(gamma, requires_grad=True), cr.tensor(beta, requires_grad=True))
    assert gradcheck(lambda x, g, b: F.layer_norm(x, norm, g, b), args)


def test_layer_norm_second_order_and_error():
    x = cr.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    assert gradgradcheck(lambda x: F.layer_norm(x, 4), (x,))
    with pytest.raises(ValueError, match=r"expected input with shape \(\*, 4\)"):
        F.layer_norm(cr.zeros(2, 3), 4)
