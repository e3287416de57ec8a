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
    t = getattr(torch.optim, opt_name)([{"params": [torch.zeros(2, requires_grad=True)], "lr": g} for g in groups], **kw)
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
