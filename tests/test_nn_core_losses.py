"""Losses: values against independent NumPy formulas, every reduction, gradients by finite
differences (reverse and forward mode, float64), stability at |logits| = 1000, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.func  # noqa: F401
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(7)
REDS = ("mean", "sum", "none")


def T(a, requires_grad=False):
    return cr.tensor(np.asarray(a), requires_grad=requires_grad)


def val(t):
    return t.detach().numpy()


def grads(loss, *xs):
    loss.backward()
    return [x.grad.numpy() for x in xs]


def reduce_np(ell, reduction):
    return {"mean": ell.mean(), "sum": ell.sum(), "none": ell}[reduction]


def log_softmax_np(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- independent formulas
def ce_index_np(x, t, w=None, ignore_index=-100, reduction="mean", eps=0.0):
    """PyTorch's definition, row by row: q = (1-ε) onehot(t) + ε/C, ℓ = -Σ_c w_c q_c log softmax(x)_c."""
    C = x.shape[1] if x.ndim > 1 else x.shape[0]
    xs = x.reshape(1, C) if x.ndim == 1 else np.moveaxis(x, 1, -1).reshape(-1, C)
    tf = np.asarray(t).reshape(-1)
    w = np.ones(C) if w is None else w
    ell, wsum = np.zeros(len(tf)), 0.0
    for i, ti in enumerate(tf):
        if ti == ignore_index:
            continue
        q = np.full(C, eps / C)
        q[ti] += 1 - eps
        ell[i] = -(w * q * log_softmax_np(xs[i], 0)).sum()
        wsum += w[ti]
    if reduction == "none":
        return ell.reshape(np.shape(t))
    return ell.sum() / wsum if reduction == "mean" else ell.sum()


def nll_np(lp, t, w=None, ignore_index=-100, reduction="mean"):
    C = lp.shape[1]
    xs = np.moveaxis(lp, 1, -1).reshape(-1, C)
    tf = t.reshape(-1)
    w = np.ones(C) if w is None else w
    ell = np.array([0.0 if ti == ignore_index else -w[ti] * xs[i, ti] for i, ti in enumerate(tf)])
    wsum = sum(w[ti] for ti in tf if ti != ignore_index)
    if reduction == "none":
        return ell.reshape(t.shape)
    return ell.sum() / wsum if reduction == "mean" else ell.sum()


# ---------------------------------------------------------------- values
X = R.standard_normal((4, 5))
Y = R.standard_normal((4, 5))
P = R.uniform(0.02, 0.98, (4, 5))
TB = R.uniform(0, 1, (4, 5))
W5 = R.uniform(0.5, 2.0, 5)


