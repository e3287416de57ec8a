"""Losses, normalisation layers, the nn utilities and the optimisers on the strict test back end
(tests/strict_backend.py, arrays NumPy refuses): issue 11, items 1 and 5.

Each case runs the same float64 computation on the CPU and on device 'strict' and compares the
values, the gradients (reverse mode) and, where the op has forward mode, the tangents to 1e-12.
Any operation that bypasses the back-end table raises StrictnessError on the strict run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from strict_backend import DEVICE
from strict_backend import host as _values

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import forward_ad as fwAD
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_, remove_weight_norm, weight_norm

RTOL = 1e-12




def _close(got: cr.Tensor, want: cr.Tensor) -> None:
    assert got.device == DEVICE
    np.testing.assert_allclose(_values(got), _values(want), rtol=RTOL, atol=1e-14)


def _data(seed: int = 0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- the three modes, both devices
def _reverse(fn, args, dev):
    """fn(*args) on ``dev`` with the floating args as leaves; (output, their gradients)."""
    leaves = [a.detach().to(dev).requires_grad_(True) if a.dtype == cr.float64 else a.to(dev) for a in args]
    out = fn(*leaves)
    w = cr.tensor(_data(9).standard_normal(out.shape)).to(dev)  # a weighting: every output counts
    (out * w).sum().backward()
    return out, [t.grad for t in leaves if t.dtype == cr.float64]


def _forward_mode(fn, args, dev):
    """The tangent of fn(*args) with random tangents on the floating args."""
    with fwAD.dual_level():
        duals = []
        for i, a in enumerate(args):
            if a.dtype == cr.float64:
                da = cr.tensor(_data(20 + i).standard_normal(a.shape))
                duals.append(fwAD.make_dual(a.to(dev), da.to(dev)))
            else:
                duals.append(a.to(dev))
        return fwAD.unpack_dual(fn(*duals)).tangent


def check(fn, *args, jvp: bool = True) -> None:
    """fn on strict tensors gives the CPU's values, gradients and (with ``jvp``) tangents."""
    want, wgrads = _reverse(fn, args, "cpu")
    got, ggrads = _reverse(fn, args, "strict")
    _close(got, want)
    assert len(ggrads) == len(wgrads)
    for g, w in zip(ggrads, wgrads):
        if w is None:
            assert g is None
        else:
            _close(g, w)
    if jvp:
        _close(_forward_mode(fn, args, "strict"), _forward_mode(fn, args, "cpu"))


# ---------------------------------------------------------------- losses
def _x(*shape, seed=0):
    return cr.tensor(_data(seed).standard_normal(shape))


def _p(*shape, seed=1):  # probabilities in (0, 1)
    return cr.tensor(_data(seed).uniform(0.05, 0.95, shape))


def _sign(*shape, seed=2):  # targets in {1, -1}
    return cr.tensor(np.where(_data(seed).standard_normal(shape) > 0, 1.0, -1.0))


def _idx(n, c, seed=3, shape=None):
    return cr.tensor(_data(seed).integers(0, c, shape or (n,)), dtype=cr.int64)


IDX_IGNORED = cr.tensor([0, 2, -100, 1, 2], dtype=cr.int64)
W3 = cr.tensor([0.5, 2.0, 1.5], dtype=cr.float64)


def _w(x):
    """Class (or last-axis) weights on x's device."""
    return W3.to(x.device)

