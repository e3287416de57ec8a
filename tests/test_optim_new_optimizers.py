"""The optimisers PyTorch has that chainrule lacked: NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop,
Adafactor, Muon.

Two kinds of check per optimiser: its first two steps on the scalar problem E(w) = w²/2
(g = w), computed here by hand from the update's formula (no torch needed); and, with torch
installed, 20 steps on several parameter shapes against ``torch.optim`` (float64, rtol 1e-10),
for each optimiser and its main options, plus the state_dict layout and round trips.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

# ---- the scalar problem, by hand -----------------------------------------------------------------


def _two_steps(opt_cls, w0=1.0, **kw):
    """w after one and after two steps of ``opt_cls`` on E(w) = w²/2 (so g = w), float64."""
    w = cr.tensor(np.array([w0]), requires_grad=True)
    opt = opt_cls([w], **kw)
    out = []
    for _ in range(2):
        w.grad = cr.tensor(w._array.copy())
        opt.step()
        out.append(float(w._array[0]))
    return out


def test_nadam_by_hand():
    lr, b1, b2, eps, psi = 0.1, 0.9, 0.999, 1e-8, 4e-3
    mu = [b1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in (1, 2, 3)]
    w, m, s, prod = 1.0, 0.0, 0.0, 1.0
    want = []
    for t in (1, 2):
        g = w
        prod *= mu[t - 1]
        prod = float(np.float32(prod))  # mu_product is a float32 0-d Tensor, as in PyTorch
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        d = math.sqrt(s / (1 - b2**t)) + eps
        w = w - lr * (1 - mu[t - 1]) / (1 - prod) * g / d - lr * mu[t] / (1 - prod * mu[t]) * m / d
        want.append(w)
    # step 1 by the numbers: mu_1 = 0.9 (1 - 0.5 * 0.96^0.004), M = 0.1, D = 1 + 1e-8
    mu1 = 0.9 * (1 - 0.5 * 0.96**0.004)
    assert want[0] == pytest.approx(1 - 0.1 * (1 - mu1) / (1 - mu1) / (1 + 1e-8)
                                    - 0.1 * mu[1] / (1 - mu1 * mu[1]) * 0.1 / (1 + 1e-8), rel=1e-6)
    np.testing.assert_allclose(_two_steps(optim.NAdam, lr=lr), want, rtol=1e-12)


def test_radam_by_hand():
    # rho_inf = 2/(1-0.999) - 1 = 1999; rho_1 = 1999 - 2*0.999/0.001 = 1, rho_2 < 5: plain momentum steps
    lr = 0.1
    w1 = 1.0 - lr * 1.0  # M̂ = (0.1 * 1) / (1 - 0.9) = 1
    m2 = 0.9 * 0.1 + 0.1 * w1
    w2 = w1 - lr * m2 / (1 - 0.81)
    np.testing.assert_allclose(_two_steps(optim.RAdam, lr=lr), [w1, w2], rtol=1e-12)


def test_radam_rectified_step_by_hand():
    # beta2 = 0.5: rho_inf = 3 ... too small; beta2 = 0.9: rho_inf = 19, rho_1 = 19 - 2*0.9/0.1 = 1,
    # rho_2 = 19 - 4*0.81/0.19 = 1.947...; beta2 = 0.99: rho_inf = 199, rho_2 = 199 - 4*0.9801/0.0199 ~ 2.0.
    # The rectified branch starts at step 6 with the defaults: check it through steps 1..6 by hand.
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    rho_inf = 2 / (1 - b2) - 1
    w, m, s = 1.0, 0.0, 0.0
    for t in range(1, 7):
        g = w
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * mhat * math.sqrt(1 - b2**t) / (math.sqrt(s) + eps) * r
        else:
            w = w - lr * mhat
    assert rho > 5  # the last step took the rectified branch
    p = cr.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.RAdam([p], lr=lr)
    for _ in range(6):
        p.grad = cr.tensor(p._array.copy())
        opt.step()
    assert float(p._array[0]) == pytest.approx(w, rel=1e-12)


def test_adamax_by_hand():
    lr = 0.1
    # step 1: M = 0.1, u = max(0, |1| + 1e-8), w = 1 - 0.1/(1 - 0.9) * 0.1/u
    u1 = 1 + 1e-8
    w1 = 1 - lr / 0.1 * 0.1 / u1
    # step 2: g = w1 = 0.9..., M = 0.09 + 0.1 g, u = max(0.999 u1, g + 1e-8) = 0.999 u1
    m2 = 0.09 + 0.1 * w1
    u2 = max(0.999 * u1, w1 + 1e-8)
    w2 = w1 - lr / (1 - 0.81) * m2 / u2
    np.testing.assert_allclose(_two_steps(optim.Adamax, lr=lr), [w1, w2], rtol=1e-12)


def test_adadelta_by_hand():
    rho, eps, lr = 0.9, 1e-6, 1.0
    # step 1: S = (1 − ρ) · 1², Δ = √(0 + ε)/√(S + ε) · 1, A = (1 − ρ) Δ²
    s1 = (1 - rho) * 1.0
    d1 = math.sqrt(eps) / math.sqrt(s1 + eps)
    w1 = 1 - lr * d1
    a1 = (1 - rho) * d1 * d1
    s2 = rho * s1 + (1 - rho) * w1 * w1
    d2 = math.sqrt(a1 + eps) / math.sqrt(s2 + eps) * w1
    w2 = w1 - lr * d2
    np.testing.assert_allclose(_two_steps(optim.Adadelta), [w1, w2], rtol=1e-12)


def test_asgd_by_hand():
    lr, lambd, alpha = 0.1, 1e-2, 0.75
    # step 1: eta = lr; w = (1 - λη) w - η g;  eta_2 = lr / (1 + λ lr · 1)^α (eta is a float32 0-d Tensor)
    eta2 = float(np.float32(lr / (1 + lambd * lr) ** alpha))
    eta1 = float(np.float32(lr))
    w1 = (1 - lambd * eta1) * 1.0 - eta1 * 1.0
    w2 = (1 - lambd * eta2) * w1 - eta2 * w1
    np.testing.assert_allclose(_two_steps(optim.ASGD, lr=lr, lambd=lambd), [w1, w2], rtol=1e-12)
    # the average: with t0 = 0, mu_2 = 1/max(1, 1 - 0) = 1 -> ax = w after step 1 and 2 (mu_3 = 1/2 next)
    p = cr.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.ASGD([p], lr=lr, lambd=lambd, t0=0)
    ws = []
    for _ in range(3):
        p.grad = cr.tensor(p._array.copy())
        opt.step()
        ws.append(float(p._array[0]))
    # ax_1 = w_1 (mu_1 = 1); mu_2 = 1/max(1, 1) = 1: ax_2 = w_2; mu_3 = 1/max(1, 2) = 1/2: ax_3 = (w_2 + w_3)/2
    assert float(opt.state[p]["ax"]._array[0]) == pytest.approx((ws[1] + ws[2]) / 2, rel=1e-12)


def test_rprop_by_hand():
    lr = 0.1
    # step 1: prev = 0 -> factor 1, Δ = 0.1, w = 1 - sign(1) 0.1 = 0.9
    # step 2: g = 0.9 same sign -> Δ = 0.12, w = 0.9 - 0.12 = 0.78
    np.testing.assert_allclose(_two_steps(optim.Rprop, lr=lr), [0.9, 0.78], rtol=1e-12)
    # a sign flip: from w0 = 0.05 with Δ = 0.1 the first step overshoots to -0.05;
    # the second sees the flip: Δ ← 0.05, and no step (g is zeroed), so w stays -0.05
    np.testing.assert_allclose(_two_steps(optim.Rprop, w0=0.05, lr=lr), [-0.05, -0.05], rtol=1e-12)
    # step sizes clamp: Δ_max = 0.11 caps the growth 0.1 -> 0.12
    np.testing.assert_allclose(_two_steps(optim.Rprop, lr=lr, step_sizes=(1e-6, 0.11)), [0.9, 0.79], rtol=1e-12)


def test_adafactor_vector_by_hand():
    lr, eps2 = 0.01, 1e-3
    eps1 = float(np.finfo(np.float64).eps)
    w, v = 1.0, 0.0
    want = []
    for t in (1, 2):
        g = w
        rho = min(lr, 1 / math.sqrt(t))
        a = max(eps2, abs(w)) * rho  # RMS of a one-element vector is |w|
        beta = t**-0.8  # 1 - β̂_t
        v = v + beta * (g * g - v)
        u = g / max(math.sqrt(v), eps1)
        u = u / max(1.0, abs(u) / 1.0)  # clip RMS(U) to d = 1
        w = w - a * u
        want.append(w)
    # step 1 by the numbers: V = 1, U = 1, w = 1 - 0.01
    assert want[0] == pytest.approx(0.99, rel=1e-15)
    np.testing.assert_allclose(_two_steps(optim.Adafactor), want, rtol=1e-12)


def test_adafactor_matrix_factored_second_moment():
    """On a matrix the second moment is the rank-1 R C / mean(R) from row and column means of g²."""
    g = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = cr.tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.Adafactor([w], lr=0.5)
    w.grad = cr.tensor(g.copy())
    opt.step()
    r = (g**2).mean(axis=1, keepdims=True)  # step 1: β̂ = 0, R = row means exactly
    c = (g**2).mean(axis=0, keepdims=True)
    np.testing.assert_allclose(opt.state[w]["row_var"]._array, r, rtol=1e-14)
    np.testing.assert_allclose(opt.state[w]["col_var"]._array, c, rtol=1e-14)
    v = r @ c / r.mean()
    u = g / np.sqrt(v)
    u = u / max(1.0, math.sqrt((u**2).mean()) / 1.0)
    alpha = max(1e-3, 1.0) * min(0.5, 1.0)  # RMS(θ) = 1, ρ_1 = min(lr, 1)
    np.testing.assert_allclose(w._array, 1.0 - alpha * u, rtol=1e-13)


def test_muon_by_hand_orthogonalises():
    """One Muon step on a diagonal gradient: NS maps it to about the identity's direction."""
    w = cr.tensor(np.zeros((2, 2)), requires_grad=True)
    opt = optim.Muon([w], lr=0.1, weight_decay=0.0, momentum=0.0, nesterov=False)
    w.grad = cr.tensor(np.diag([3.0, 4.0]))
    opt.step()
    # X0 = diag(3, 4)/5; each iteration maps a singular value x to a x + b x³ + c x⁵
    a, b, c = 3.4445, -4.7750, 2.0315
    xs = np.array([0.6, 0.8])
    for _ in range(5):
        xs = a * xs + b * xs**3 + c * xs**5
    np.testing.assert_allclose(w._array, -0.1 * np.diag(xs), rtol=1e-13, atol=1e-15)
    assert np.all(np.abs(xs - 1) < 0.35)  # "about orthogonal": singular values near 1