@pytest.mark.parametrize("reduction", REDS)
def test_regression_losses_values(reduction):
    d = X - Y
    a = np.abs(d)
    cases = [
        (F.mse_loss(T(X), T(Y), reduction=reduction), d**2),
        (F.l1_loss(T(X), T(Y), reduction=reduction), a),
        (F.huber_loss(T(X), T(Y), reduction=reduction, delta=0.6),
         np.where(a < 0.6, 0.5 * d**2, 0.6 * (a - 0.3))),
        (F.smooth_l1_loss(T(X), T(Y), reduction=reduction, beta=0.6),
         np.where(a < 0.6, 0.5 * d**2 / 0.6, a - 0.3)),
        (F.smooth_l1_loss(T(X), T(Y), reduction=reduction, beta=0.0), a),
    ]
    for got, ell in cases:
        np.testing.assert_allclose(val(got), reduce_np(ell, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDS)
def test_bce_values(reduction):
    ell = -(TB * np.log(P) + (1 - TB) * np.log(1 - P))
    np.testing.assert_allclose(val(F.binary_cross_entropy(T(P), T(TB), reduction=reduction)),
                               reduce_np(ell, reduction), rtol=1e-12)
    np.testing.assert_allclose(val(F.binary_cross_entropy(T(P), T(TB), weight=T(W5), reduction=reduction)),
                               reduce_np(W5 * ell, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDS)
def test_bce_with_logits_values(reduction):
    s = sigmoid_np(3 * X)
    pw = R.uniform(0.5, 3.0, 5)
    ell = -(pw * TB * np.log(s) + (1 - TB) * np.log(1 - s))
    got = F.binary_cross_entropy_with_logits(T(3 * X), T(TB), weight=T(W5), reduction=reduction, pos_weight=T(pw))
    np.testing.assert_allclose(val(got), reduce_np(W5 * ell, reduction), rtol=1e-10)
    ell1 = -(TB * np.log(s) + (1 - TB) * np.log(1 - s))
    got = F.binary_cross_entropy_with_logits(T(3 * X), T(TB), reduction=reduction)
    np.testing.assert_allclose(val(got), reduce_np(ell1, reduction), rtol=1e-10)


@pytest.mark.parametrize("reduction", REDS)
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_index_values(reduction, eps, weighted):
    w = W5 if weighted else None
    t = np.array([0, 4, 2, 4])
    t_ign = np.array([0, -100, 2, 4])
    for tt in (t, t_ign):
        got = F.cross_entropy(T(X), T(tt), weight=None if w is None else T(w), reduction=reduction,
                              label_smoothing=eps)
        np.testing.assert_allclose(val(got), ce_index_np(X, tt, w, -100, reduction, eps), rtol=1e-12, atol=1e-14)
    # (N, C, d1, d2) logits, a custom ignore_index
    x4 = R.standard_normal((3, 4, 2, 3))
    t4 = R.integers(0, 4, (3, 2, 3))
    t4[1, 0, 2] = 3  # ignored below
    w4 = None if w is None else w[:4]
    got = F.cross_entropy(T(x4), T(t4), weight=None if w4 is None else T(w4), ignore_index=3,
                          reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(val(got), ce_index_np(x4, t4, w4, 3, reduction, eps), rtol=1e-12, atol=1e-14)


def test_cross_entropy_unbatched_and_module():
    x = R.standard_normal(6)
    got = F.cross_entropy(T(x), T(np.array(2)), reduction="none")
    assert got.shape == ()
    np.testing.assert_allclose(val(got), -log_softmax_np(x, 0)[2], rtol=1e-12)
    loss = nn.CrossEntropyLoss(weight=T(W5), label_smoothing=0.1, reduction="sum")
    t = np.array([1, 1, 3, 0])
    np.testing.assert_allclose(val(loss(T(X), T(t))), ce_index_np(X, t, W5, -100, "sum", 0.1), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDS)
def test_cross_entropy_probability_targets(reduction):
    x = R.standard_normal((3, 4, 5))
    q = R.dirichlet(np.ones(4), (3, 5)).transpose(0, 2, 1)  # (N, C, d) probabilities over C
    w = W5[:4]
    eps = 0.1
    qs = (1 - eps) * q + eps / 4
    ell = -(w[None, :, None] * qs * log_softmax_np(x, 1)).sum(axis=1)  # (N, d)
    want = {"mean": ell.sum() / ell.size, "sum": ell.sum(), "none": ell}[reduction]
    got = F.cross_entropy(T(x), T(q), weight=T(w), reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(val(got), want, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDS)
def test_nll_loss_values(reduction):
    lp = log_softmax_np(R.standard_normal((4, 5, 3)), 1)
    t = R.integers(0, 5, (4, 3))
    t[0, 0] = -100
    for w in (None, W5):
        got = F.nll_loss(T(lp), T(t), weight=None if w is None else T(w), reduction=reduction)
        np.testing.assert_allclose(val(got), nll_np(lp, t, w, -100, reduction), rtol=1e-12)
    got = nn.NLLLoss(reduction=reduction)(T(lp[:, :, 0]), T(t[:, 1]))
    np.testing.assert_allclose(val(got), nll_np(lp[:, :, 0], t[:, 1], None, -100, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDS + ("batchmean",))
def test_kl_div_values(reduction):
    lp = log_softmax_np(R.standard_normal((4, 5)), 1)
    q = R.dirichlet(np.ones(5), 4)
    q[0, 1] = 0.0  # 0 log 0 = 0
    with np.errstate(divide="ignore"):
        ell = np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0) - q * lp
    want = ell.sum() / 4 if reduction == "batchmean" else reduce_np(ell, reduction)
    np.testing.assert_allclose(val(F.kl_div(T(lp), T(q), reduction=reduction)), want, rtol=1e-12)
    lq = np.log(q + 0.1)
    want_l = np.exp(lq) * (lq - lp)
    want_l = want_l.sum() / 4 if reduction == "batchmean" else reduce_np(want_l, reduction)
    np.testing.assert_allclose(val(nn.KLDivLoss(reduction=reduction, log_target=True)(T(lp), T(lq))), want_l,
                               rtol=1e-12)


def test_all_ignored_mean_is_nan_and_sum_is_zero():
    t = np.array([-100, -100])
    assert np.isnan(val(F.cross_entropy(T(X[:2]), T(t))))
    assert val(F.cross_entropy(T(X[:2]), T(t), reduction="sum")) == 0.0


def test_float32_stays_float32():
    x = T(X.astype(np.float32), requires_grad=True)
    for loss in (F.cross_entropy(x, T(np.array([1, 0, 3, 2]))),
                 F.cross_entropy(x, T(np.array([1, -100, 3, 2])), weight=T(W5.astype(np.float32)),
                                 label_smoothing=0.1),
                 F.binary_cross_entropy_with_logits(x, T(TB.astype(np.float32))),
                 F.mse_loss(x, T(Y.astype(np.float32)))):
        assert loss.dtype == np.float32
        (g,) = cr.autograd.engine.grad(loss, [x])
        assert g.dtype == np.float32


# ---------------------------------------------------------------- gradients (float64, both modes)
def check(fn, *inputs):
    assert gradcheck(fn, inputs, check_forward_ad=True)


@pytest.mark.parametrize("reduction", REDS)
def test_gradcheck_regression_and_bce(reduction):
    x, y = T(X, True), T(Y, True)
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, y)
    check(lambda a, b: F.l1_loss(a, b, reduction=reduction), x, y)
    check(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.6), x, y)
    check(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.6), x, y)
    p, t, w = T(P, True), T(TB, True), T(W5)
    check(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), p, t)
    z, pw = T(3 * X, True), T(R.uniform(0.5, 3.0, 5), True)
    check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), z, t)
    check(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=c),
          z, t, pw)