# name -> (fn(reduction, *args), args, has forward mode)
LOSSES = {
    "mse_loss": (lambda r, x, y: F.mse_loss(x, y, reduction=r), (_x(4, 3), _x(4, 3, seed=1)), True),
    "l1_loss": (lambda r, x, y: F.l1_loss(x, y, reduction=r), (_x(4, 3), _x(4, 3, seed=1)), True),
    "huber_loss": (lambda r, x, y: F.huber_loss(x, y, reduction=r, delta=0.7, weight=_w(x)),
                   (_x(4, 3), _x(4, 3, seed=1)), True),
    "smooth_l1_loss": (lambda r, x, y: F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
                       (_x(4, 3), _x(4, 3, seed=1)), True),
    "binary_cross_entropy": (lambda r, x, y: F.binary_cross_entropy(x, y, weight=_w(x), reduction=r),
                             (_p(4, 3), _p(4, 3, seed=5)), True),
    "bce_with_logits": (lambda r, x, y: F.binary_cross_entropy_with_logits(x, y, reduction=r),
                        (_x(4, 3), _p(4, 3)), True),
    "bce_with_logits_weights": (
        lambda r, x, y, p: F.binary_cross_entropy_with_logits(x, y, weight=_w(x), reduction=r, pos_weight=p),
        (_x(4, 3), _p(4, 3), _p(3, seed=7)), True),
    "cross_entropy": (lambda r, x, t: F.cross_entropy(x, t, reduction=r), (_x(5, 3), _idx(5, 3)), True),
    "cross_entropy_weighted": (
        lambda r, x, t: F.cross_entropy(x, t, weight=_w(x), reduction=r, label_smoothing=0.1),
        (_x(5, 3), IDX_IGNORED), True),
    "cross_entropy_2d": (lambda r, x, t: F.cross_entropy(x, t, reduction=r),
                         (_x(2, 3, 2, 2), _idx(2, 3, shape=(2, 2, 2))), True),
    "cross_entropy_probs": (lambda r, x, t: F.cross_entropy(x, t, weight=_w(x), reduction=r,
                                                            label_smoothing=0.2),
                            (_x(5, 3), _p(5, 3)), True),
    "nll_loss": (lambda r, x, t: F.nll_loss(x, t, reduction=r), (_x(5, 3), _idx(5, 3)), True),
    "nll_loss_weighted": (lambda r, x, t: F.nll_loss(x, t, weight=_w(x), reduction=r),
                          (_x(5, 3), IDX_IGNORED), True),
    "kl_div": (lambda r, x, t: F.kl_div(x, t, reduction=r), (_x(4, 3), _p(4, 3)), True),
    "kl_div_log_target": (lambda r, x, t: F.kl_div(x, t, reduction=r, log_target=True),
                          (_x(4, 3), _x(4, 3, seed=4)), True),
    "margin_ranking_loss": (lambda r, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.2, reduction=r),
                            (_x(6), _x(6, seed=1), _sign(6)), True),
    "hinge_embedding_loss": (lambda r, x, y: F.hinge_embedding_loss(x, y, reduction=r),
                             (_x(6), _sign(6)), True),
    "soft_margin_loss": (lambda r, x, y: F.soft_margin_loss(x, y, reduction=r), (_x(6), _sign(6)), True),
    "cosine_embedding_loss": (lambda r, a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1, reduction=r),
                              (_x(4, 3), _x(4, 3, seed=1), _sign(4)), True),
    "triplet_margin_loss": (lambda r, a, p, n: F.triplet_margin_loss(a, p, n, reduction=r),
                            (_x(4, 3), _x(4, 3, seed=1), _x(4, 3, seed=2)), True),
    "triplet_margin_with_distance_loss": (
        lambda r, a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=True, reduction=r),
        (_x(4, 3), _x(4, 3, seed=1), _x(4, 3, seed=2)), True),
    "poisson_nll_loss": (lambda r, x, y: F.poisson_nll_loss(x, y, full=True, reduction=r),
                         (_x(4, 3), _p(4, 3) * 4), True),
    "poisson_nll_loss_rates": (lambda r, x, y: F.poisson_nll_loss(x, y, log_input=False, reduction=r),
                               (_p(4, 3), _p(4, 3, seed=6) * 4), True),
    "gaussian_nll_loss": (lambda r, x, y, v: F.gaussian_nll_loss(x, y, v, full=True, reduction=r),
                          (_x(4, 3), _x(4, 3, seed=1), _p(4, 1)), True),
    "gaussian_nll_loss_float_var": (lambda r, x, y: F.gaussian_nll_loss(x, y, 0.5, reduction=r),
                                    (_x(4, 3), _x(4, 3, seed=1)), True),
    "multilabel_soft_margin_loss": (
        lambda r, x, y: F.multilabel_soft_margin_loss(x, y, weight=_w(x), reduction=r),
        (_x(4, 3), cr.tensor(_data(4).integers(0, 2, (4, 3)))), True),
    "multi_margin_loss": (lambda r, x, t: F.multi_margin_loss(x, t, p=2, weight=_w(x), reduction=r),
                          (_x(5, 3), _idx(5, 3)), True),
    "multilabel_margin_loss": (
        lambda r, x, t: F.multilabel_margin_loss(x, t, reduction=r),
        (_x(3, 4), cr.tensor([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 3]], dtype=cr.int64)), True),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_on_strict(strict, name, reduction):
    fn, args, jvp = LOSSES[name]
    check(lambda *a: fn(reduction, *a), *args, jvp=jvp)


