"""Update rules of SGD, Adagrad, RMSprop, Adam, AdamW.

For each optimiser, the first three steps on the quadratic E(w) = Σ_i ½ a_i w_i²
(gradient g = a ⊙ w) are compared with the rule's formula written out by hand
below (plain NumPy arithmetic, never the optimiser), and a longer run on a
least-squares problem must reach the closed-form solution (np.linalg.lstsq).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

A = np.array([1.0, 3.0])
W0 = np.array([1.0, -2.0])


def run_quadratic(make_opt, steps: int = 3) -> list[np.ndarray]:
    """w after each of ``steps`` optimiser steps on E(w) = Σ ½ a w² (float64)."""
    w = cr.tensor(W0.copy(), dtype=cr.float64, requires_grad=True)
    a = cr.tensor(A, dtype=cr.float64)
    opt = make_opt([w])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * a * w * w).sum().backward()
        opt.step()
        out.append(w._array.copy())
    return out


def check(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")


# -- SGD --------------------------------------------------------------------------------


def test_sgd_plain_by_hand():
    # w ← w − α a w = (1 − α a) w with α = 0.1: factors (0.9, 0.7) per step
    got = run_quadratic(lambda p: optim.SGD(p, lr=0.1))
    check(got, [
        np.array([0.9, -1.4]),
        np.array([0.81, -0.98]),
        np.array([0.729, -0.686]),
    ])


def test_sgd_momentum_by_hand():
    # v1 = g1 = (1, -6); w1 = w0 - 0.1 v1 = (0.9, -1.4)
    # g2 = (0.9, -4.2); v2 = 0.9 v1 + g2 = (1.8, -9.6); w2 = (0.72, -0.44)
    # g3 = (0.72, -1.32); v3 = 0.9 v2 + g3 = (2.34, -9.96); w3 = (0.486, 0.556)
    got = run_quadratic(lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    check(got, [np.array([0.9, -1.4]), np.array([0.72, -0.44]), np.array([0.486, 0.556])])


def test_sgd_nesterov_weight_decay_by_hand():
    lr, mu, lam = 0.1, 0.9, 0.5
    w, v, expected = W0.copy(), None, []
    for _ in range(3):
        g = A * w + lam * w
        v = g.copy() if v is None else mu * v + g
        w = w - lr * (g + mu * v)
        expected.append(w)
    got = run_quadratic(lambda p: optim.SGD(p, lr=lr, momentum=mu, weight_decay=lam, nesterov=True))
    check(got, expected)


def test_sgd_dampening_and_maximize_by_hand():
    lr, mu, tau = 0.05, 0.8, 0.3
    w, v, expected = W0.copy(), None, []
    for _ in range(3):
        g = -(A * w)  # maximize: ascend E, i.e. descend −E
        v = g.copy() if v is None else mu * v + (1 - tau) * g  # first step: no dampening
        w = w - lr * v
        expected.append(w)
    got = run_quadratic(lambda p: optim.SGD(p, lr=lr, momentum=mu, dampening=tau, maximize=True))
    check(got, expected)
    assert abs(got[-1][1]) > abs(W0[1])  # moving away from the minimum


# -- Adagrad ----------------------------------------------------------------------------


def test_adagrad_by_hand():
    lr, eps = 0.5, 1e-10
    w, s, expected = W0.copy(), np.zeros(2), []
    for _ in range(3):
        g = A * w
        s = s + g * g
        w = w - lr * g / (np.sqrt(s) + eps)
        expected.append(w)
    # step 1 moves each coordinate by lr·sign(g): (0.5, -1.5)
    np.testing.assert_allclose(expected[0], [0.5, -1.5], atol=1e-9)
    check(run_quadratic(lambda p: optim.Adagrad(p, lr=lr)), expected)


def test_adagrad_lr_decay_weight_decay_initial_accumulator_by_hand():
    lr, eta, lam, s0, eps = 0.3, 0.5, 0.1, 0.2, 1e-10
    w, s, expected = W0.copy(), np.full(2, s0), []
    for t in (1, 2, 3):
        g = A * w + lam * w
        clr = lr / (1 + (t - 1) * eta)
        s = s + g * g
        w = w - clr * g / (np.sqrt(s) + eps)
        expected.append(w)
    got = run_quadratic(lambda p: optim.Adagrad(
        p, lr=lr, lr_decay=eta, weight_decay=lam, initial_accumulator_value=s0))
    check(got, expected)


# -- RMSprop ----------------------------------------------------------------------------


def test_rmsprop_by_hand():
    lr, alpha, eps = 0.01, 0.99, 1e-8
    w, s, expected = W0.copy(), np.zeros(2), []
    for _ in range(3):
        g = A * w
        s = alpha * s + (1 - alpha) * g * g  # the notes' S ← (1−γ)S + γ g² with γ = 1 − α
        w = w - lr * g / (np.sqrt(s) + eps)
        expected.append(w)
    # step 1: √S = 0.1 |g|, so the step is lr·sign(g)/0.1 = 0.1·sign(g)
    np.testing.assert_allclose(expected[0], [0.9, -1.9], atol=1e-7)
    check(run_quadratic(lambda p: optim.RMSprop(p, lr=lr)), expected)


def test_rmsprop_centered_momentum_weight_decay_by_hand():
    lr, alpha, eps, mu, lam = 0.02, 0.9, 1e-8, 0.5, 0.1
    w, s, gbar, b, expected = W0.copy(), np.zeros(2), np.zeros(2), np.zeros(2), []
    for _ in range(3):
        g = A * w + lam * w
        s = alpha * s + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        d = np.sqrt(s - gbar * gbar) + eps
        b = mu * b + g / d
        w = w - lr * b
        expected.append(w)
    got = run_quadratic(lambda p: optim.RMSprop(
        p, lr=lr, alpha=alpha, momentum=mu, centered=True, weight_decay=lam))
    check(got, expected)


# -- Adam / AdamW -----------------------------------------------------------------------


def adam_by_hand(lr, b1, b2, eps, lam=0.0, decoupled=False, amsgrad=False, steps=3):
    w, m, s, smax, expected = W0.copy(), np.zeros(2), np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        if decoupled:
            g = A * w  # the gradient at the point where backward ran
            w = (1 - lr * lam) * w  # the notes' W ← (1 − αλ) W, without the gradient term
        else:
            g = A * w + lam * w
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        smax = np.maximum(smax, s)
        m_hat = m / (1 - b1**t)
        s_hat = (smax if amsgrad else s) / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(s_hat) + eps)
        expected.append(w)
    return expected


def test_adam_by_hand():
    expected = adam_by_hand(0.1, 0.9, 0.999, 1e-8)
    # first step: m̂ = g, ŝ = g², so every coordinate moves by lr against sign(g)
    np.testing.assert_allclose(expected[0], [0.9, -1.9], atol=1e-8)
    check(run_quadratic(lambda p: optim.Adam(p, lr=0.1)), expected)


def test_adam_amsgrad_weight_decay_by_hand():
    expected = adam_by_hand(0.2, 0.8, 0.9, 1e-6, lam=0.3, amsgrad=True, steps=5)
    got = run_quadratic(lambda p: optim.Adam(p, lr=0.2, betas=(0.8, 0.9), eps=1e-6,
                                             weight_decay=0.3, amsgrad=True), steps=5)
    check(got, expected)


def test_adamw_by_hand():
    expected = adam_by_hand(0.1, 0.9, 0.999, 1e-8, lam=0.5, decoupled=True)
    # step 1: w ← (1 − 0.05) w, then −0.1·sign(g): (0.95 − 0.1, −1.9 + 0.1)
    np.testing.assert_allclose(expected[0], [0.85, -1.8], atol=1e-8)
    check(run_quadratic(lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.5)), expected)
    # Adam(decoupled_weight_decay=True) is the same rule
    check(run_quadratic(lambda p: optim.Adam(p, lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)),
          expected)


def test_adamw_default_weight_decay_is_1e_2():
    opt = optim.AdamW([cr.zeros(2, requires_grad=True)])
    assert opt.defaults["weight_decay"] == 1e-2
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_adam_maximize_by_hand():
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    w, m, s, expected = W0.copy(), np.zeros(2), np.zeros(2), []
    for t in (1, 2, 3):
        g = -(A * w)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        w = w - (lr / (1 - b1**t)) * m / (np.sqrt(s) / math.sqrt(1 - b2**t) + eps)
        expected.append(w)
    check(run_quadratic(lambda p: optim.Adam(p, lr=lr, maximize=True)), expected)


# -- convergence on least squares -------------------------------------------------------


def _least_squares_problem():
    rng = np.random.default_rng(0)
    X = np.hstack([rng.standard_normal((40, 3)), np.ones((40, 1))])
    y = X @ np.array([[1.5], [-2.0], [0.5], [0.3]]) + 0.1 * rng.standard_normal((40, 1))
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    # and the normal equations agree
    np.testing.assert_allclose(np.linalg.solve(X.T @ X, X.T @ y), w_star, rtol=1e-10)
    return X, y, w_star


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: optim.SGD(p, lr=0.2),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        lambda p: optim.Adagrad(p, lr=0.5),
        lambda p: optim.RMSprop(p, lr=0.01),
        lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
        lambda p: optim.Adam(p, lr=0.05),
        lambda p: optim.Adam(p, lr=0.05, amsgrad=True),
        lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.0),
    ],
    ids=["sgd", "sgd-momentum", "sgd-nesterov", "adagrad", "rmsprop", "rmsprop-centered",
         "adam", "adam-amsgrad", "adamw"],
)
def test_converges_to_least_squares_solution(make_opt):
    X, y, w_star = _least_squares_problem()
    Xt, yt = cr.tensor(X, dtype=cr.float64), cr.tensor(y, dtype=cr.float64)
    w = cr.zeros(4, 1, dtype=cr.float64, requires_grad=True)
    opt = make_opt([w])
    # a slowly decaying rate lets the adaptive methods settle instead of hovering near w*
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.997)
    for _ in range(1000):
        opt.zero_grad()
        r = Xt @ w - yt
        (r * r).mean().backward()
        opt.step()
        sched.step()
    np.testing.assert_allclose(w._array, w_star, atol=1e-6)


def test_float32_parameters_stay_float32():
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
                 lambda p: optim.Adagrad(p, weight_decay=0.1),
                 lambda p: optim.RMSprop(p, momentum=0.9, centered=True),
                 lambda p: optim.Adam(p, amsgrad=True, weight_decay=0.1),
                 lambda p: optim.AdamW(p)):
        w = cr.tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
        opt = make([w])
        for _ in range(2):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        assert w._array.dtype == np.float32
        for value in opt.state[w].values():
            if value._array.ndim:  # buffers (step counters are float32 scalars too, as in PyTorch)
                assert value._array.dtype == np.float32


def test_update_is_in_place_and_makes_no_graph():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    arr = w._array
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w._array is arr and w.is_leaf and w.requires_grad


# -- Adam's packed path for small groups ------------------------------------------------


def _adam_run(monkeypatch, pack: bool, amsgrad: bool, skip_every: int = 0, wd: float = 0.0,
              decoupled: bool = False, steps: int = 6):
    import chainrule.optim.adam as adam_mod

    if not pack:
        monkeypatch.setattr(adam_mod, "_PACK_LIMIT", 0)  # every group takes the per-parameter path
    rng = np.random.default_rng(3)
    params = [cr.tensor(rng.standard_normal(s), dtype=cr.float32, requires_grad=True)
              for s in [(4, 3), (4,), (1, 4), (1,)]]
    opt = optim.Adam(params, lr=0.05, amsgrad=amsgrad, weight_decay=wd, decoupled_weight_decay=decoupled)
    for k in range(steps):
        opt.zero_grad()
        used = params if not skip_every or k % skip_every else params[:2]  # sometimes no grad for two
        total = None
        for i, p in enumerate(used, start=1):
            e = ((p - 0.5) * (p - 0.5) * float(i)).sum()
            total = e if total is None else total + e
        total.backward()
        opt.step()
    monkeypatch.undo()
    return params, opt


@pytest.mark.parametrize("amsgrad, skip_every, wd, decoupled",
                         [(False, 0, 0.0, False), (True, 0, 0.1, False), (False, 3, 0.1, True), (True, 2, 0.0, False)])
def test_adam_packed_path_equals_per_parameter_path(monkeypatch, amsgrad, skip_every, wd, decoupled):
    packed, opt = _adam_run(monkeypatch, True, amsgrad, skip_every, wd, decoupled)
    plain, opt2 = _adam_run(monkeypatch, False, amsgrad, skip_every, wd, decoupled)
    for p, q in zip(packed, plain):
        np.testing.assert_array_equal(p._array, q._array)
    for p, q in zip(packed, plain):
        for key in opt.state[p]:
            np.testing.assert_array_equal(opt.state[p][key]._array, opt2.state[q][key]._array)
    if skip_every:  # the parameters that missed steps have smaller step counts
        assert float(opt.state[packed[3]]["step"]) < float(opt.state[packed[0]]["step"])


def test_adam_state_dict_tensors_follow_the_packed_updates():
    w = cr.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    m = opt.state_dict()["state"][0]["exp_avg"]
    np.testing.assert_allclose(m._array, [0.2, -0.2], rtol=1e-6)  # (1 − β1) g
    opt.step()  # same gradient again
    np.testing.assert_allclose(m._array, [0.9 * 0.2 + 0.2, -(0.9 * 0.2 + 0.2)], rtol=1e-6)


def test_adam_packed_state_picks_up_a_replaced_state_tensor():
    w = cr.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    opt.state[w]["exp_avg"] = cr.tensor([0.0, 0.0])  # replaced by hand: the next step must use it
    opt.step()
    np.testing.assert_allclose(opt.state[w]["exp_avg"]._array, [0.2, -0.2], rtol=1e-6)  # 0.9·0 + 0.1·g
