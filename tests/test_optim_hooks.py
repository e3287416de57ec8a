"""Optimizer hooks (PyTorch's register_step_pre_hook / post hooks, the global step hooks of
torch.optim.optimizer, the state-dict and load-state-dict hooks), eager and compiled."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import optimizer as opt_module


def _param(values=(1.0, 2.0)):
    p = cr.tensor(list(values), requires_grad=True)
    p.grad = cr.ones(len(values))
    return p


@pytest.mark.parametrize("cls", [cr.optim.SGD, cr.optim.Adam, cr.optim.AdamW, cr.optim.RMSprop, cr.optim.Adagrad,
                                 cr.optim.Adamax, cr.optim.NAdam, cr.optim.RAdam, cr.optim.ASGD, cr.optim.Rprop,
                                 cr.optim.Adadelta])
def test_step_hooks_run_around_every_optimizers_step_in_pytorchs_order(cls):
    p = _param()
    opt = cls([p], lr=0.1)
    seen = []

    def pre(o, args, kwargs):
        seen.append(("pre", o is opt, args[0] is opt, len(args), dict(kwargs), p.detach().numpy().copy()))

    def post(o, args, kwargs):
        seen.append(("post", o is opt, args[0] is opt, len(args), dict(kwargs), p.detach().numpy().copy()))

    g_pre = opt_module.register_optimizer_step_pre_hook(lambda o, a, k: seen.append(("global pre",)))
    g_post = opt_module.register_optimizer_step_post_hook(lambda o, a, k: seen.append(("global post",)))
    h_pre, h_post = opt.register_step_pre_hook(pre), opt.register_step_post_hook(post)
    try:
        opt.step()
        assert [s[0] for s in seen] == ["global pre", "pre", "post", "global post"]
        assert seen[1][1:5] == (True, True, 1, {}) and seen[2][1:5] == (True, True, 1, {})
        assert np.array_equal(seen[1][5], [1.0, 2.0]) and not np.array_equal(seen[2][5], [1.0, 2.0])
        seen.clear()
        opt.step(closure=None)
        assert seen[1][4] == {"closure": None}
    finally:
        g_pre.remove()
        g_post.remove()
    seen.clear()
    opt.step()
    assert [s[0] for s in seen] == ["pre", "post"]
    h_pre.remove()
    h_post.remove()
    h_post.remove()  # (a second remove is harmless)
    seen.clear()
    opt.step()
    assert seen == []


def test_a_pre_hook_may_replace_the_arguments_and_a_bad_return_raises():
    p = _param()
    opt = cr.optim.SGD([p], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: (a, {"closure": lambda: calls.append(1) or 7.0}))
    assert opt.step() == 7.0 and calls == [1]
    opt.register_step_pre_hook(lambda o, a, k: 5)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\), but got 5"):
        opt.step()


def test_a_subclass_step_calling_super_runs_the_hooks_once():
    class Clipped(cr.optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    p = _param()
    opt = Clipped([p], lr=0.1)
    seen = []
    opt.register_step_post_hook(lambda o, a, k: seen.append(1))
    opt.step()
    assert seen == [1]
    assert np.allclose(p.detach().numpy(), [0.9, 1.9])


def test_state_dict_hooks_match_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (cr, torch):
        p = lib.nn.Parameter(lib.ones(2))
        p.grad = lib.ones(2)
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        opt.step()
        order = []
        opt.register_state_dict_pre_hook(lambda o: order.append("pre a"))
        opt.register_state_dict_pre_hook(lambda o: order.append("pre b"), prepend=True)
        opt.register_state_dict_post_hook(lambda o, sd: sd["param_groups"][0].__setitem__("lr", 0.5))
        h = opt.register_state_dict_post_hook(lambda o, sd: {"replaced": sd["param_groups"][0]["lr"]})
        assert opt.state_dict() == {"replaced": 0.5} and order == ["pre b", "pre a"]
        h.remove()
        sd = opt.state_dict()
        assert sd["param_groups"][0]["lr"] == 0.5 and opt.param_groups[0]["lr"] == 0.1
        assert sorted(sd["state"][0]) == ["momentum_buffer"]

        seen = []

        def load_pre(o, state_dict):
            seen.append(("pre", state_dict is sd))
            new = dict(state_dict)
            new["param_groups"] = [dict(state_dict["param_groups"][0], lr=0.25)]
            return new

        opt.register_load_state_dict_pre_hook(load_pre)
        opt.register_load_state_dict_post_hook(lambda o: seen.append(("post", o.param_groups[0]["lr"])))
        opt.register_load_state_dict_post_hook(lambda o: seen.append(("first",)), prepend=True)
        opt.load_state_dict(sd)
        assert seen == [("pre", False), ("first",), ("post", 0.25)], lib


def test_hooks_are_not_copied_or_pickled_as_pytorchs():
    p = _param()
    opt = cr.optim.SGD([p], lr=0.1)
    opt.register_step_post_hook(lambda o, a, k: None)  # (a lambda: it would not pickle)
    twin = copy.deepcopy(opt)
    assert len(twin._optimizer_step_post_hooks) == 0 and len(opt._optimizer_step_post_hooks) == 1
    back = pickle.loads(pickle.dumps(opt))
    assert len(back._optimizer_step_post_hooks) == 0
    back.register_step_pre_hook(lambda o, a, k: None)


def test_global_hooks_are_torch_optim_optimizer_functions():
    pytest.importorskip("torch")
    import torch.optim.optimizer as torch_module

    for name in ("register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"):
        assert hasattr(torch_module, name) and hasattr(cr.optim.optimizer, name)
    handle = cr.optim.optimizer.register_optimizer_step_post_hook(lambda o, a, k: None)
    assert isinstance(handle, cr.utils.hooks.RemovableHandle)
    handle.remove()
    assert not opt_module._global_optimizer_post_hooks


def _training(hooked: bool):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(4, 5), cr.nn.Tanh(), cr.nn.Linear(5, 1))
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ema = [p.detach().clone() for p in model.parameters()]
    counts = []

    def post(o, args, kwargs):  # an EMA of the weights, kept outside the model
        counts.append(1)
        with cr.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.5).add_(p, alpha=0.5)

    if hooked:
        opt.register_step_post_hook(post)

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    return model, opt, ema, counts, step, post


def _batches(n):
    rng = np.random.default_rng(1)
    return [(cr.tensor(rng.standard_normal((6, 4)).astype(np.float32)),
             cr.tensor(rng.standard_normal((6, 1)).astype(np.float32))) for _ in range(n)]


def test_a_compiled_training_step_runs_the_post_hook_at_every_replay():
    batches = _batches(6)
    m_e, _, ema_e, counts_e, eager, _ = _training(True)
    m_c, _, ema_c, counts_c, step, _ = _training(True)
    compiled = cr.compile(step, options={"fusion": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in batches:
            assert np.allclose(compiled(x, y).numpy(), eager(x, y).numpy(), rtol=1e-6, atol=1e-7)
    assert len(counts_c) == len(counts_e) == 6
    assert compiled.stats["replays"] >= 4, compiled.stats
    for a, b in zip(ema_e + list(m_e.parameters()), ema_c + list(m_c.parameters())):
        assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_a_hook_registered_after_the_capture_runs_and_one_removed_stops():
    batches = _batches(8)
    m_e, opt_e, ema_e, counts_e, eager, post_e = _training(False)
    m_c, opt_c, ema_c, counts_c, step, post_c = _training(False)
    compiled = cr.compile(step, options={"fusion": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handles = []
        for i, (x, y) in enumerate(batches):
            if i == 3:
                handles = [opt_e.register_step_post_hook(post_e), opt_c.register_step_post_hook(post_c)]
            if i == 6:
                for h in handles:
                    h.remove()
            assert np.allclose(compiled(x, y).numpy(), eager(x, y).numpy(), rtol=1e-6, atol=1e-7)
    assert len(counts_c) == len(counts_e) == 3
    for a, b in zip(ema_e + list(m_e.parameters()), ema_c + list(m_c.parameters())):
        assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("late", [False, True], ids=["hooked at the capture", "hooked after it"])
def test_a_hook_writing_a_tensor_the_compiled_step_reads_after_the_step(late):
    """A post hook that counts steps in a buffer of the model, which the step reads after
    opt.step() (a branch on it): the plan may not assume the step leaves that buffer alone,
    whether the hook was there at the capture or came after it (the guard sees it come)."""

    def make():
        cr.manual_seed(0)
        model = cr.nn.Linear(3, 1)
        model.register_buffer("steps", cr.zeros(()))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)

        def count(o, args, kwargs):
            with cr.no_grad():
                model.steps.add_(1.0)

        def step(x):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss.detach() * (-1.0 if bool(model.steps > 3) else 1.0)

        return model, step, lambda: opt.register_step_post_hook(count)

    xs = [cr.full((2, 3), 0.1 * (i + 1)) for i in range(9)]
    (m_e, eager, hook_e), (m_c, step, hook_c) = make(), make()
    compiled = cr.compile(step, options={"fusion": False})
    got, want = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, x in enumerate(xs):
            if i == (3 if late else 0):
                hook_e(), hook_c()
            got.append(float(compiled(x)))
            want.append(float(eager(x)))
    assert np.allclose(got, want, rtol=1e-6)
    assert float(m_c.steps) == float(m_e.steps) == (6.0 if late else 9.0)
    assert sum(g < 0 for g in got) == (3 if late else 6)