@pytest.mark.parametrize("reduction", REDS)
def test_gradcheck_cross_entropy_index(reduction):
    x = T(X, True)
    t = T(np.array([0, 4, 2, 4]))
    t_ign = T(np.array([0, -100, 2, 4]))
    w = T(W5)
    check(lambda a: F.cross_entropy(a, t, reduction=reduction), x)
    check(lambda a: F.cross_entropy(a, t_ign, weight=w, reduction=reduction, label_smoothing=0.3), x)
    x4 = T(R.standard_normal((2, 3, 2, 2)), True)
    t4 = T(np.array([[[0, 2], [1, 1]], [[2, -100], [0, 1]]]))
    check(lambda a: F.cross_entropy(a, t4, weight=T(W5[:3]), reduction=reduction, label_smoothing=0.1), x4)
    check(lambda a: F.nll_loss(a, t4, weight=T(W5[:3]), reduction=reduction), x4)


@pytest.mark.parametrize("reduction", REDS)
def test_gradcheck_cross_entropy_probabilities_and_kl(reduction):
    x = T(R.standard_normal((3, 4, 2)), True)
    q = T(R.dirichlet(np.ones(4), (3, 2)).transpose(0, 2, 1).copy(), True)
    check(lambda a, b: F.cross_entropy(a, b, weight=T(W5[:4]), reduction=reduction, label_smoothing=0.2), x, q)
    lp = T(log_softmax_np(X, 1), True)
    qk = T(R.dirichlet(np.ones(5), 4), True)
    check(lambda a, b: F.kl_div(a, b, reduction=reduction), lp, qk)


