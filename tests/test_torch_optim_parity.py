"""optim against PyTorch (the oracle): the schedulers' rate and momentum sequences, and LBFGS's iterates."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as S

torch = pytest.importorskip("torch")
TS = torch.optim.lr_scheduler

STEPS = 200


def _pair(opt_name="SGD", groups=(0.1,), **kw):
    """The same optimiser over one small parameter per group, in chainrule and in torch."""
    if opt_name == "SGD":
        kw.setdefault("momentum", 0.9)
    c = getattr(optim, opt_name)([{"params": [cr.zeros(2, requires_grad=True)], "lr": g} for g in groups], **kw)
    t = getattr(torch.optim, opt_name)(
        [{"params": [torch.zeros(2, requires_grad=True)], "lr": g} for g in groups], **kw
    )
    return c, t


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


def _run(c_opt, c_sched, t_opt, t_sched, steps=STEPS, step_args=None):
    """Step both for ``steps`` steps; return the (lr, momentum) of every group at every step, and get_last_lr's."""
    got, want = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(steps):
            got.append([(g["lr"], _momentum(g)) for g in c_opt.param_groups] + [tuple(c_sched.get_last_lr())])
            want.append([(g["lr"], _momentum(g)) for g in t_opt.param_groups] + [tuple(t_sched.get_last_lr())])
            c_opt.step()
            t_opt.step()
            args = () if step_args is None else (step_args(i),)
            c_sched.step(*args)
            t_sched.step(*args)
    return got, want


def _assert_same(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        for a, b in zip(g, w):
            assert np.allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=1e-12, atol=1e-15,
                               equal_nan=True), (i, g, w)


SCHEDULERS = [
    ("OneCycleLR", "SGD", dict(max_lr=0.5, total_steps=STEPS)),
    ("OneCycleLR", "SGD", dict(max_lr=[0.5, 1.0], total_steps=STEPS, anneal_strategy="linear", pct_start=0.25)),
    ("OneCycleLR", "Adam", dict(max_lr=0.01, epochs=10, steps_per_epoch=20, three_phase=True)),
    ("OneCycleLR", "Adam", dict(max_lr=0.01, total_steps=STEPS, cycle_momentum=False, div_factor=10.0,
                                final_div_factor=100.0)),
    ("OneCycleLR", "SGD", dict(max_lr=0.3, total_steps=STEPS, three_phase=True, anneal_strategy="linear",
                               base_momentum=[0.7, 0.8], max_momentum=0.99)),
    ("CyclicLR", "SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=15)),
    ("CyclicLR", "SGD", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=10, step_size_down=25,
                             mode="triangular2")),
    ("CyclicLR", "Adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=7, mode="exp_range", gamma=0.99)),
    ("CyclicLR", "SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=9, scale_fn=lambda x: 0.5 * (1 + math.sin(x)),
                             scale_mode="iterations", base_momentum=0.5, max_momentum=0.95)),
    ("CyclicLR", "RMSprop", dict(base_lr=0.01, max_lr=0.1, step_size_up=9, cycle_momentum=False)),
    ("CosineAnnealingWarmRestarts", "SGD", dict(T_0=10)),
    ("CosineAnnealingWarmRestarts", "SGD", dict(T_0=5, T_mult=2, eta_min=0.001)),
    ("PolynomialLR", "SGD", dict(total_iters=150, power=0.9)),
    ("PolynomialLR", "SGD", dict(total_iters=40, power=2.0)),
    ("MultiplicativeLR", "SGD", dict(lr_lambda=lambda t: 0.99 if t % 3 else 0.9)),
    ("LinearLR", "SGD", dict(start_factor=0.1, total_iters=30)),
    ("ConstantLR", "SGD", dict(factor=0.5, total_iters=20)),
    ("LambdaLR", "SGD", dict(lr_lambda=lambda t: 1 / (1 + t))),
    ("MultiStepLR", "SGD", dict(milestones=[30, 80, 80, 150], gamma=0.5)),
    ("CosineAnnealingLR", "SGD", dict(T_max=37, eta_min=0.01)),
]


@pytest.mark.parametrize("name,opt_name,kw", SCHEDULERS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULERS)])
def test_scheduler_sequence_matches_torch(name, opt_name, kw):
    groups = (0.1, 0.05)
    c_opt, t_opt = _pair(opt_name, groups)
    c_s = getattr(S, name)(c_opt, **kw)
    t_s = getattr(TS, name)(t_opt, **kw)
    _assert_same(*_run(c_opt, c_s, t_opt, t_s))