def test_kl_div_batchmean_on_strict(strict):
    check(lambda x, t: F.kl_div(x, t, reduction="batchmean"), _x(4, 3), _p(4, 3))


def test_cross_entropy_of_a_single_sample_on_strict(strict):
    check(lambda x, t: F.cross_entropy(x, t), _x(3), cr.tensor(2))


def test_loss_modules_on_strict(strict):
    check(lambda x, t: nn.CrossEntropyLoss(weight=_w(x).to(x.device))(x, t), _x(5, 3), IDX_IGNORED)
    check(lambda x, t: nn.BCEWithLogitsLoss(pos_weight=_w(x).to(x.device))(x, t), _x(4, 3), _p(4, 3))


# ---------------------------------------------------------------- normalisation
def _layer_check(make, x, steps: int = 2, jvp: bool = True) -> None:
    """The layer on both devices: outputs, input and parameter gradients, buffers (running stats)."""
    cr.manual_seed(0)
    cpu = make().double()
    cr.manual_seed(0)
    dev = make().double().to("strict")
    for _ in range(steps):
        cpu.zero_grad()
        dev.zero_grad()
        want, (wx,) = _reverse(cpu, (x,), "cpu")
        got, (gx,) = _reverse(dev, (x,), "strict")
        _close(got, want)
        _close(gx, wx)
    for p, q in zip(cpu.parameters(), dev.parameters()):
        _close(q.grad, p.grad)
    for (name, b), (_, c) in zip(cpu.named_buffers(), dev.named_buffers()):
        assert c.device == DEVICE, name
        np.testing.assert_allclose(_values(c), _values(b), rtol=RTOL)
    if jvp:
        _close(_forward_mode(dev, (x,), "strict"), _forward_mode(cpu, (x,), "cpu"))


NORMS = {
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), _x(6, 3)),
    "BatchNorm1d_seq": (lambda: nn.BatchNorm1d(3, momentum=None), _x(4, 3, 5)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), _x(4, 3, 2, 3)),
    "BatchNorm2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), _x(4, 3, 2, 3)),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(2), _x(2, 2, 2, 2, 3)),
    "LayerNorm": (lambda: nn.LayerNorm((2, 3)), _x(4, 2, 3)),
    "LayerNorm_no_bias": (lambda: nn.LayerNorm(3, bias=False), _x(4, 3)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), _x(3, 4, 5)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True), _x(2, 3, 5)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3), _x(2, 3, 2, 3)),
    "RMSNorm": (lambda: nn.RMSNorm(3), _x(4, 3)),
    "RMSNorm_eps": (lambda: nn.RMSNorm((2, 3), eps=1e-3, elementwise_affine=False), _x(4, 2, 3)),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(2), _x(2, 4, 3)),
    "SyncBatchNorm": (lambda: nn.SyncBatchNorm(3), _x(6, 3)),
}


@pytest.mark.parametrize("name", list(NORMS))
def test_normalisation_training_on_strict(strict, name):
    make, x = NORMS[name]
    _layer_check(make, x)


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "SyncBatchNorm"])
def test_normalisation_eval_with_running_stats_on_strict(strict, name):
    make, x = NORMS[name]

    def trained():
        layer = make().double()
        with cr.no_grad():
            layer(_x(*x.shape, seed=11))  # running statistics that are not the initial ones
            if layer.weight is not None:
                layer.weight.mul_(1.5)
        return layer.eval()

    _layer_check(trained, x)


def test_functional_batch_norm_without_affine_on_strict(strict):
    rm, rv = cr.zeros(3, dtype=cr.float64), cr.ones(3, dtype=cr.float64)
    check(lambda x: F.batch_norm(x, rm.to(x.device), rv.to(x.device), training=True), _x(5, 3))
    check(lambda x, w: F.batch_norm(x, None, None, weight=w, training=True), _x(5, 3), _p(3))


# ---------------------------------------------------------------- nn utilities
def _grads_pair():
    """The same parameters with the same gradients on the CPU and on strict."""
    rng = _data(5)
    values = [rng.standard_normal(s) * 3 for s in [(3, 4), (4,), (2, 2)]]
    out = []
    for dev in ("cpu", "strict"):
        ps = [cr.tensor(v).to(dev).requires_grad_(True) for v in values]
        (sum((p * p * p).sum() for p in ps)).backward()
        out.append(ps)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.0])