def test_gradgradcheck_fused_primitives():
    """Second derivatives through the rules' TensorMath path (create_graph=True)."""
    x = T(X, True)
    t = T(np.array([0, -100, 2, 4]))
    assert gradgradcheck(lambda a: F.cross_entropy(a, t, weight=T(W5), label_smoothing=0.2), (x,))
    assert gradgradcheck(lambda a: F.cross_entropy(a, T(np.array([1, 0, 3, 3])), reduction="none"), (x,))
    z, tb, pw = T(3 * X, True), T(TB, True), T(R.uniform(0.5, 3.0, 5), True)
    assert gradgradcheck(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c), (z, tb, pw))
    assert gradgradcheck(lambda a, b: F.binary_cross_entropy(a, b), (T(P, True), tb))


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = T(X, True)
    t = np.array([3, 1, 0, 4])
    sm = np.exp(log_softmax_np(X, 1))
    (g,) = grads(F.cross_entropy(x, T(t)), x)
    np.testing.assert_allclose(g, (sm - np.eye(5)[t]) / 4, rtol=1e-12, atol=1e-15)
    # forward mode: d loss = <softmax - onehot, dx> / N
    v = R.standard_normal(X.shape)
    _, dl = cr.func.jvp(lambda a: F.cross_entropy(a, T(t)), (T(X),), (T(v),))
    np.testing.assert_allclose(val(dl), ((sm - np.eye(5)[t]) * v).sum() / 4, rtol=1e-12)


# ---------------------------------------------------------------- stability
def test_cross_entropy_exact_at_1000():
    x = T(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]]), True)
    loss = F.cross_entropy(x, T(np.array([1, 0])), reduction="sum")
    # row 0: lse = 1000, loss = 2000; row 1: lse = 1000 + log 2, loss = 2000 + log 2
    np.testing.assert_allclose(val(loss), 4000 + np.log(2), rtol=1e-15)
    (g,) = grads(loss, x)
    np.testing.assert_array_equal(g, [[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]])
    x32 = T(np.array([[1000.0, -1000.0]], dtype=np.float32), True)
    loss = F.cross_entropy(x32, T(np.array([0])), label_smoothing=0.5)
    # q = [0.75, 0.25]: loss = 0.25 * 2000
    np.testing.assert_allclose(val(loss), 500.0, rtol=1e-6)
    (g,) = grads(loss, x32)
    np.testing.assert_allclose(g, [[0.25, -0.25]], rtol=1e-6)


def test_bce_with_logits_exact_at_1000():
    x = T(np.array([1000.0, -1000.0, 1000.0, -1000.0]), True)
    t = T(np.array([0.0, 1.0, 1.0, 0.0]))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_array_equal(val(loss), [1000.0, 1000.0, 0.0, 0.0])
    (g,) = grads(loss.sum(), x)
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.0, 0.0])  # σ(x) - t
    x = T(np.array([-1000.0, 1000.0]), True)
    loss = F.binary_cross_entropy_with_logits(x, T(np.array([1.0, 1.0])), reduction="sum", pos_weight=T(3.0))
    np.testing.assert_array_equal(val(loss), 3000.0)
    (g,) = grads(loss, x)
    np.testing.assert_array_equal(g, [-3.0, 0.0])  # (1 + (p-1) t) σ(x) - p t


def test_bce_clamps_logs_at_minus_100():
    x = T(np.array([0.0, 1.0, 0.0, 1.0]), True)
    loss = F.binary_cross_entropy(x, T(np.array([1.0, 0.0, 0.0, 1.0])), reduction="none")
    np.testing.assert_array_equal(val(loss), [100.0, 100.0, 0.0, 0.0])
    (g,) = grads(loss.sum(), x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, [-1e12, 1e12, 0.0, 0.0])  # (x - t) / max(x (1 - x), 1e-12)


