"""Learning-rate schedules: the sequence of rates over epochs against the closed formulas."""

from __future__ import annotations

import math
import pickle
import warnings

import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as S


def make_opt(lr=1.0, groups=None):
    if groups is None:
        return optim.SGD([cr.zeros(2, requires_grad=True)], lr=lr)
    return optim.SGD([{"params": [cr.zeros(2, requires_grad=True)], "lr": g} for g in groups], lr=lr)


def lrs(opt, sched, epochs, group=0):
    """The rate used in each epoch 0, 1, ..., epochs − 1 (the loop: train with it, then sched.step())."""
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[group]["lr"])
        assert sched.get_last_lr()[group] == opt.param_groups[group]["lr"]
        opt.step()
        sched.step()
    return out


def approx(xs):
    return pytest.approx(xs, rel=1e-12, abs=1e-15)


def test_base_lrs_initial_lr_and_last_epoch():
    opt = make_opt(groups=[0.1, 0.2])
    sched = S.StepLR(opt, step_size=2)
    assert sched.base_lrs == [0.1, 0.2]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.2]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.2]
    sched.step()
    assert sched.last_epoch == 1


def test_step_lr():
    opt = make_opt(0.8)
    got = lrs(opt, S.StepLR(opt, step_size=3, gamma=0.5), 10)
    assert got == approx([0.8 * 0.5 ** (t // 3) for t in range(10)])


def test_multi_step_lr_with_a_repeated_milestone():
    opt = make_opt(1.0)
    got = lrs(opt, S.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.1), 8)
    # number of milestones <= t: 0,0,1,1,1,3,3,3
    assert got == approx([1.0, 1.0, 0.1, 0.1, 0.1, 1e-3, 1e-3, 1e-3])


def test_exponential_lr_is_the_notes_exponential_decay():
    k, a0 = 0.3, 0.5
    opt = make_opt(a0)
    got = lrs(opt, S.ExponentialLR(opt, gamma=math.exp(-k)), 8)
    assert got == approx([a0 * math.exp(-k * t) for t in range(8)])


def test_inverse_time_lr_is_the_notes_one_over_t_decay():
    k, a0 = 0.5, 0.2
    opt = make_opt(a0)
    got = lrs(opt, S.InverseTimeLR(opt, decay_rate=k), 8)
    assert got == approx([a0 / (1 + k * t) for t in range(8)])
    with pytest.raises(ValueError, match="Invalid decay_rate: -1"):
        S.InverseTimeLR(make_opt(), decay_rate=-1)


def test_lambda_lr_per_group():
    opt = make_opt(groups=[1.0, 0.5])
    sched = S.LambdaLR(opt, [lambda t: 1 / (t + 1), lambda t: 0.9**t])
    got0 = []
    got1 = []
    for _ in range(5):
        got0.append(opt.param_groups[0]["lr"])
        got1.append(opt.param_groups[1]["lr"])
        sched.step()
    assert got0 == approx([1 / (t + 1) for t in range(5)])
    assert got1 == approx([0.5 * 0.9**t for t in range(5)])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        S.LambdaLR(opt, [lambda t: 1.0])


def test_cosine_annealing_over_more_than_one_period():
    a0, lo, T = 0.1, 0.01, 6
    opt = make_opt(a0)
    got = lrs(opt, S.CosineAnnealingLR(opt, T_max=T, eta_min=lo), 2 * T + 4)
    expected = [lo + (a0 - lo) * (1 + math.cos(math.pi * t / T)) / 2 for t in range(2 * T + 4)]
    assert got == pytest.approx(expected, rel=1e-10)
    assert got[T] == pytest.approx(lo)


def test_linear_lr_warm_up():
    opt = make_opt(0.3)
    got = lrs(opt, S.LinearLR(opt), 8)  # start 1/3, end 1, total_iters 5
    expected = [0.3 * (1 / 3 + (1 - 1 / 3) * min(t, 5) / 5) for t in range(8)]
    assert got == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(make_opt(), start_factor=0)


def test_constant_lr():
    opt = make_opt(1.0)
    got = lrs(opt, S.ConstantLR(opt, factor=0.25, total_iters=3), 6)
    assert got == approx([0.25, 0.25, 0.25, 1.0, 1.0, 1.0])


def test_sequential_lr_warm_up_then_cosine():
    a0, w, T = 0.4, 4, 6
    opt = make_opt(a0)
    warm = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=w)
    cos = S.CosineAnnealingLR(opt, T_max=T)
    sched = S.SequentialLR(opt, schedulers=[warm, cos], milestones=[w])
    got = lrs(opt, sched, w + T + 1)
    expected = [a0 * (0.1 + 0.9 * t / w) for t in range(w)]
    expected += [a0 * (1 + math.cos(math.pi * t / T)) / 2 for t in range(T + 1)]
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_sequential_lr_checks_its_arguments():
    opt = make_opt()
    a, b = S.ConstantLR(opt), S.ExponentialLR(opt, 0.9)
    with pytest.raises(ValueError, match="one more scheduler than milestones"):
        S.SequentialLR(opt, [a, b], milestones=[])
    with pytest.raises(ValueError, match="same optimizer"):
        S.SequentialLR(opt, [a, S.ExponentialLR(make_opt(), 0.9)], milestones=[2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.SequentialLR(opt, [a, S.ReduceLROnPlateau(opt)], milestones=[2])


def test_two_schedulers_on_one_optimizer_multiply():
    opt = make_opt(1.0)
    s1 = S.ExponentialLR(opt, gamma=0.9)
    s2 = S.StepLR(opt, step_size=2, gamma=0.5)
    got = []
    for _ in range(6):
        got.append(opt.param_groups[0]["lr"])
        s1.step()
        s2.step()
    assert got == approx([0.9**t * 0.5 ** (t // 2) for t in range(6)])


def test_step_with_epoch_uses_the_closed_form():
    opt = make_opt(1.0)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(5)
    assert sched.last_epoch == 5 and opt.param_groups[0]["lr"] == pytest.approx(0.25)


def test_resume_from_state_dict():
    opt = make_opt(1.0)
    sched = S.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for _ in range(4):
        sched.step()
    saved_opt = pickle.loads(pickle.dumps(opt.state_dict()))
    saved = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in saved and saved["last_epoch"] == 4
    rest = lrs(opt, sched, 5)

    opt2 = make_opt(1.0)
    opt2.load_state_dict(saved_opt)
    sched2 = S.CosineAnnealingLR(opt2, T_max=10, eta_min=0.1, last_epoch=3)  # resuming needs initial_lr
    sched2.load_state_dict(saved)
    assert lrs(opt2, sched2, 5) == approx(rest)


def test_resuming_without_initial_lr_raises():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), step_size=2, last_epoch=3)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=2)


# -- ReduceLROnPlateau ----------------------------------------------------------------------


def test_reduce_on_plateau_patience_cooldown_min_lr():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0]
    got = []
    for m in metrics:
        sched.step(m)
        got.append(opt.param_groups[0]["lr"])
    # epochs 3,4 are bad (2 > patience 1): halve after epoch 4 (index 3); cooldown swallows the
    # next one; then two more bad epochs halve again; the third reduction stops at min_lr 0.2
    assert got == approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    got_more = []
    for m in [3.0, 3.0]:
        sched.step(m)
        got_more.append(opt.param_groups[0]["lr"])
    assert got_more == approx([0.25, 0.2])
    assert sched.get_last_lr() == [0.2]


def test_reduce_on_plateau_thresholds():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    sched.step(1.0)  # best = 1.0
    sched.step(1.05)  # not above 1.0 + 0.1: bad epoch > patience 0: reduce
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.step(1.2)  # improvement
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    rel = S.ReduceLROnPlateau(make_opt(), threshold=0.1)
    rel.step(10.0)
    assert rel.is_better(8.9, rel.best) and not rel.is_better(9.1, rel.best)


def test_reduce_on_plateau_validation_and_tensor_metric():
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(make_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        S.ReduceLROnPlateau(make_opt(), mode="avg")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        S.ReduceLROnPlateau(make_opt(groups=[0.1, 0.2]), min_lr=[0.0])
    sched = S.ReduceLROnPlateau(make_opt())
    sched.step(cr.tensor(0.5))
    assert sched.best == 0.5


def test_multi_step_lr_resumes_from_a_plain_dict_of_milestones():
    opt = make_opt(1.0)
    sched = S.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
    sched.step()
    saved = dict(sched.state_dict())
    saved["milestones"] = {"2": 1, "4": 1}  # as a JSON-based checkpoint gives it back
    sched2 = S.MultiStepLR(make_opt(1.0), milestones=[9])
    sched2.load_state_dict(saved)
    got = []
    for _ in range(4):
        sched2.step()
        got.append(sched2.get_last_lr()[0])
    assert got == approx([0.5, 0.5, 0.25, 0.25])  # epochs 2..5


# ---------------------------------------------------------------- the scheduler-before-optimizer warning
_BEFORE = r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"


def test_scheduler_stepped_before_the_optimizer_warns_once():
    """PyTorch's check: a first ``scheduler.step()`` that comes before any ``optimizer.step()``
    skips the schedule's first rate, and warns; later calls and the right order do not."""
    opt = make_opt()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=_BEFORE):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()  # only the first call is checked
        opt2 = make_opt()
        sched2 = S.LambdaLR(opt2, lambda e: 1.0)
        opt2.step()
        sched2.step()


def test_an_optimizer_step_before_the_scheduler_existed_does_not_count():
    opt = make_opt()
    opt.step()
    sched = S.ExponentialLR(opt, 0.5)
    with pytest.warns(UserWarning, match=_BEFORE):
        sched.step()


_KINDS = {
    "LambdaLR": lambda L, o: L.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0),
    "StepLR": lambda L, o: L.optim.lr_scheduler.StepLR(o, 2),
    "CosineAnnealingLR": lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, 10),
    "CosineAnnealingWarmRestarts": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 3),
    "OneCycleLR": lambda L, o: L.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10),
    "CyclicLR": lambda L, o: L.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1),
    "ReduceLROnPlateau": lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o),
    "SequentialLR": lambda L, o: L.optim.lr_scheduler.SequentialLR(
        o,
        [L.optim.lr_scheduler.LinearLR(o, 0.1, total_iters=2), L.optim.lr_scheduler.ExponentialLR(o, 0.9)],
        milestones=[2],
    ),
    "ChainedScheduler": lambda L, o: L.optim.lr_scheduler.ChainedScheduler(
        [L.optim.lr_scheduler.ConstantLR(o, 0.5, total_iters=2), L.optim.lr_scheduler.ExponentialLR(o, 0.9)]
    ),
}


def _warnings_of(L, kind, order):
    opt = L.optim.SGD([L.nn.Parameter(L.zeros(1))], lr=0.1, momentum=0.9)
    if order == "optimizer before the scheduler existed":
        opt.step()
    sched = _KINDS[kind](L, opt)
    args = (1.0,) if kind == "ReduceLROnPlateau" else ()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if order in ("optimizer first", "scheduler second"):
            opt.step()
        if order == "scheduler second":
            sched.step(*args)
        sched.step(*args)
    return [str(w.message)[:60] for w in caught]


@pytest.mark.parametrize(
    "order", ["scheduler first", "optimizer first", "optimizer before the scheduler existed", "scheduler second"]
)
@pytest.mark.parametrize("kind", list(_KINDS))
def test_which_schedulers_warn_matches_pytorch(kind, order):
    torch = pytest.importorskip("torch")
    assert _warnings_of(cr, kind, order) == _warnings_of(torch, kind, order)