def test_clip_grad_norm_on_strict(strict, norm_type):
    cpu, dev = _grads_pair()
    want = clip_grad_norm_(cpu, 1.5, norm_type)
    got = clip_grad_norm_(dev, 1.5, norm_type)
    _close(got, want)
    for p, q in zip(cpu, dev):
        _close(q.grad, p.grad)


def test_total_norm_and_clip_with_norm_on_strict(strict):
    cpu, dev = _grads_pair()
    total = nn.utils.get_total_norm([q.grad for q in dev])
    _close(total, nn.utils.get_total_norm([p.grad for p in cpu]))
    nn.utils.clip_grads_with_norm_(dev, 1.0, total)
    nn.utils.clip_grads_with_norm_(cpu, 1.0, total.cpu())
    for p, q in zip(cpu, dev):
        _close(q.grad, p.grad)


def test_clip_grad_value_on_strict(strict):
    cpu, dev = _grads_pair()
    clip_grad_value_(cpu, 2.0)
    clip_grad_value_(dev, 2.0)
    for p, q in zip(cpu, dev):
        _close(q.grad, p.grad)


def test_parameters_vector_round_trip_on_strict(strict):
    cpu, dev = _grads_pair()
    v = nn.utils.parameters_to_vector(dev)
    _close(v, nn.utils.parameters_to_vector(cpu))
    nn.utils.vector_to_parameters(v * 2, dev)
    for p, q in zip(cpu, dev):
        _close(q, p * 2)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_on_strict(strict, dim):
    class Scale(nn.Module):  # a module with one parameter, y = x wᵀ through ops only
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(_x(2, 3, seed=8))

        def forward(self, x):
            return x @ self.weight.transpose(0, 1)

    cpu = weight_norm(Scale().double(), dim=dim)
    dev = weight_norm(Scale().double().to("strict"), dim=dim)
    assert dev.weight_g.device == DEVICE and dev.weight_v.device == DEVICE
    x = _x(4, 3)
    _close(dev(x.to("strict")), cpu(x))
    cpu(x).sum().backward()
    dev(x.to("strict")).sum().backward()
    _close(dev.weight_g.grad, cpu.weight_g.grad)
    _close(dev.weight_v.grad, cpu.weight_v.grad)
    remove_weight_norm(cpu)
    remove_weight_norm(dev)
    _close(dev.weight, cpu.weight)