@pytest.mark.parametrize("cls,kw,message", [
    (optim.NAdam, {"lr": -1.0}, "Invalid learning rate"),
    (optim.NAdam, {"momentum_decay": -1.0}, "Invalid momentum_decay value"),
    (optim.RAdam, {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    (optim.Adamax, {"eps": -1.0}, "Invalid epsilon value"),
    (optim.Adadelta, {"rho": 1.5}, "Invalid rho value"),
    (optim.ASGD, {"weight_decay": -1.0}, "Invalid weight_decay value"),
    (optim.Rprop, {"etas": (1.5, 1.2)}, "Invalid eta values"),
    (optim.Adafactor, {"d": 0.5}, "Clipping threshold d should be >= 1"),
    (optim.Adafactor, {"beta2_decay": 0.5}, "beta2_decay should be <= 0"),
    (optim.Muon, {"adjust_lr_fn": "nope"}, "Adjust learning rate function nope is not supported"),
    (optim.NAdam, {"capturable": True}, "capturable=True"),
    (optim.RAdam, {"differentiable": True}, "differentiable=True"),
])
def test_bad_arguments_raise(cls, kw, message):
    p = cr.zeros(2, 2, requires_grad=True)
    with pytest.raises((ValueError, RuntimeError, NotImplementedError), match=message):
        cls([p], **kw)


def test_muon_refuses_non_matrix_parameters():
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        optim.Muon([cr.zeros(3, requires_grad=True)])


def test_foreach_is_accepted_and_changes_nothing():
    a = _two_steps(optim.NAdam, lr=0.1)
    b = _two_steps(optim.NAdam, lr=0.1, foreach=True)
    assert a == b


# ---- against PyTorch -------------------------------------------------------------------------------

SHAPES = [(3,), (2, 3), (4, 1), (2, 2, 3)]
MATRIX_SHAPES = [(2, 3), (4, 2), (3, 3)]

CASES = [
    ("NAdam", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.05, "maximize": True, "betas": (0.8, 0.99)}),
    ("RAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.05, "maximize": True, "betas": (0.8, 0.9)}),
    ("Adamax", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    ("Adamax", {"lr": 0.05, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1, "eps": 1e-4}),
    ("Adadelta", {"maximize": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.05, "maximize": True, "t0": 3}),
    ("Rprop", {"lr": 0.05}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.08)}),
    ("Rprop", {"lr": 0.05, "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.1, "weight_decay": 0.1, "eps": (1e-3, 1e-2), "d": 2.0, "beta2_decay": -0.5}),
    ("Adafactor", {"lr": 0.1, "maximize": True}),
    ("Muon", {"lr": 0.05}),
    ("Muon", {"lr": 0.05, "nesterov": False, "momentum": 0.8, "weight_decay": 0.0}),
    ("Muon", {"lr": 0.05, "adjust_lr_fn": "match_rms_adamw", "ns_steps": 3}),
]


@pytest.fixture
def torch(monkeypatch):
    torch = pytest.importorskip("torch")
    # PyTorch's Muon runs its Newton–Schulz iteration in bfloat16, which chainrule cannot
    # (NumPy has no bfloat16); with .bfloat16() a float64 copy, PyTorch's Muon computes in float64
    # and becomes an exact oracle of the same iteration.
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self: self.clone())
    return torch


def _grad(w, k):
    """∂E/∂w of E(w) = Σ (a w²/2 + sin(b w)): a non-quadratic loss whose gradient changes sign."""
    a, b = 1.0 + 0.5 * k, 2.0 - 0.3 * k
    return a * w + b * np.cos(b * w)


def _init(name):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s) for s in (MATRIX_SHAPES if name == "Muon" else SHAPES)]


