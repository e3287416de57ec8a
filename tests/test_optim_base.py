"""The Optimizer base: parameter groups, zero_grad, closures, validation, state_dict round trips."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.autograd.tensor import Tensor


def quad_loss(params):
    """E = Σ_p Σ ½ (p − 1)² · k, k = 1, 2, ...: a different curvature per parameter."""
    total = None
    for k, p in enumerate(params, start=1):
        e = (((p - 1.0) * (p - 1.0)) * (0.5 * k)).sum()
        total = e if total is None else total + e
    return total


def make_params(dtype=cr.float32):
    rng = np.random.default_rng(1)
    return [cr.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True) for s in [(3, 2), (2,), (4,)]]


ALL = {
    "sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adam": lambda p: optim.Adam(p, lr=0.05, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=0.05),
}


def train(opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        quad_loss(params).backward()
        opt.step()


# -- construction and groups --------------------------------------------------------------


def test_defaults_and_param_groups():
    a, b = cr.zeros(2, requires_grad=True), cr.zeros(3, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert len(opt.param_groups) == 2
    g0, g1 = opt.param_groups
    assert g0["params"] == [a] and g0["lr"] == 0.1 and g0["momentum"] == 0
    assert g1["params"][0] is b and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    assert g0["dampening"] == 0 and g0["nesterov"] is False and g0["maximize"] is False


def test_each_group_uses_its_own_lr():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a * a + b * b).sum().backward()  # g = 2
    opt.step()
    assert a._array[0] == pytest.approx(1.0 - 0.1 * 2.0)
    assert b._array[0] == pytest.approx(1.0 - 0.5 * 2.0)


def test_add_param_group_and_named_parameters():
    a, b = cr.zeros(2, requires_grad=True), cr.zeros(2, requires_grad=True)
    opt = optim.Adam([("w", a)], lr=0.01)
    assert opt.param_groups[0]["param_names"] == ["w"]
    opt.add_param_group({"params": [b], "lr": 0.1})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_construction_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(cr.zeros(2, requires_grad=True), lr=0.1)  # a bare Tensor, not an iterable of them
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {cr.zeros(2, requires_grad=True)}}], lr=0.1)
    leaf = cr.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([leaf * 2], lr=0.1)
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([leaf, leaf], lr=0.1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
        (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
        (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
        (lambda p: optim.Adagrad(p, eps=-1e-10), "Invalid epsilon value: -1e-10"),
        (lambda p: optim.RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
        (lambda p: optim.RMSprop(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
        (lambda p: optim.AdamW(p, weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    ],
)
def test_invalid_hyper_parameters_name_the_value(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make([cr.zeros(2, requires_grad=True)])


# -- the training-loop calls ------------------------------------------------------------------


def test_zero_grad_set_to_none_and_to_zeros():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad()
    assert w.grad is None
    (w * w).sum().backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and np.array_equal(w.grad._array, [0.0, 0.0])
    (w * w).sum().backward()  # accumulates onto the zeros
    np.testing.assert_array_equal(w.grad._array, [2.0, 4.0])


def test_parameters_without_grad_are_skipped():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([1.0], requires_grad=True)
    for make in ALL.values():
        a._array[...] = 1.0
        b._array[...] = 1.0
        opt = make([a, b])
        opt.zero_grad()
        (a * a).sum().backward()
        opt.step()
        assert b._array[0] == 1.0 and a._array[0] != 1.0
        assert b not in opt.state or "exp_avg" not in opt.state[b]


def test_step_returns_closure_loss_and_evaluates_with_grad_enabled():
    w = cr.tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert float(loss) == 9.0
    assert w._array[0] == pytest.approx(3.0 - 0.25 * 6.0)
    assert opt.step() is None


def test_repr_lists_groups_and_hyper_parameters():
    opt = optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 0" in text
    assert "lr: 0.1" in text and "momentum: 0.9" in text


def test_scheduler_changes_take_effect_through_group_lr():
    w = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    opt.param_groups[0]["lr"] = 0.5
    (w * w).sum().backward()
    opt.step()
    assert w._array[0] == pytest.approx(0.0)


# -- state_dict -------------------------------------------------------------------------------


def test_state_dict_layout_is_pytorchs():
    params = make_params()
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.1}], lr=0.01)
    train(opt, params, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][1]["params"] == [2]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 1, 2}
    s0 = sd["state"][0]
    assert set(s0) == {"step", "exp_avg", "exp_avg_sq"}
    assert all(isinstance(v, Tensor) for v in s0.values())
    assert float(s0["step"]) == 2.0 and s0["exp_avg"].shape == (3, 2)


def _serialise(obj):
    """What saving does: Tensors become arrays, numbers and strings stay, containers recurse."""
    if isinstance(obj, Tensor):
        return ("tensor", obj._array.copy())
    if isinstance(obj, dict):
        return {k: _serialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_serialise(v) for v in obj)
    return obj


def _deserialise(obj):
    if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "tensor":
        return cr.tensor(obj[1])
    if isinstance(obj, dict):
        return {k: _deserialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_deserialise(v) for v in obj)
    return obj


@pytest.mark.parametrize("name", list(ALL))
def test_state_dict_round_trip_gives_bit_identical_next_steps(name):
    make = ALL[name]
    params = make_params()
    opt = make(params)
    train(opt, params, 3)
    blob = pickle.dumps(_serialise(opt.state_dict()))

    # a fresh copy of the model and optimiser, restored from the saved blob
    params2 = [cr.tensor(p._array.copy(), requires_grad=True) for p in params]
    opt2 = make(params2)
    opt2.load_state_dict(_deserialise(pickle.loads(blob)))

    train(opt, params, 3)
    train(opt2, params2, 3)
    for p, q in zip(params, params2):
        assert p._array.dtype == q._array.dtype == np.float32
        np.testing.assert_array_equal(p._array, q._array)


def test_load_state_dict_copies_and_restores_hyper_parameters():
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    train(opt, params, 1)
    sd = copy.deepcopy(opt.state_dict())
    sd["param_groups"][0]["lr"] = 0.05
    opt2 = optim.SGD(params, lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.05
    assert opt2.param_groups[0]["params"][0] is params[0]
    buf = opt2.state[params[0]]["momentum_buffer"]
    assert buf is not sd["state"][0]["momentum_buffer"]
    np.testing.assert_array_equal(buf._array, sd["state"][0]["momentum_buffer"]._array)


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    w = cr.zeros(2, requires_grad=True)  # float32
    opt = optim.Adam([w])
    sd = {"state": {0: {"step": cr.tensor(4.0, dtype=cr.float64),
                        "exp_avg": cr.tensor([1.0, 2.0], dtype=cr.float64),
                        "exp_avg_sq": cr.tensor([1.0, 4.0], dtype=cr.float64)}},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    st = opt.state[w]
    assert st["exp_avg"].dtype == np.float32 and st["exp_avg_sq"].dtype == np.float32
    assert st["step"].dtype == np.float64  # 'step' keeps its dtype, as in PyTorch


def test_load_state_dict_validates_group_sizes():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD(params[:2], lr=0.1).load_state_dict(sd)


def test_state_dict_can_be_saved_with_cr_save(tmp_path):
    params = make_params()
    opt = ALL["adam"](params)
    train(opt, params, 2)
    path = tmp_path / "opt.pt"
    cr.save(opt.state_dict(), path)
    params2 = [cr.tensor(p._array.copy(), requires_grad=True) for p in params]
    opt2 = ALL["adam"](params2)
    opt2.load_state_dict(cr.load(path))
    train(opt, params, 2)
    train(opt2, params2, 2)
    for p, q in zip(params, params2):
        np.testing.assert_array_equal(p._array, q._array)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_and_scheduler_state_through_a_checkpoint_file(tmp_path, name):
    checkpoint = pytest.importorskip("chainrule.train.checkpoint")
    from chainrule.optim import lr_scheduler

    params = make_params()
    opt = ALL[name](params)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
    for _ in range(3):
        train(opt, params, 1)
        sched.step()
    path = checkpoint.save_checkpoint({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "c.st")
    state = checkpoint.load_checkpoint(path)

    params2 = [cr.tensor(p._array.copy(), requires_grad=True) for p in params]
    opt2 = ALL[name](params2)
    sched2 = lr_scheduler.MultiStepLR(opt2, milestones=[2, 4], gamma=0.5)
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    for _ in range(3):
        train(opt, params, 1)
        sched.step()
        train(opt2, params2, 1)
        sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(params, params2):
        np.testing.assert_array_equal(p._array, q._array)