def test_cosine_warm_restarts_with_fractional_epochs_matches_torch():
    for T_mult in (1, 2, 3):
        c_opt, t_opt = _pair()
        c_s = S.CosineAnnealingWarmRestarts(c_opt, T_0=4, T_mult=T_mult, eta_min=0.002)
        t_s = TS.CosineAnnealingWarmRestarts(t_opt, T_0=4, T_mult=T_mult, eta_min=0.002)
        _assert_same(*_run(c_opt, c_s, t_opt, t_s, step_args=lambda i: i / 7))
        assert c_s.T_i == t_s.T_i and c_s.last_epoch == t_s.last_epoch


def test_cosine_warm_restarts_formula():
    """At T_cur = 0 after a restart the rate is back to α0; halfway through T_i it is (α0 + η_min) / 2."""
    opt = optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    s = S.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.2)
    seq = []
    for _ in range(13):
        seq.append(opt.param_groups[0]["lr"])
        s.step()
    assert seq[0] == seq[4] == seq[12] == 1.0  # restarts at 4 and 4 + 8
    assert seq[2] == pytest.approx(0.6) and seq[8] == pytest.approx(0.6)  # halfway through T_0 = 4 and T_1 = 8
    with pytest.raises(ValueError, match="T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="non-negative epoch"):
        s.step(-1)


def test_chained_and_sequential_match_torch():
    c_opt, t_opt = _pair(groups=(1.0,))
    c_s = S.ChainedScheduler([S.ConstantLR(c_opt, factor=0.1, total_iters=2), S.ExponentialLR(c_opt, gamma=0.9)])
    t_s = TS.ChainedScheduler([TS.ConstantLR(t_opt, factor=0.1, total_iters=2), TS.ExponentialLR(t_opt, gamma=0.9)])
    _assert_same(*_run(c_opt, c_s, t_opt, t_s, steps=50))
    c_opt, t_opt = _pair(groups=(1.0,))
    c_s = S.SequentialLR(c_opt, [S.LinearLR(c_opt, 0.1, total_iters=10), S.PolynomialLR(c_opt, 100, 2.0)], [10])
    t_s = TS.SequentialLR(t_opt, [TS.LinearLR(t_opt, 0.1, total_iters=10), TS.PolynomialLR(t_opt, 100, 2.0)], [10])
    _assert_same(*_run(c_opt, c_s, t_opt, t_s, steps=150))


def test_one_cycle_errors():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    s = S.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    s.step()
    s.step()
    s.step()
    with pytest.raises(ValueError, match="total steps is 3"):
        s.step()
    ada = optim.Adagrad([cr.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(ada, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.CyclicLR(ada, 0.01, 0.1)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        S.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)


@pytest.mark.parametrize("name,opt_name,kw", [
    ("OneCycleLR", "Adam", dict(max_lr=0.01, total_steps=STEPS, three_phase=True)),
    ("CyclicLR", "SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=15, mode="triangular2")),
    ("CosineAnnealingWarmRestarts", "SGD", dict(T_0=5, T_mult=2)),
    ("PolynomialLR", "SGD", dict(total_iters=150, power=0.9)),
    ("MultiplicativeLR", "SGD", dict(lr_lambda=lambda t: 0.98)),
])
def test_state_dict_resumes_the_sequence(name, opt_name, kw):
    """Stop after 60 steps, save optimiser and scheduler, load into fresh ones: the rest of the sequence is the same."""
    c_opt, t_opt = _pair(opt_name)
    full = getattr(S, name)(c_opt, **kw)
    for _ in range(60):
        c_opt.step()
        full.step()
    saved_opt = pickle.loads(pickle.dumps(c_opt.state_dict()))
    saved = pickle.loads(pickle.dumps(full.state_dict()))
    c_opt2, _ = _pair(opt_name)
    resumed = getattr(S, name)(c_opt2, **kw)
    c_opt2.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    assert resumed.get_last_lr() == full.get_last_lr()
    for _ in range(100):
        c_opt.step()
        c_opt2.step()
        full.step()
        resumed.step()
        assert c_opt2.param_groups[0]["lr"] == c_opt.param_groups[0]["lr"]
        assert _momentum(c_opt2.param_groups[0]) == _momentum(c_opt.param_groups[0])


# ---------------------------------------------------------------------------------------------
# LBFGS: the same iterates and closure-call counts as torch's, in float64
# ---------------------------------------------------------------------------------------------

def _rosenbrock(lib, w):
    x, y = w[0][0], w[0][1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


_RNG = np.random.default_rng(0)
_A = _RNG.standard_normal((30, 5))
_B = _RNG.standard_normal(30)
_X = _RNG.standard_normal((40, 3))
_Y = np.sin(_X.sum(1, keepdims=True))


def _least_squares(lib, w):
    A = lib.tensor(_A, dtype=lib.float64)
    r = A @ w[0] - lib.tensor(_B, dtype=lib.float64)
    return (r * r).sum() + 0.1 * (w[0] * w[0]).sum()


def _mlp(lib, w):
    W1, b1, W2, b2 = w
    h = lib.tanh(lib.tensor(_X, dtype=lib.float64) @ W1 + b1)
    out = h @ W2 + b2
    return ((out - lib.tensor(_Y, dtype=lib.float64)) ** 2).mean()


PROBLEMS = {
    "rosenbrock": (_rosenbrock, [np.array([-1.5, 2.0])]),
    "least_squares": (_least_squares, [np.zeros(5)]),
    "mlp": (_mlp, [_RNG.standard_normal((3, 8)) * 0.5, np.zeros(8), _RNG.standard_normal((8, 1)) * 0.5,
                   np.zeros(1)]),
}


def _lbfgs_run(lib, problem, steps, **kw):
    fn, init = PROBLEMS[problem]
    params = [lib.tensor(v.copy(), dtype=lib.float64, requires_grad=True) for v in init]
    opt = (optim if lib is cr else torch.optim).LBFGS(params, **kw)
    calls = [0]
    losses = []

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = fn(lib, params)
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
    state = opt.state[params[0]]
    return [p.detach().numpy().copy() for p in params], calls[0], losses, state["func_evals"], state["n_iter"]


LBFGS_CONFIGS = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=7, history_size=3),
    dict(lr=0.8, max_iter=10, history_size=4, line_search_fn="strong_wolfe", max_eval=12),
    dict(max_iter=1),
]


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("kw", LBFGS_CONFIGS, ids=[str(i) for i in range(len(LBFGS_CONFIGS))])
def test_lbfgs_matches_torch(problem, kw):
    # 2 steps: at most 40 iterations, where the two agree to ~1e-10; rounding differences (the
    # order of a dot product's additions) grow on the non-convex problems over a hundred more
    steps = 2
    got = _lbfgs_run(cr, problem, steps, **kw)
    want = _lbfgs_run(torch, problem, steps, **kw)
    assert got[1] == want[1], "closure calls"
    assert got[3:] == want[3:], "func_evals, n_iter"
    np.testing.assert_allclose(got[2], want[2], rtol=1e-9, atol=1e-12)
    for a, b in zip(got[0], want[0]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


TIGHT = dict(tolerance_grad=1e-12, tolerance_change=1e-16)  # the defaults stop at |∇| ≤ 1e-7, ~1e-6 from w*


def test_lbfgs_reaches_the_minimum_of_rosenbrock():
    """The minimum of (1 − x)² + 100 (y − x²)² is (1, 1) (mathematics, not torch)."""
    params, *_ = _lbfgs_run(cr, "rosenbrock", 10, line_search_fn="strong_wolfe", **TIGHT)
    np.testing.assert_allclose(params[0], [1.0, 1.0], atol=1e-6)


def test_lbfgs_least_squares_solves_the_normal_equations():
    """Ridge least squares: the minimiser solves (AᵀA + 0.1 I) w = Aᵀb."""
    params, *_ = _lbfgs_run(cr, "least_squares", 3, line_search_fn="strong_wolfe", **TIGHT)
    w = np.linalg.solve(_A.T @ _A + 0.1 * np.eye(5), _A.T @ _B)
    np.testing.assert_allclose(params[0], w, rtol=1e-6, atol=1e-8)


def test_lbfgs_state_dict_resumes_and_bumps_versions():
    fn, init = PROBLEMS["mlp"]

    def make():
        params = [cr.tensor(v.copy(), dtype=cr.float64, requires_grad=True) for v in init]
        opt = optim.LBFGS(params, max_iter=5, history_size=6, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = fn(cr, params)
            loss.backward()
            return loss
        return params, opt, closure

    p1, o1, c1 = make()
    o1.step(c1)
    saved = pickle.loads(pickle.dumps(o1.state_dict()))
    p2, o2, c2 = make()
    for a, b in zip(p2, p1):
        a.data[...] = b.data
    o2.load_state_dict(saved)
    v0 = p1[0]._version
    o1.step(c1)
    o2.step(c2)
    assert p1[0]._version > v0
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a.data, b.data)


def test_lbfgs_errors():
    w = cr.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [cr.zeros(1, requires_grad=True)], "lr": 0.1}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([w]).step()


@pytest.mark.parametrize("name,kw", [
    ("PolynomialLR", dict(total_iters=30, power=1.5)),
    ("MultiplicativeLR", dict(lr_lambda=lambda t: 0.95)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2")),
])
def test_step_with_an_epoch_matches_torch(name, kw):
    """The deprecated step(epoch): a jump uses the closed form where there is one, as in torch."""
    c_opt, t_opt = _pair(groups=(0.5,))
    c_s, t_s = getattr(S, name)(c_opt, **kw), getattr(TS, name)(t_opt, **kw)
    epochs = [3, 4, 10, 7, 31, 40]
    _assert_same(*_run(c_opt, c_s, t_opt, t_s, steps=len(epochs), step_args=lambda i: epochs[i]))