def _run_pair(torch, name, kw, steps, c_opt=None, t_opt=None, cs=None, ts=None):
    if cs is None:
        init = _init(name)
        cs = [cr.tensor(a.copy(), requires_grad=True) for a in init]
        ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        c_opt = getattr(optim, name)(cs, **kw)
        t_opt = getattr(torch.optim, name)(ts, **kw)
    for _ in range(steps):
        for k, (c, t) in enumerate(zip(cs, ts)):
            c.grad = cr.tensor(_grad(c._array, k))
            t.grad = torch.from_numpy(_grad(t.detach().numpy(), k))
        c_opt.step()
        t_opt.step()
    return cs, ts, c_opt, t_opt


def _assert_states_equal(c_opt, t_opt, cs, ts):
    for c, t in zip(cs, ts):
        cst, tst = c_opt.state[c], t_opt.state[t]
        assert set(cst) == set(tst)
        for key in tst:
            want = tst[key].detach().numpy() if hasattr(tst[key], "detach") else np.asarray(tst[key])
            got = cst[key]._array
            assert got.dtype == want.dtype, key
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, err_msg=key)


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_twenty_steps_match_pytorch(torch, name, kw):
    cs, ts, c_opt, t_opt = _run_pair(torch, name, kw, 20)
    for c, t in zip(cs, ts):
        np.testing.assert_allclose(c._array, t.detach().numpy(), rtol=1e-10, atol=1e-13)
    _assert_states_equal(c_opt, t_opt, cs, ts)