# ---------------------------------------------------------------- optimisers
OPTIMISERS = {
    "SGD": (cr.optim.SGD, dict(lr=0.1)),
    "SGD_momentum": (cr.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
    "SGD_dampening": (cr.optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.2, maximize=True)),
    "Adam": (cr.optim.Adam, dict(lr=0.01)),
    "Adam_amsgrad": (cr.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    "AdamW": (cr.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    "AdamW_amsgrad": (cr.optim.AdamW, dict(lr=0.01, amsgrad=True)),
    "Adagrad": (cr.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    "RMSprop": (cr.optim.RMSprop, dict(lr=0.01)),
    "RMSprop_centered": (cr.optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    "Adamax": (cr.optim.Adamax, dict(lr=0.01, weight_decay=0.1)),
    "NAdam": (cr.optim.NAdam, dict(lr=0.01, weight_decay=0.1)),
    "NAdam_decoupled": (cr.optim.NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    "RAdam": (cr.optim.RAdam, dict(lr=0.01)),
    "RAdam_decoupled": (cr.optim.RAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    "Adadelta": (cr.optim.Adadelta, dict(lr=1.0, weight_decay=0.1)),
    "ASGD": (cr.optim.ASGD, dict(lr=0.01, t0=1)),
    "Rprop": (cr.optim.Rprop, dict(lr=0.01)),
    "Adafactor": (cr.optim.Adafactor, dict(lr=0.01)),
}


def _quadratic(params):
    """A loss with a different curvature per element: Σ c ⊙ p² + Σ p³/10."""
    return sum((p * p * (1 + k) + p * p * p * 0.1).sum() for k, p in enumerate(params))


def _param_values():
    rng = _data(7)
    return [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 3)]]


def _optimise(make, dev, steps=3, sched=None):
    params = [cr.tensor(v).to(dev).requires_grad_(True) for v in _param_values()]
    opt = make(params)
    scheduler = sched(opt) if sched else None
    for _ in range(steps):
        opt.zero_grad()
        _quadratic(params).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return params, opt


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_optimiser_on_strict(strict, name):
    cls, kw = OPTIMISERS[name]
    want, _ = _optimise(lambda ps: cls(ps, **kw), "cpu")
    got, opt = _optimise(lambda ps: cls(ps, **kw), "strict")
    for p, q in zip(want, got):
        _close(q, p)
    for s in opt.state.values():  # the state lives on the parameters' device
        for v in s.values():
            if isinstance(v, cr.Tensor) and v.ndim:
                assert v.device == DEVICE


def test_muon_on_strict(strict):
    def make(ps):
        return cr.optim.Muon([ps[0]], lr=0.02, momentum=0.9)

    want, _ = _optimise(make, "cpu")
    got, _ = _optimise(make, "strict")
    _close(got[0], want[0])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_strict(strict, line_search_fn):
    def run(dev):
        params = [cr.tensor(v).to(dev).requires_grad_(True) for v in _param_values()]
        opt = cr.optim.LBFGS(params, lr=0.5, max_iter=6, history_size=3, line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = _quadratic(params)
            loss.backward()
            return loss

        losses = [opt.step(closure) for _ in range(2)]
        return params, losses

    want, wl = run("cpu")
    got, gl = run("strict")
    for p, q in zip(want, got):
        _close(q, p)
    for a, b in zip(wl, gl):
        np.testing.assert_allclose(_values(b), _values(a), rtol=RTOL)


SCHEDULERS = {
    "StepLR": lambda o: cr.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5),
    "CosineAnnealingLR": lambda o: cr.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4),
    "OneCycleLR": lambda o: cr.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5),
    "CyclicLR": lambda o: cr.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_scheduler_on_strict(strict, name):
    def make(ps):
        return cr.optim.SGD(ps, lr=0.1, momentum=0.9)

    want, wopt = _optimise(make, "cpu", sched=SCHEDULERS[name])
    got, gopt = _optimise(make, "strict", sched=SCHEDULERS[name])
    for p, q in zip(want, got):
        _close(q, p)
    assert gopt.param_groups[0]["lr"] == wopt.param_groups[0]["lr"]


def test_reduce_lr_on_plateau_with_a_strict_metric(strict):
    params, opt = _optimise(lambda ps: cr.optim.SGD(ps, lr=0.1), "strict")
    sched = cr.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for _ in range(3):
        sched.step(cr.tensor(1.0, dtype=cr.float64).to("strict"))
    assert opt.param_groups[0]["lr"] < 0.1


def test_optimiser_state_dict_round_trip_and_zero_grad_on_strict(strict):
    """load_state_dict puts a parameter's state on its device (the saved state may be host
    arrays); zero_grad(set_to_none=False) zeroes strict gradients in place."""
    want, wopt = _optimise(lambda ps: cr.optim.Adam(ps, lr=0.01), "cpu", steps=2)
    got, gopt = _optimise(lambda ps: cr.optim.Adam(ps, lr=0.01), "strict", steps=1)
    gopt.load_state_dict(_optimise(lambda ps: cr.optim.Adam(ps, lr=0.01), "cpu", steps=1)[1].state_dict())
    for s in gopt.state.values():
        assert s["exp_avg"].device == DEVICE and s["exp_avg_sq"].device == DEVICE
    gopt.zero_grad(set_to_none=False)
    assert all(not _values(q.grad).any() for q in got)
    _quadratic(got).backward()
    gopt.step()
    for p, q in zip(want, got):
        _close(q, p)


def test_ctc_loss_on_strict(strict):
    """ctc_loss's targets checked and padded through the table: targets on the device, padded
    (N, S) or concatenated; a bad label is named the same way there."""
    lp = cr.log_softmax(_x(5, 2, 4), -1).detach()
    padded = cr.tensor([[1, 2, 0], [3, 3, 1]])
    flat = cr.tensor([1, 2, 3, 3, 1])
    for tg in (padded, flat):
        check(lambda x, t: F.ctc_loss(x, t, (5, 4), (2, 3), reduction="sum"), lp, tg, jvp=False)
    with pytest.raises(RuntimeError, match=r"class indices in \[0, 4\) other than blank = 0, got 7$"):
        F.ctc_loss(lp.to("strict"), cr.tensor([[1, 2], [7, 0]]).to("strict"), (5, 4), (2, 2))