# ---------------------------------------------------------------- errors
def test_target_out_of_range():
    with pytest.raises(IndexError, match="cross_entropy: target 12 is out of range for 10 classes"):
        F.cross_entropy(T(np.zeros((3, 10))), T(np.array([1, 12, 0])))
    with pytest.raises(ValueError, match="target -1 is out of range for 10 classes"):
        nn.CrossEntropyLoss()(T(np.zeros((3, 10))), T(np.array([1, -1, 0])))
    with pytest.raises(IndexError, match="nll_loss: target 5"):
        F.nll_loss(T(np.zeros((2, 5))), T(np.array([5, 0])))


def test_shape_and_dtype_errors():
    with pytest.raises(ValueError, match=r"batch size \(3\).*\(4\)"):
        F.cross_entropy(T(np.zeros((3, 10))), T(np.array([1, 2, 0, 1])))
    with pytest.raises(TypeError, match="integer dtype"):
        F.cross_entropy(T(np.zeros((3, 10))), T(np.array([1.0, 2.0, 0.0])))
    with pytest.raises(ValueError, match=r"probability targets must have the input's shape \(3, 10\)"):
        F.cross_entropy(T(np.zeros((3, 10))), T(np.zeros((3, 9))))
    with pytest.raises(ValueError, match=r"weight must have shape \(10,\)"):
        F.cross_entropy(T(np.zeros((3, 10))), T(np.array([1, 2, 0])), weight=T(np.ones(9)))
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(T(np.array([0.5, 1.5])), T(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match=r"target size \(3,\) must be the same as input size \(2,\)"):
        F.binary_cross_entropy_with_logits(T(np.zeros(2)), T(np.zeros(3)))
    with pytest.raises(ValueError, match="mse_loss: input shape"):
        F.mse_loss(T(np.zeros((2, 3))), T(np.zeros((4,))))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(T(np.zeros((2, 3))), T(np.zeros((3,))))


@pytest.mark.parametrize(
    "fn",
    [F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss, F.binary_cross_entropy,
     F.binary_cross_entropy_with_logits, F.kl_div],
)
def test_bad_reduction_elementwise(fn):
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn(T(np.full(3, 0.5)), T(np.full(3, 0.5)), reduction="avg")


def test_bad_reduction_classification_and_modules():
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match="reduction must be one of"):
            fn(T(np.zeros((2, 3))), T(np.array([0, 1])), reduction="avg")
    for cls in (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss, nn.BCELoss, nn.BCEWithLogitsLoss,
                nn.CrossEntropyLoss, nn.NLLLoss, nn.KLDivLoss):
        with pytest.raises(ValueError, match=f"{cls.__name__}: reduction must be one of"):
            cls(reduction="avg")


# ---------------------------------------------------------------- modules
def test_modules_match_functional_and_register_buffers():
    w, pw = T(W5), T(R.uniform(0.5, 2, 5))
    m = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)
    assert set(m.state_dict()) == {"weight", "pos_weight"}
    assert [n for n, _ in m.named_buffers()] == ["weight", "pos_weight"]
    np.testing.assert_array_equal(
        val(m(T(X), T(TB))), val(F.binary_cross_entropy_with_logits(T(X), T(TB), weight=w, pos_weight=pw)))
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []  # a None buffer is not saved
    assert list(nn.BCELoss(weight=w).state_dict()) == ["weight"]
    assert nn.NLLLoss(ignore_index=3).ignore_index == 3
    pairs = [(nn.MSELoss(reduction="sum"), F.mse_loss(T(X), T(Y), reduction="sum")),
             (nn.L1Loss(), F.l1_loss(T(X), T(Y))),
             (nn.HuberLoss(delta=0.5), F.huber_loss(T(X), T(Y), delta=0.5)),
             (nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(T(X), T(Y), beta=0.5))]
    for mod, want in pairs:
        np.testing.assert_array_equal(val(mod(T(X), T(Y))), val(want))
    np.testing.assert_array_equal(val(nn.BCELoss(weight=w, reduction="none")(T(P), T(TB))),
                                  val(F.binary_cross_entropy(T(P), T(TB), weight=w, reduction="none")))
    assert "reduction='sum'" in repr(nn.MSELoss(reduction="sum"))