@pytest.mark.parametrize("name,kw", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_state_dict_layout_and_round_trip_with_pytorch(torch, name, kw):
    """Same group keys as PyTorch; PyTorch's state dict loads into chainrule and training goes on
    identically; chainrule's own state dict round-trips."""
    cs, ts, c_opt, t_opt = _run_pair(torch, name, kw, 7)
    csd, tsd = c_opt.state_dict(), t_opt.state_dict()
    assert set(csd["param_groups"][0]) == set(tsd["param_groups"][0])
    assert set(csd["state"]) == set(tsd["state"])
    # PyTorch's state -> a fresh chainrule optimiser, beside a fresh PyTorch one given the same
    # (loading casts floating state such as 'mu_product' and 'eta' to the parameter's dtype, in both)
    cs2 = [cr.tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]
    ts2 = [torch.tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]
    c_opt2 = getattr(optim, name)(cs2, **kw)
    t_opt2 = getattr(torch.optim, name)(ts2, **kw)
    c_opt2.load_state_dict({
        "state": {i: {k: (v.detach().numpy() if hasattr(v, "detach") else v) for k, v in s.items()}
                  for i, s in tsd["state"].items()},
        "param_groups": tsd["param_groups"],
    })
    t_opt2.load_state_dict(tsd)
    # chainrule's own state -> another fresh one: it goes on as the original (to rounding: like
    # PyTorch's, the load gives the float32 'mu_product'/'eta' the parameters' float64)
    cs3 = [cr.tensor(c._array.copy(), requires_grad=True) for c in cs]
    c_opt3 = getattr(optim, name)(cs3, **kw)
    c_opt3.load_state_dict(c_opt.state_dict())
    _run_pair(torch, name, kw, 5, c_opt2, t_opt2, cs2, ts2)
    for params, opt in ((cs, c_opt), (cs3, c_opt3)):
        for _ in range(5):
            for k, c in enumerate(params):
                c.grad = cr.tensor(_grad(c._array, k))
            opt.step()
    for c, c2, c3, t2 in zip(cs, cs2, cs3, ts2):
        np.testing.assert_allclose(c2._array, t2.detach().numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(c3._array, c._array, rtol=1e-10, atol=1e-13)
    _assert_states_equal(c_opt2, t_opt2, cs2, ts2)


def test_muon_runs_in_bfloat16_in_pytorch_and_stays_close():
    """Without the float64 stand-in, PyTorch's Muon rounds its iteration to bfloat16: chainrule
    (in float64) agrees to bfloat16's precision only, as its docstring says."""
    torch = pytest.importorskip("torch")
    cs, ts, _, _ = _run_pair(torch, "Muon", {"lr": 0.05}, 3)
    for c, t in zip(cs, ts):
        np.testing.assert_allclose(c._array, t.detach().numpy(), rtol=0, atol=0.02)


ALL = ["ASGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Muon", "NAdam", "RAdam",
       "RMSprop", "Rprop", "SGD"]


@pytest.mark.parametrize("name", ALL)
def test_signature_and_group_keys_are_pytorchs(name):
    """Same argument names, kinds and defaults as torch.optim's class, and the same keys in a
    parameter group (so state dicts carry the same hyper-parameters)."""
    import inspect

    torch = pytest.importorskip("torch")
    c_sig = inspect.signature(getattr(optim, name).__init__)
    t_sig = inspect.signature(getattr(torch.optim, name).__init__)
    got = [(p.name, p.kind, p.default) for p in c_sig.parameters.values()]
    want = [(p.name, p.kind, p.default) for p in t_sig.parameters.values()]
    assert got == want
    shape = (2, 3)
    c = getattr(optim, name)([cr.zeros(*shape, requires_grad=True)])
    t = getattr(torch.optim, name)([torch.zeros(shape, requires_grad=True)])
    assert set(c.param_groups[0]) == set(t.param_groups[0])
