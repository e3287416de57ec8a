"""Examples 1, 2 and the double-descent part of 9: linear models, XOR, random features."""

import numpy as np

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck
from chainrule.examples import linear_models, xor
from chainrule.models.regression import (
    XOR_T,
    XOR_X,
    LinearRegression,
    LogisticRegression,
    ReLUNet2,
    SoftmaxRegression,
    binary_cross_entropy_with_logits,
    linear_regression_direct,
    random_features_regression,
    select_polynomial_degree,
    softmax_cross_entropy,
    softmax_jacobian,
    xor_feature_map,
)


def test_direct_and_gradient_descent_agree():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 4)) * [1, 2, 0.5, 1]
    t = X @ rng.standard_normal(4) - 0.3 + 0.05 * rng.standard_normal(80)
    w, b = linear_regression_direct(X, t)
    # the direct solution makes the gradient (1/N) X̃ᵀ(X̃w - t) vanish
    Xb = np.hstack([X, np.ones((80, 1))])
    np.testing.assert_allclose(Xb.T @ (Xb @ np.append(w, b) - t) / 80, 0, atol=1e-10)
    m = LinearRegression(4)
    m.fit(X, t, lr=0.2, steps=2000)
    np.testing.assert_allclose(m.weight._array, w, atol=1e-4)
    assert abs(float(m.bias._array) - b) < 1e-4


def test_polynomial_degree_recovers_a_cubic():
    rng = np.random.default_rng(0)
    f = lambda x: 1 - 2 * x + 3 * x**3
    x_tr, x_va = rng.uniform(-1, 1, 30), rng.uniform(-1, 1, 200)
    t_tr = f(x_tr) + 0.05 * rng.standard_normal(30)
    t_va = f(x_va) + 0.05 * rng.standard_normal(200)
    best, errs = select_polynomial_degree(x_tr, t_tr, x_va, t_va, degrees=range(0, 10))
    assert best >= 3 and errs[best] < 0.05**2 * 1.5  # at the noise floor
    assert errs[2] > 10 * errs[3]  # too simple underfits


def test_logistic_cross_entropy_and_gradient():
    rng = np.random.default_rng(2)
    X, t = rng.standard_normal((7, 3)), rng.integers(0, 2, 7).astype(float)
    m = LogisticRegression(3)
    m.weight._array[...] = rng.standard_normal(3)
    m.bias._array[...] = 0.3
    z = X @ m.weight._array + 0.3
    y = 1 / (1 + np.exp(-z))
    # L_CE(y, t) = -t log y - (1 - t) log(1 - y), averaged over the rows
    np.testing.assert_allclose(m.loss(X, t).item(), np.mean(-t * np.log(y) - (1 - t) * np.log(1 - y)), rtol=1e-12)
    m.loss(X, t).backward()  # ∂L/∂w = 1/N Xᵀ(y - t), ∂L/∂b = mean(y - t)
    np.testing.assert_allclose(m.weight.grad._array, X.T @ (y - t) / 7, atol=1e-12)
    np.testing.assert_allclose(m.bias.grad._array, np.mean(y - t), atol=1e-12)
    # stable for large logits: log(1 + e^{1000}) - 0 = 1000
    z_big, t_big = cr.tensor([1000.0, -1000.0], dtype=np.float64), cr.tensor([0.0, 1.0], dtype=np.float64)
    big = binary_cross_entropy_with_logits(z_big, t_big)
    np.testing.assert_allclose(big.item(), 1000.0)


def test_softmax_jacobian_and_cross_entropy_gradient():
    rng = np.random.default_rng(1)
    z = cr.tensor(rng.standard_normal(5), dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda z: cr.softmax(z, -1), (z,))
    J = linear_models.autograd_softmax_jacobian(z._array)
    np.testing.assert_allclose(J, softmax_jacobian(cr.softmax(z.detach(), -1)._array), atol=1e-12)
    # ∂L_CE/∂z = y - t, and the loss passes gradcheck in W and b
    model = SoftmaxRegression(3, 4)
    X, t = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    model.weight._array[...] = rng.standard_normal((4, 3))
    zz = model(X).detach().requires_grad_(True)
    softmax_cross_entropy(zz, t).backward()
    y = cr.softmax(zz.detach(), -1)._array
    np.testing.assert_allclose(zz.grad._array, (y - np.eye(4)[t]) / 6, atol=1e-12)
    # the same through the notes' Jacobian: ∂L/∂z_j = Σ_k ∂L/∂y_k y_k(δ_kj - y_j), with ∂L/∂y_k = -t_k/(N y_k)
    chain = np.stack([softmax_jacobian(yr).T @ (-np.eye(4)[tr] / (6 * yr)) for yr, tr in zip(y, t)])
    np.testing.assert_allclose(zz.grad._array, chain, atol=1e-12)
    assert gradcheck(lambda W, b: softmax_cross_entropy(cr.as_tensor(X) @ W.t() + b, t), (model.weight, model.bias))


def test_linear_models_example_runs():
    out = linear_models.run(seed=0, verbose=False)
    assert out["linear_max_abs_diff"] < 1e-4
    assert out["softmax_jacobian_err"] < 1e-10
    assert out["logistic_test_acc"] >= 0.9 and out["softmax_test_acc"] >= 0.8


def test_hand_built_relu_net_is_exact_xor():
    np.testing.assert_array_equal(ReLUNet2.xor()(XOR_X)._array, XOR_T)


def test_xor_learned_and_feature_map():
    out = xor.run(verbose=False)
    assert out["learned_accuracy"] == 1.0 and out["learned_seed"] == 0
    assert out["feature_map_accuracy"] == 1.0
    assert out["raw_linear_accuracy"] < 1.0  # XOR is not linearly separable
    # on ψ, y = x1 + x2 - 2 x1 x2 exactly: a linear function of the features
    np.testing.assert_allclose(xor_feature_map(XOR_X) @ [1, 1, -2], XOR_T)


def test_double_descent_peak_at_interpolation_threshold():
    rng = np.random.default_rng(0)
    N, D = 40, 10
    w = rng.standard_normal(D)
    Xtr, Xte = rng.standard_normal((N, D)), rng.standard_normal((500, D))
    f = lambda X: 3 * np.tanh(X @ w / 3)
    Ps = [5, 10, 20, 30, 40, 50, 80, 200, 800]
    res = random_features_regression(Xtr, f(Xtr) + 0.3 * rng.standard_normal(N), Xte, f(Xte), Ps, seed=0)
    test = {P: te for P, (_, te) in res.items()}
    peak = max(test, key=test.get)
    assert 30 <= peak <= 50  # the peak sits at P ≈ N, the interpolation threshold
    assert res[80][0] < 1e-8  # beyond it the training error is zero (interpolation)
    assert test[800] < test[40] / 5 and test[800] < test[20]  # the second descent
    ridge = random_features_regression(Xtr, f(Xtr) + 0.3 * rng.standard_normal(N), Xte, f(Xte), [40], ridge=1e-1)
    assert ridge[40][1] < test[40] / 5  # explicit regularisation removes the peak
