"""``chainrule.compile``'s guards and fallbacks, its API, and the tracer under it.

Every test runs the same calls eagerly and compiled from the same state and seed and asserts
the same numbers (``np.array_equal``, with the NumPy plan: see ``_compile``): a plan replayed
where it no longer applies (a stale replay) shows up as different numbers.  Where the path
matters (a new capture, a fallback to eager, a replay) the test also checks ``stats``, never
instead of the numbers.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.autograd.tensor import Tensor
from chainrule.compiler import GraphBreak
from chainrule.compiler.trace import Ref, Tape, TraceArray, TraceMath


# --------------------------------------------------------------------------- helpers
def _compile(fn, **kw):
    """cr.compile with the NumPy plan (``options={'fusion': False}``), which must give eager's
    numbers bit for bit; the fused loops may differ by rounding (libm's exp against NumPy's),
    and tests/test_compile_models.py checks them on every model family."""
    kw["options"] = {"fusion": False, **kw.get("options", {})}
    return cr.compile(fn, **kw)


def _arr(t):
    return t.detach().numpy().copy()


def _mlp(dropout=0.0, batchnorm=False):
    layers = [nn.Linear(4, 6)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(6))
    layers += [nn.Tanh(), nn.Dropout(dropout), nn.Linear(6, 3)]
    return nn.Sequential(*layers)


def _setup(dropout=0.0, batchnorm=False, lr=0.05):
    cr.manual_seed(0)
    model = _mlp(dropout, batchnorm)
    opt = optim.Adam(model.parameters(), lr=lr)
    return model, opt


def _train_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def _data(rng, n):
    return cr.tensor(rng.standard_normal((n, 4)).astype(np.float32)), cr.tensor(rng.integers(0, 3, n))


def _same_model(a, b):
    for (ka, pa), (kb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        assert np.array_equal(_arr(pa), _arr(pb)), f"{ka} differs"


def _both(calls, dropout=0.0, batchnorm=False, **compile_kw):
    """Run ``calls(model, fn)`` with an eager step and with a compiled one, from the same state;
    return (eager results, compiled results, eager model, compiled model, compiled fn)."""
    model_e, opt_e = _setup(dropout, batchnorm)
    res_e = calls(model_e, _train_step(model_e, opt_e))
    model_c, opt_c = _setup(dropout, batchnorm)
    fn = _compile(_train_step(model_c, opt_c), **compile_kw)
    res_c = calls(model_c, fn)
    assert len(res_e) == len(res_c)
    for i, (a, b) in enumerate(zip(res_e, res_c)):
        assert np.array_equal(_arr(a), _arr(b)), f"call {i}: eager {a}, compiled {b}"
    _same_model(model_e, model_c)
    return res_e, res_c, model_e, model_c, fn


# ------------------------------------------------------------------------ guards
def test_new_batch_size_captures_again_and_matches_eager():
    rng = np.random.default_rng(0)
    batches = [_data(rng, 8) for _ in range(4)] + [_data(rng, 5) for _ in range(4)] + [_data(rng, 8) for _ in range(3)]
    *_, fn = _both(lambda model, step: [step(x, y) for x, y in batches])
    stats = fn.stats
    assert stats["captures"] >= 3  # batch 8 (twice: gradients None, then set), batch 5
    assert stats["replays"] >= 6
    assert len(fn.entries) == stats["captures"]


def test_switching_train_and_eval_between_calls():
    """Dropout and batch norm behave differently in eval mode: a plan captured in train mode
    must not be replayed in eval mode, nor the other way round."""
    rng = np.random.default_rng(1)
    batches = [_data(rng, 6) for _ in range(12)]
    modes = [True] * 4 + [False] * 3 + [True] * 3 + [False] * 2

    def calls(model, step):
        out = []
        for train, (x, y) in zip(modes, batches):
            model.train(train)
            out.append(step(x, y))
        return out

    *_, model_c, fn = _both(calls, dropout=0.5, batchnorm=True)
    assert fn.stats["replays"] >= 4
    # the running statistics moved only in the train-mode calls: 7 of them
    assert int(model_c[1].num_batches_tracked.item()) == 7


def test_toggling_requires_grad_of_a_parameter():
    rng = np.random.default_rng(2)
    batches = [_data(rng, 6) for _ in range(12)]

    def calls(model, step):
        out = []
        for i, (x, y) in enumerate(batches):
            if i == 4:
                model[0].weight.requires_grad_(False)
                frozen = _arr(model[0].weight)
            if i == 8:
                assert np.array_equal(_arr(model[0].weight), frozen)  # not updated while frozen
                model[0].weight.requires_grad_(True)
            out.append(step(x, y))
        return out

    *_, fn = _both(calls)
    assert fn.stats["replays"] >= 4


# module-level names a compiled function reads as globals
G_MODEL: nn.Module | None = None
G_OPT: optim.Optimizer | None = None


def _global_step(x, y):
    G_OPT.zero_grad()
    loss = F.cross_entropy(G_MODEL(x), y)
    loss.backward()
    G_OPT.step()
    return loss.detach()


def test_rebinding_a_global_model_and_optimizer():
    global G_MODEL, G_OPT
    rng = np.random.default_rng(3)
    batches = [_data(rng, 5) for _ in range(12)]

    def run(fn):
        global G_MODEL, G_OPT
        cr.manual_seed(0)
        first = _mlp()
        second = _mlp()
        G_MODEL, G_OPT = first, optim.SGD(first.parameters(), lr=0.1)
        out = []
        for i, (x, y) in enumerate(batches):
            if i == 4:  # a new optimiser for the same model
                G_OPT = optim.Adam(first.parameters(), lr=0.01)
            if i == 8:  # a new model (and its optimiser)
                G_MODEL, G_OPT = second, optim.SGD(second.parameters(), lr=0.2)
            out.append(fn(x, y))
        return out, first, second

    try:
        out_e, first_e, second_e = run(_global_step)
        fn = _compile(_global_step)
        out_c, first_c, second_c = run(fn)
    finally:
        G_MODEL = G_OPT = None
    for a, b in zip(out_e, out_c):
        assert np.array_equal(_arr(a), _arr(b))
    _same_model(first_e, first_c)
    _same_model(second_e, second_c)
    assert fn.stats["replays"] >= 4


def test_rebinding_a_closure_optimizer():
    rng = np.random.default_rng(4)
    batches = [_data(rng, 5) for _ in range(10)]

    def run(compiled):
        cr.manual_seed(0)
        model = _mlp()
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()

        fn = _compile(step) if compiled else step
        out = []
        for i, (x, y) in enumerate(batches):
            if i == 5:
                opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)  # noqa: F841  (read by step)
            out.append(fn(x, y))
        return out, model, fn

    out_e, model_e, _ = run(False)
    out_c, model_c, fn = run(True)
    for a, b in zip(out_e, out_c):
        assert np.array_equal(_arr(a), _arr(b))
    _same_model(model_e, model_c)
    assert fn.stats["replays"] >= 4


def test_dropout_masks_differ_between_replays_and_match_eager_draws():
    x = cr.ones(4, 32)

    def drop(x):
        return F.dropout(x, 0.5, training=True) * 1.0

    cr.manual_seed(7)
    eager = [drop(x).numpy().copy() for _ in range(6)]
    fn = _compile(drop)
    cr.manual_seed(7)
    comp = [fn(x).numpy().copy() for _ in range(6)]
    assert fn.stats["replays"] >= 4
    for a, b in zip(eager, comp):
        assert np.array_equal(a, b)
    masks = {m.tobytes() for m in comp}
    assert len(masks) == 6  # a fresh mask on every call
    for m in comp:
        assert set(np.unique(m)) <= {0.0, 2.0}  # kept elements scaled by 1 / (1 - p)


def test_dropout_in_training_step_follows_the_generator():
    rng = np.random.default_rng(5)
    batches = [_data(rng, 6) for _ in range(10)]
    *_, fn = _both(lambda model, step: [step(x, y) for x, y in batches], dropout=0.4)
    assert fn.stats["replays"] >= 6


def test_python_branch_on_a_value():
    """``if loss.item() > threshold`` picks one of two computations; the calls cross the
    threshold both ways.  Every call must follow the branch eager follows."""
    rng = np.random.default_rng(6)
    xs = [cr.tensor((rng.standard_normal((5, 4)) * s).astype(np.float32)) for s in
          (0.5, 0.5, 3, 3, 0.5, 3, 0.5, 0.5, 3, 3)]
    w0 = rng.standard_normal((4, 2)).astype(np.float32)

    def run(compiled):
        w = cr.tensor(w0.copy(), requires_grad=True)
        opt = optim.SGD([w], lr=0.01)

        def step(x):
            opt.zero_grad()
            loss = ((x @ w) ** 2).mean()
            if loss.item() > 2.0:
                loss, sign = loss.sqrt(), 1.0
            else:
                loss, sign = loss * 3.0, -1.0
            loss.backward()
            opt.step()
            return loss.detach() * sign

        fn = _compile(step) if compiled else step
        return [fn(x) for x in xs], w, fn

    out_e, w_e, _ = run(False)
    out_c, w_c, fn = run(True)
    for i, (a, b) in enumerate(zip(out_e, out_c)):
        assert np.array_equal(_arr(a), _arr(b)), i
    assert np.array_equal(_arr(w_e), _arr(w_c))
    # both branches were taken (the sign says which), so some calls could not be a capture's plan
    assert {float(np.sign(_arr(v))) for v in out_e} == {1.0, -1.0}
    assert fn.stats["replays"] + fn.stats["captures"] + fn.stats["eager"] == len(xs)


OPTIMIZERS = {
    "SGD-nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.01),
    "Adamax": lambda ps: optim.Adamax(ps, lr=0.01),
    "NAdam": lambda ps: optim.NAdam(ps, lr=0.01),
    "RAdam": lambda ps: optim.RAdam(ps, lr=0.01),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "Rprop": lambda ps: optim.Rprop(ps, lr=0.01),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.05),
    "Adadelta": lambda ps: optim.Adadelta(ps),
    "Adafactor": lambda ps: optim.Adafactor(ps, lr=0.01),
    "ASGD": lambda ps: optim.ASGD(ps, lr=0.01),
    "Muon": lambda ps: optim.Muon([p for p in ps if p.ndim == 2], lr=0.01),
}
SCHEDULERS = {
    "OneCycleLR": lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=12),
    "CyclicLR": lambda o: optim.lr_scheduler.CyclicLR(o, 0.001, 0.05, step_size_up=3),
    "SequentialLR": lambda o: optim.lr_scheduler.SequentialLR(
        o, [optim.lr_scheduler.LinearLR(o, 0.1, total_iters=4), optim.lr_scheduler.ExponentialLR(o, 0.9)], [4]),
    "CosineAnnealingWarmRestarts": lambda o: optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 3),
    "MultiStepLR": lambda o: optim.lr_scheduler.MultiStepLR(o, [2, 5, 9], 0.5),
}


@pytest.mark.parametrize("name", [*OPTIMIZERS, *SCHEDULERS])
def test_every_optimizer_and_scheduler_as_host_steps(name):
    """Each optimiser's and scheduler's step() is a host step, called again on every replay:
    the same numbers as eager (momentum cycling, warm restarts, per-parameter state...)."""
    rng = np.random.default_rng(30)
    batches = [_data(rng, 5) for _ in range(12)]

    def run(compiled):
        cr.manual_seed(0)
        model = _mlp()
        if name in OPTIMIZERS:
            opt, sched = OPTIMIZERS[name](model.parameters()), None
        else:
            opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            sched = SCHEDULERS[name](opt)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            return loss.detach()

        fn = _compile(step) if compiled else step
        out = [_arr(fn(x, y)) for x, y in batches]
        return out, model, _flat(opt.state_dict()), fn

    out_e, model_e, state_e, _ = run(False)
    out_c, model_c, state_c, fn = run(True)
    for a, b in zip(out_e, out_c):
        assert np.array_equal(a, b)
    _same_model(model_e, model_c)
    assert state_e.keys() == state_c.keys()
    for k in state_e:
        assert np.array_equal(state_e[k], state_c[k]), k
    assert fn.stats["replays"] >= 9


def _flat(obj, path=""):
    if isinstance(obj, Tensor):
        return {path: _arr(obj)}
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _flat(val, f"{path}/{key}").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, val in enumerate(obj) for k, v in _flat(val, f"{path}/{i}").items()}
    return {path: np.asarray(obj)} if isinstance(obj, (int, float, bool)) else {}


def test_lbfgs_with_a_closure_gives_eager_numbers():
    """LBFGS.step(closure) runs the closure (forward and backward) itself and returns the loss:
    a host step with a value, so the call runs eagerly — with eager's numbers."""
    rng = np.random.default_rng(31)
    batches = [_data(rng, 5) for _ in range(5)]

    def run(compiled):
        cr.manual_seed(0)
        model = _mlp()
        opt = optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)

        def step(x, y):
            def closure():
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss

            return opt.step(closure).detach()

        fn = _compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [_arr(fn(x, y)) for x, y in batches], model

    (out_e, model_e), (out_c, model_c) = run(False), run(True)
    for a, b in zip(out_e, out_c):
        assert np.array_equal(a, b)
    _same_model(model_e, model_c)


def test_item_inside_the_function():
    def f(x):
        s = x.sum().item()
        return x * s + 1.0

    fn = _compile(f)
    same = cr.tensor(np.arange(5.0))
    assert np.array_equal(fn(same).numpy(), f(same).numpy())  # captured
    rng = np.random.default_rng(7)
    for _ in range(3):  # another sum: the plan's value guard fails, the call runs eagerly
        x = cr.tensor(rng.standard_normal(5))
        assert np.array_equal(fn(x).numpy(), f(x).numpy())
    assert fn.stats["diverged"] == 3
    for _ in range(2):
        assert np.array_equal(fn(same).numpy(), f(same).numpy())
    assert fn.stats["replays"] == 2  # the same sum: the value guard holds


def test_numpy_inside_the_function():
    def f(x):
        host = x.detach().numpy()
        return x * float(host.max())

    fn = _compile(f)
    rng = np.random.default_rng(8)
    for _ in range(3):
        x = cr.tensor(rng.standard_normal(5))
        assert np.array_equal(fn(x).numpy(), f(x).numpy())


DATA_SHAPED = {
    "mask_len": lambda x: x[x > 0] * float(len(x[x > 0])),
    "mask_shape": lambda x: (x[x > 0] * 2).sum() + x[x > 0].shape[0],
    "masked_select_numel": lambda x: cr.masked_select(x, x > 0).sum() * cr.masked_select(x, x > 0).numel(),
    "nonzero_count": lambda x: cr.nonzero(x > 0).sum() + cr.nonzero(x > 0).shape[0],
    "nonzero_tuple": lambda x: cr.nonzero(x > 0, as_tuple=True)[0].float() * x.size(0) / 2,
    "unique_count": lambda x: cr.unique(x.round()).sum() + cr.unique(x.round()).shape[0],
    "mask_sum_only": lambda x: (x[x > 0.5] * 3).sum(),
    # a run of elementwise steps on a masked result, whose shape Python never reads: no fused loop
    # may keep the captured length
    "mask_chain": lambda x: (((x[x > 0.5] * 2 + 1) * 3 - 1) * 0.5).sum(),
    "mask_chain_tanh": lambda x: ((x[x > 0.5] * 2 + 1).tanh() * 3 - 1).exp().sum(),
}


@pytest.mark.parametrize("fusion", [False, True])
@pytest.mark.parametrize("name", sorted(DATA_SHAPED))
def test_data_dependent_shapes_give_eager_numbers(name, fusion):
    f = DATA_SHAPED[name]
    fn = _compile(f, options={"fusion": fusion})
    rng = np.random.default_rng(9)
    xs = [cr.tensor(rng.standard_normal(9) * 2) for _ in range(8)]
    for x in xs + xs[:2]:
        a, b = f(x), fn(x)
        assert a.shape == b.shape
        if fusion:  # (a fused loop's exp and tanh are libm's: to rounding)
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-13)
        else:
            assert np.array_equal(a.numpy(), b.numpy())
    assert sum(fn.stats.values()) - fn.stats["diverged"] == len(xs) + 2


@pytest.mark.parametrize("late_read", ["after_step", "clip_grad_norm"])
def test_fullgraph_raises_graph_break_where_default_falls_back(late_read):
    """A value Python reads after the optimiser changed the parameters (a check on the new
    weights) cannot be a guard of the plan: the default runs such calls eagerly, fullgraph
    raises.  clip_grad_norm_ reads the gradients' norm on the host: eager's numbers, whatever
    the path (a value guard that fails on every new batch, or eager)."""
    rng = np.random.default_rng(10)
    batches = [_data(rng, 5) for _ in range(4)]

    def make(compile_kw):
        cr.manual_seed(0)
        model = _mlp()
        opt = optim.Adam(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if late_read == "clip_grad_norm":
                nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            if late_read == "after_step" and model[0].weight.abs().max().item() > 1e6:
                raise RuntimeError("diverged")
            return loss.detach()

        return model, (step if compile_kw is None else _compile(step, **compile_kw))

    model_e, step_e = make(None)
    out_e = [step_e(x, y) for x, y in batches]
    model_c, step_c = make({})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out_c = [step_c(x, y) for x, y in batches]
    if late_read == "after_step":
        assert any("runs eagerly" in str(w.message) for w in caught)
    for a, b in zip(out_e, out_c):
        assert np.array_equal(_arr(a), _arr(b))
    _same_model(model_e, model_c)

    if late_read == "after_step":
        _, step_f = make({"fullgraph": True})
        with pytest.raises(GraphBreak):
            step_f(*batches[0])


def test_cache_size_limit_warns_and_runs_eagerly():
    rng = np.random.default_rng(11)
    sizes = [2, 2, 3, 3, 4, 4, 5, 2, 3]
    batches = [_data(rng, n) for n in sizes]

    def calls(model, step):
        return [step(x, y) for x, y in batches]

    with pytest.warns(UserWarning, match="recompile_limit"):
        *_, fn = _both(calls, options={"cache_size_limit": 2})
    assert len(fn.entries) == 2
    assert fn.stats["eager"] >= 5  # sizes 3, 4 and 5 never got a plan


@pytest.mark.parametrize("kw", [{"mode": "reduce-overhead"}, {"mode": "max-autotune"}, {"mode": "default"},
                                {"dynamic": True}, {"dynamic": False}, {"backend": "inductor"}])
def test_pytorch_options_are_accepted(kw):
    rng = np.random.default_rng(12)
    batches = [_data(rng, 4) for _ in range(6)]
    *_, fn = _both(lambda model, step: [step(x, y) for x, y in batches], **kw)
    assert fn.stats["replays"] >= 3


def test_unknown_mode_raises():
    with pytest.raises(RuntimeError, match="mode"):
        cr.compile(lambda x: x, mode="fastest-please")


def test_torch_namespace_and_decorator():
    import chainrule as torch

    @torch.compile(fullgraph=True)
    def f(x):
        return x * 2 + 1

    x = cr.tensor([1.0, 2.0])
    for _ in range(3):
        assert np.array_equal(f(x).numpy(), np.array([3.0, 5.0]))
    assert f.stats["replays"] == 2


def test_disable_returns_the_object_itself():
    def f(x):
        return x

    model = _mlp()
    assert cr.compile(f, disable=True) is f
    assert cr.compile(model, disable=True) is model


def test_compiled_module_inference_under_no_grad():
    cr.manual_seed(0)
    model = _mlp(dropout=0.3, batchnorm=True)
    rng = np.random.default_rng(13)
    with cr.no_grad():  # some running statistics first
        for _ in range(3):
            model(_data(rng, 6)[0])
    model.eval()
    cm = _compile(model)
    assert isinstance(cm, nn.Module) and cm._orig_mod is model
    xs = [_data(rng, 6)[0] for _ in range(6)]
    with cr.no_grad():
        for x in xs:
            out = cm(x)
            assert not out.requires_grad
            assert np.array_equal(out.numpy(), model(x).numpy())
    assert cm._compiled.stats["replays"] >= 4


def test_compiled_module_training_with_backward_outside():
    """The compiled call is the forward only; backward() and the optimiser run outside it.
    (Today a replay returns a node whose backward is a plan; an eager fallback would do too:
    the gradients and the parameters must be eager's.)"""
    rng = np.random.default_rng(14)
    batches = [_data(rng, 5) for _ in range(8)]

    def run(compiled):
        cr.manual_seed(0)
        model = _mlp(dropout=0.3)
        fwd = _compile(model) if compiled else model
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
        grads, losses = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for x, y in batches:
                opt.zero_grad()
                loss = F.cross_entropy(fwd(x), y)
                loss.backward()
                grads.append([p.grad.numpy().copy() for p in model.parameters()])
                losses.append(_arr(loss))
                opt.step()
        return model, grads, losses

    model_e, grads_e, losses_e = run(False)
    model_c, grads_c, losses_c = run(True)
    for ge, gc in zip(grads_e, grads_c):
        for a, b in zip(ge, gc):
            assert np.array_equal(a, b)
    for a, b in zip(losses_e, losses_c):
        assert np.array_equal(a, b)
    _same_model(model_e, model_c)


def test_compiled_module_input_gradient_outside():
    """backward() from the compiled forward's output reaches a leaf input too."""
    cr.manual_seed(0)
    model = _mlp()
    cm = _compile(model)
    rng = np.random.default_rng(15)
    for _ in range(4):
        x_np = rng.standard_normal((3, 4)).astype(np.float32)
        xe = cr.tensor(x_np, requires_grad=True)
        xc = cr.tensor(x_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (model(xe) ** 2).sum().backward()
            gw_e = [p.grad.numpy().copy() for p in model.parameters()]
            model.zero_grad()
            (cm(xc) ** 2).sum().backward()
            gw_c = [p.grad.numpy().copy() for p in model.parameters()]
            model.zero_grad()
        assert np.array_equal(xe.grad.numpy(), xc.grad.numpy())
        for a, b in zip(gw_e, gw_c):
            assert np.array_equal(a, b)


def test_compiled_module_called_twice_in_one_graph():
    """Two calls of the compiled Module before one backward (a siamese loss), with batch norm
    and dropout: each replay's backward must use its own saved values, and backward twice
    with retain_graph adds the gradients up, as eager."""
    rng = np.random.default_rng(26)

    def make():
        cr.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 3))

    model_e, model_c = make(), make()
    cm = _compile(model_c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for it in range(5):
            x1, x2 = (cr.tensor(rng.standard_normal((5, 4)).astype(np.float32)) for _ in range(2))
            y = cr.tensor(rng.integers(0, 3, 5))
            losses = []
            for fwd in (model_e, cm):
                cr.manual_seed(it)
                loss = F.cross_entropy(fwd(x1) - fwd(x2), y)
                loss.backward(retain_graph=True)
                if it == 4:
                    loss.backward()
                losses.append(_arr(loss))
            assert np.array_equal(*losses)
            for p, q in zip(model_e.parameters(), model_c.parameters()):
                assert np.array_equal(p.grad.numpy(), q.grad.numpy())
            model_e.zero_grad()
            model_c.zero_grad()
    _same_model(model_e, model_c)
    assert cm._compiled.stats["replays"] >= 6


@pytest.mark.parametrize("which", ["module", "step", "both"])
def test_compiled_module_inside_a_compiled_step(which):
    """torch.compile(model) and a compiled training step, alone or together (the inner
    compiled call is then part of the outer capture)."""
    rng = np.random.default_rng(28)
    batches = [_data(rng, 5) for _ in range(8)]

    def run(compile_module, compile_step):
        cr.manual_seed(0)
        model = _mlp(dropout=0.2)
        fwd = _compile(model) if compile_module else model
        opt = optim.Adam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(fwd(x), y)
            loss.backward()
            opt.step()
            return loss.detach()

        fn = _compile(step) if compile_step else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [_arr(fn(x, y)) for x, y in batches], model, fn, fwd

    out_e, model_e, _, _ = run(False, False)
    out_c, model_c, fn, fwd = run(which != "step", which != "module")
    for a, b in zip(out_e, out_c):
        assert np.array_equal(a, b)
    _same_model(model_e, model_c)
    replays = (fn.stats["replays"] if which != "module" else 0) + (
        fwd._compiled.stats["replays"] if which == "module" else 0)
    assert replays >= 5


def test_a_capture_in_one_thread_leaves_another_threads_draws_alone(fine_switching):
    """Thread A captures and replays a training step while thread B draws dropout masks from
    the default generator: B's draws are its own (as when it runs alone), A's numbers eager's."""
    import threading

    rng = np.random.default_rng(29)
    batches = [_data(rng, 5) for _ in range(20)]
    xb = cr.ones(50, 16)

    def make():
        model = _mlp()  # (made before the threads start: its initialisation draws too)
        with cr.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(cr.tensor(np.linspace(-0.5, 0.5, p.numel(), dtype=np.float32).reshape(p.shape) * (i + 1)))
        return model

    def a_run(model, compiled, out):
        opt = optim.Adam(model.parameters(), lr=0.01)
        fn = _compile(_train_step(model, opt)) if compiled else _train_step(model, opt)
        for x, y in batches * 2:
            out.append(_arr(fn(x, y)))

    def b_run(out):
        for _ in range(150):
            out.append(F.dropout(xb, 0.5, training=True).numpy().copy())

    a_eager, b_alone = [], []
    model_e = make()
    a_run(model_e, False, a_eager)
    cr.manual_seed(0)
    b_run(b_alone)
    a_comp, b_beside = [], []
    model_c = make()
    cr.manual_seed(0)
    threads = [threading.Thread(target=a_run, args=(model_c, True, a_comp)),
               threading.Thread(target=b_run, args=(b_beside,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(a_comp) == len(a_eager) and len(b_beside) == len(b_alone)
    for a, b in zip(a_eager, a_comp):
        assert np.array_equal(a, b)
    for a, b in zip(b_alone, b_beside):
        assert np.array_equal(a, b)
    _same_model(model_e, model_c)


def test_optimized_module_state_dict_keys():
    model = _mlp(batchnorm=True)
    cm = _compile(model)
    keys = list(model.state_dict())
    assert list(cm.state_dict()) == [f"_orig_mod.{k}" for k in keys]
    for k in keys:
        assert np.array_equal(_arr(cm.state_dict()[f"_orig_mod.{k}"]), _arr(model.state_dict()[k]))
    assert [id(p) for p in cm.parameters()] == [id(p) for p in model.parameters()]
    # a state_dict of the compiled module loads back into it
    other = _mlp(batchnorm=True)
    cm2 = _compile(other)
    cm2.load_state_dict(cm.state_dict())
    _same_model(model, other)


def _plain(model):
    for t in [*model.parameters(), *model.buffers()]:
        assert type(t._array) is np.ndarray
        assert t.grad is None or type(t.grad._array) is np.ndarray


def test_exception_in_the_first_call_propagates_and_leaves_plain_arrays():
    cr.manual_seed(0)
    model = _mlp(batchnorm=True)
    opt = optim.SGD(model.parameters(), lr=0.1)
    fn = _compile(_train_step(model, opt))
    before = {k: _arr(v) for k, v in model.state_dict().items()}
    with pytest.raises((RuntimeError, ValueError)):
        fn(cr.ones(5, 7), cr.tensor([0, 1, 2, 0, 1]))  # 7 features for a Linear(4, ...)
    _plain(model)
    for k, v in model.state_dict().items():
        assert np.array_equal(_arr(v), before[k])
    # and the compiled function still works, as eager does
    rng = np.random.default_rng(16)
    batches = [_data(rng, 5) for _ in range(4)]
    cr.manual_seed(0)
    model_e = _mlp(batchnorm=True)
    opt_e = optim.SGD(model_e.parameters(), lr=0.1)
    step_e = _train_step(model_e, opt_e)
    for x, y in batches:
        assert np.array_equal(_arr(fn(x, y)), _arr(step_e(x, y)))
    _same_model(model_e, model)
    _plain(model)


def test_exception_in_a_later_call_propagates_and_leaves_plain_arrays():
    """An error raised by Python code on a value, after several replays: the call that
    raises must raise (not replay the plan of a call that did not) and leave plain arrays."""
    cr.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        out = model(x)
        if (out.abs() > 50).any():
            raise ValueError("the output blew up")
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss.detach()

    fn = _compile(step)
    rng = np.random.default_rng(17)
    for _ in range(4):
        fn(*_data(rng, 5))
    assert fn.stats["replays"] == 2
    before = {k: _arr(v) for k, v in model.state_dict().items()}
    x, y = _data(rng, 5)
    with pytest.raises(ValueError, match="blew up"):
        fn(x * 1000, y)
    assert fn.stats["diverged"] == 1
    _plain(model)
    for k, v in model.state_dict().items():
        assert np.array_equal(_arr(v), before[k])


def test_explain_shows_guards_and_replay():
    cr.manual_seed(0)
    model, opt = _setup()
    fn = _compile(_train_step(model, opt))
    assert "nothing" in fn.explain()
    rng = np.random.default_rng(18)
    for _ in range(3):
        fn(*_data(rng, 5))
    text = fn.explain()
    assert "guard" in text
    assert "(5, 4)" in text  # the input's shape is guarded
    assert "replay" in text
    fn.reset()
    assert fn.entries == []


def test_explain_names_the_host_steps():
    cr.manual_seed(0)
    model, opt = _setup()
    sched = optim.lr_scheduler.StepLR(opt, 2)

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()

    fn = _compile(step)
    rng = np.random.default_rng(19)
    for _ in range(3):
        fn(*_data(rng, 5))
    text = fn.explain()
    assert "host step" in text.lower()
    assert "Adam.step" in text and "StepLR.step" in text or "LRScheduler.step" in text


def test_explain_says_why_a_call_runs_eagerly():
    def f(x):
        return x * float(np.asarray(x.detach()._array).sum())  # NumPy takes the traced array's memory

    fn = _compile(f)
    with pytest.warns(UserWarning, match="runs eagerly"):
        out = fn(cr.tensor([1.0, 2.0]))
    assert np.array_equal(out.numpy(), np.array([3.0, 6.0]))
    assert "runs eagerly" in fn.explain() and "numpy" in fn.explain().lower()
    assert np.array_equal(fn(cr.tensor([2.0, 2.0])).numpy(), np.array([8.0, 8.0]))
    assert fn.stats["eager"] == 1


# ------------------------------------------------------- state changed between the calls
def _linear_runs(compiled, between, zero=True, set_to_none=True, returns="loss"):
    """A Linear(3, 2) trained by SGD with momentum on 6 fixed inputs; ``between(i, model, opt)``
    runs before call i.  Returns (what each call returned, as arrays, at the end; weight; grad; fn)."""
    rng = np.random.default_rng(20)
    xs = [cr.tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(6)]
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        if zero:
            opt.zero_grad(set_to_none=set_to_none)
        loss = (model(x) ** 2).sum()
        loss.backward()
        if zero:
            opt.step()
        return model.weight.grad if returns == "grad" else loss.detach()

    fn = _compile(step) if compiled else step
    kept = []
    for i, x in enumerate(xs):
        between(i, model, opt)
        kept.append(fn(x))
    return [k.numpy().copy() for k in kept], _arr(model.weight), model.weight.grad.numpy().copy(), fn


def _compare_linear_runs(between, **kw):
    a, b = _linear_runs(False, between, **kw), _linear_runs(True, between, **kw)
    for i, (x, y) in enumerate(zip(a[0], b[0])):
        assert np.array_equal(x, y), f"call {i}"
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    return b[3]


def _nothing(i, model, opt):
    pass


def test_a_returned_gradient_stays_a_plain_tensor():
    """The step returns ``model.weight.grad``; the next call's zero_grad lets that tensor go.
    The caller still holds it: its array must stay a plain ndarray with the old values."""
    fn = _compare_linear_runs(_nothing, returns="grad")
    assert fn.stats["replays"] >= 3


def _linear_steps(metric=None, **kw):
    """(eager step, its model, compiled step, its model): a Linear(5, 4) trained with SGD on
    ``cross_entropy(logits, y, **kw)``, both from the same start; a step returns the loss, and
    ``metric(logits)`` beside it (taken after ``opt.step()``) when given."""

    def build():
        cr.manual_seed(9)
        m = cr.nn.Linear(5, 4)
        opt = cr.optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            logits = m(x)
            loss = cr.nn.functional.cross_entropy(logits, y, **kw)
            loss.backward()
            opt.step()
            return loss if metric is None else (loss, metric(logits))

        return step, m

    (eager, m_e), (step, m_c) = build(), build()
    return eager, m_e, _compile(step), m_c


def _step_returning(metric):
    """``_linear_steps`` returning (loss, metric(logits)): the numbers of 5 calls compared."""
    eager, _, fn, _ = _linear_steps(metric)
    rng = np.random.default_rng(10)
    for _ in range(5):
        x, y = cr.tensor(rng.standard_normal((6, 5)), dtype=cr.float32), cr.tensor(rng.integers(0, 4, 6))
        for a, b in zip(eager(x, y), fn(x, y)):
            assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    return fn


def test_a_tensor_computed_after_backward_from_a_freed_graph():
    """The step returns ``logits.softmax(-1)`` computed after ``loss.backward()`` freed the
    graph below it (as eager, no backward can go through it): the capture must not try to
    record a backward pass through it (it raised the freed-graph error), and replays give
    eager's values."""
    assert _step_returning(lambda logits: logits.softmax(-1)).stats["replays"] == 3


@pytest.mark.parametrize("first", ["aliased", "distinct"])
def test_one_tensor_in_two_arguments_and_two_tensors_are_different_calls(first):
    """f(x, x) and f(a, b): one tensor in two places is one array of the plan, two tensors are
    two.  A plan captured with one pattern must not replay the other (f(a, b) read a twice)."""

    def f(a, b):
        a.mul_(2)
        return a + b

    fn = _compile(f)
    make = {
        "aliased": lambda k: (lambda x: (x, x))(cr.ones(3) * (k + 1)),
        "distinct": lambda k: (cr.ones(3) * (k + 1), cr.ones(3) * 10),
    }
    order = [first, first, "distinct" if first == "aliased" else "aliased", first]
    for k, kind in enumerate(order):
        a_e, b_e = make[kind](k)
        a_c, b_c = make[kind](k)
        want, got = f(a_e, b_e), fn(a_c, b_c)
        assert np.array_equal(want.numpy(), got.numpy()), f"call {k} ({kind})"
        assert np.array_equal(a_e.numpy(), a_c.numpy()) and np.array_equal(b_e.numpy(), b_c.numpy())


def test_an_argument_that_is_also_a_parameter_then_another_tensor():
    """f(lin.weight, x) captures one tensor, read both as the argument and as the layer's
    weight; f(other, x) must not replay it (the layer read ``other`` as its weight)."""
    lin = cr.nn.Linear(3, 3)

    def f(w, x):
        return lin(x) + w.sum()

    fn = _compile(f)
    x = cr.tensor(np.arange(6.0).reshape(2, 3), dtype=cr.float32)
    other = cr.tensor(np.full((3, 3), 5.0), dtype=cr.float32, requires_grad=True)
    with cr.no_grad():
        for w in (lin.weight, lin.weight, lin.weight, other, other, lin.weight):
            assert np.array_equal(fn(w, x).numpy(), f(w, x).numpy())


@pytest.mark.parametrize("which", ["topk", "sort", "kthvalue", "median", "max"])
def test_ranked_values_after_the_step_replay(which):
    """Metrics after ``opt.step()`` that pick entries by rank (topk's values, sort, kthvalue,
    median, max along a dim) read no value in Python (the picked indices are in range by
    construction), so the step replays instead of running eagerly."""
    pick = {
        "topk": lambda o: o.topk(2, dim=1).values,
        "sort": lambda o: o.sort(dim=1).values,
        "kthvalue": lambda o: o.kthvalue(2, dim=1).values,
        "median": lambda o: o.median(dim=1).values,
        "max": lambda o: o.max(dim=1).values,
    }[which]
    fn = _step_returning(lambda logits: pick(logits.detach()))
    assert fn.stats == {"captures": 2, "replays": 3, "eager": 0, "diverged": 0}


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"weight": "w"}])
def test_cross_entropy_with_a_varying_count_of_ignored_targets_replays(kw):
    """Padding targets (ignore_index=-100), a different number in every batch: the loss's mean
    divides by the count of the others, which the plan computes (no Python read of it: every
    batch replays), with eager's numbers."""

    weight = cr.tensor([1.0, 2.0, 0.5, 1.5]) if kw.get("weight") else None
    eager, m_e, fn, m_c = _linear_steps(ignore_index=-100, **{**kw, "weight": weight})
    rng = np.random.default_rng(8)
    for k in range(8):
        y = rng.integers(0, 4, 12)
        y[rng.permutation(12)[: k % 5 + 1]] = -100
        x = cr.tensor(rng.standard_normal((12, 5)), dtype=cr.float32)
        a, b = eager(x, cr.tensor(y)), fn(x, cr.tensor(y))
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    _same_model(m_e, m_c)
    assert fn.stats == {"captures": 2, "replays": 6, "eager": 0, "diverged": 0}


def test_zero_grad_to_zeros_and_gradient_accumulation():
    fn = _compare_linear_runs(_nothing, set_to_none=False)
    assert fn.stats["replays"] >= 3
    fn = _compare_linear_runs(_nothing, zero=False)  # no zero_grad, no step: gradients add up
    assert fn.stats["replays"] >= 3


def test_learning_rate_set_by_hand_between_calls():
    """train_seq2seq sets param_groups' lr itself before each step; the host step reads it."""

    def between(i, model, opt):
        opt.param_groups[0]["lr"] = 0.1 / (i + 1)

    assert _compare_linear_runs(between).stats["replays"] >= 3


def test_parameters_changed_outside_between_calls():
    saved = {}

    def between(i, model, opt):
        if i == 0:
            saved.update({k: v.clone() for k, v in model.state_dict().items()})
        if i == 3:
            model.load_state_dict(saved)
        if i == 4:
            with cr.no_grad():
                model.weight.mul_(0.5)
        if i == 5:
            model.bias.data = cr.tensor([1.0, -1.0])

    assert _compare_linear_runs(between).stats["replays"] >= 2


def test_in_place_change_of_an_input():
    def f(x):
        x.add_(1.0)
        return x * 2

    fn = _compile(f)
    xe, xc = cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.0])
    for _ in range(4):
        assert np.array_equal(f(xe).numpy(), fn(xc).numpy())
    assert np.array_equal(xc.numpy(), [5.0, 6.0]) and fn.stats["replays"] == 3


def test_outputs_of_earlier_calls_keep_their_values():
    """A replay must not write into the arrays it returned from an earlier call."""

    def f(x):
        y = (x * 2).exp()
        return y, y.sum(), x - 1.0

    fn = _compile(f)
    rng = np.random.default_rng(21)
    xs = [cr.tensor(rng.standard_normal(4)) for _ in range(5)]
    kept = [fn(x) for x in xs]
    for x, outs in zip(xs, kept):
        for a, b in zip(f(x), outs):
            assert np.array_equal(a.numpy(), b.numpy())
    assert fn.stats["replays"] == 4


def test_function_whose_output_graph_is_used_outside():
    rng = np.random.default_rng(22)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)

    def f(x, w):
        return (x @ w).tanh()

    fn = _compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            x = cr.tensor(rng.standard_normal((2, 3)).astype(np.float32))
            we, wc = cr.tensor(w0, requires_grad=True), cr.tensor(w0, requires_grad=True)
            (f(x, we) ** 2).sum().backward()
            (fn(x, wc) ** 2).sum().backward()
            assert np.array_equal(we.grad.numpy(), wc.grad.numpy())


def test_python_numbers_in_arguments_and_closures():
    x = cr.tensor([1.0, 2.0])

    def f(x, k):
        return x * k

    fn = _compile(f)
    assert np.array_equal(fn(x, 2.0).numpy(), [2.0, 4.0])
    assert np.array_equal(fn(x, 3.0).numpy(), [3.0, 6.0])
    assert np.array_equal(fn(x, 3.0).numpy(), [3.0, 6.0])
    scale = 2.0

    def g(x):
        return x * scale

    gn = _compile(g)
    assert np.array_equal(gn(x).numpy(), [2.0, 4.0])
    scale = 5.0
    assert np.array_equal(gn(x).numpy(), [5.0, 10.0])


def test_changing_a_module_attribute_between_calls():
    drop = nn.Dropout(0.5)
    x = cr.ones(200)

    def f(x):
        return drop(x) * 1.0

    fn = _compile(f)
    outs = {}
    for name, g in (("eager", f), ("compiled", fn)):
        drop.p = 0.5
        cr.manual_seed(1)
        g(x)
        drop.p = 0.1
        cr.manual_seed(1)
        outs[name] = g(x).numpy().copy()
    assert np.array_equal(outs["eager"], outs["compiled"])


@pytest.mark.parametrize("where", ["dict", "attribute"])
def test_changing_a_number_read_through_a_container(where):
    cfg = {"scale": 2.0}

    class Cfg:
        scale = 2.0

    obj = Cfg()

    def f(x):
        return x * (cfg["scale"] if where == "dict" else obj.scale)

    fn = _compile(f)
    x = cr.tensor([1.0, 2.0])
    fn(x)
    cfg["scale"] = obj.scale = 3.0
    assert np.array_equal(fn(x).numpy(), f(x).numpy())


def test_tensors_on_another_device_run_eagerly(strict):
    """The plan runs NumPy: a call whose tensors live on another back end (the strict test
    device) stays eager, with eager's numbers; the same function on CPU tensors still replays."""
    from strict_backend import DEVICE
    from strict_backend import host as values

    def f(x, w):
        return (x @ w).tanh().sum(0)

    fn = _compile(f)
    rng = np.random.default_rng(27)
    x0, w0 = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
    xs, ws = cr.tensor(x0).to(DEVICE), cr.tensor(w0).to(DEVICE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            assert np.array_equal(values(fn(xs, ws)), values(f(xs, ws)))
        for _ in range(3):
            assert np.array_equal(fn(cr.tensor(x0), cr.tensor(w0)).numpy(), f(cr.tensor(x0), cr.tensor(w0)).numpy())
    assert fn.stats["replays"] >= 2


COUNT = 0


def test_python_side_effects_happen_on_every_call():
    """A replay does not run the function's Python code: a call that appends to a list,
    counts in a global or draws from Python's generator must not be replayed."""
    global COUNT
    import random

    history = []
    rng = np.random.default_rng(25)
    xs = [cr.tensor(rng.standard_normal(3)) for _ in range(12)]

    def f(x):
        global COUNT
        COUNT += 1
        y = (x * 2).sum()
        history.append(float(y))
        return y * random.random()

    COUNT = 0
    fn = _compile(f)
    random.seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = [float(fn(x)) for x in xs]
    assert COUNT == 12 and len(history) == 12
    assert history == [float((x * 2).sum()) for x in xs]
    random.seed(3)
    assert comp == [float(f(x)) for x in xs]
    COUNT = 0


def test_manual_seed_inside_the_function():
    def f(x):
        cr.manual_seed(4)
        return F.dropout(x, 0.5, training=True)

    fn = _compile(f)
    x = cr.ones(64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = [fn(x).numpy().copy() for _ in range(3)]
    ref = f(x).numpy()
    assert all(np.array_equal(o, ref) for o in outs)  # the same mask each time, as eager
    after = F.dropout(x, 0.5, training=True).numpy()  # the generator continues from the seed + one draw
    cr.manual_seed(4)
    F.dropout(x, 0.5, training=True)
    assert np.array_equal(after, F.dropout(x, 0.5, training=True).numpy())


@pytest.mark.parametrize("change", ["new_parameter", "new_submodule", "forward_hook"])
def test_changing_a_module_structure_between_calls(change):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())

    def f(x):
        return model(x) * 1.0

    fn = _compile(f)
    x = cr.tensor([[1.0, -2.0]])
    with cr.no_grad():
        fn(x)
        if change == "new_parameter":
            model[0].weight = nn.Parameter(cr.tensor([[10.0, 1.0], [-1.0, 3.0]]))
        elif change == "new_submodule":
            model[1] = nn.Tanh()
        else:
            model[0].register_forward_hook(lambda m, i, o: o * 100)
        assert np.array_equal(fn(x).numpy(), f(x).numpy())


def test_numpy_array_argument_changed_in_place():
    w = cr.tensor([1.0, 2.0, 3.0])

    def f(ids):
        return w[cr.as_tensor(ids)] * 2.0

    fn = _compile(f)
    ids = np.array([0, 1])
    assert np.array_equal(fn(ids).numpy(), f(ids).numpy())
    ids[:] = [2, 2]  # a data loader refilling its batch buffer
    assert np.array_equal(fn(ids).numpy(), f(ids).numpy())


def test_scheduler_stepped_on_the_loss_gives_eager_numbers():
    """ReduceLROnPlateau.step(loss) reads the loss on the host: eager's numbers, whatever the path."""

    def run(compiled):
        cr.manual_seed(0)
        model = nn.Linear(2, 1)
        opt = optim.SGD(model.parameters(), lr=0.5)
        sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
        x = cr.tensor([[1.0, 2.0], [0.5, -1.0]])

        def step():
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step(loss)
            return loss.detach()

        fn = _compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [float(fn()) for _ in range(8)], opt.param_groups[0]["lr"]

    eager, comp = run(False), run(True)
    assert eager == comp
    assert eager[1] < 0.5  # the plateau was reached: the schedule did its work


def test_no_grad_block_inside_the_function():
    """Nothing inside the no_grad block gets a gradient; the rest does, as in eager."""
    cr.manual_seed(0)
    lin = nn.Linear(2, 2)
    w0 = np.array([[0.5, -1.0]], np.float32)

    def f(x, w):
        with cr.no_grad():
            t = lin(x)
        return (t * x * w).sum()

    fn = _compile(f)
    rng = np.random.default_rng(24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            x = cr.tensor(rng.standard_normal((3, 2)).astype(np.float32))
            we, wc = cr.tensor(w0, requires_grad=True), cr.tensor(w0, requires_grad=True)
            out_e, out_c = f(x, we), fn(x, wc)
            assert np.array_equal(_arr(out_e), _arr(out_c))
            out_e.backward()
            out_c.backward()
            assert np.array_equal(we.grad.numpy(), wc.grad.numpy())
    assert lin.weight.grad is None and lin.bias.grad is None


def test_fused_loop_on_two_non_contiguous_inputs():
    def f(a, b):
        return cr.sigmoid(a[:, :2] + b[:, :2]) * 1.0

    fn = cr.compile(f)
    rng = np.random.default_rng(23)
    for _ in range(3):  # (the fused loop's vector expf: NumPy's numbers to rounding)
        a, b = (cr.tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(2))
        np.testing.assert_allclose(fn(a, b).numpy(), f(a, b).numpy(), rtol=1e-6, atol=0)


# ------------------------------------------------------------------------ the tracer
def test_a_traced_op_records_a_step():
    tape = Tape()
    a = tape.input(np.array([1.0, 2.0, 3.0]))
    b = TraceMath.exp(a)
    assert type(b) is TraceArray
    assert np.array_equal(b._a, np.exp([1.0, 2.0, 3.0]))
    step = tape.steps[-1]
    assert step.kind == "call" and step.label == "m.exp" and step.args == (Ref(a.slot),) and step.out == b.slot
    c = b * 2.0 + a
    assert np.array_equal(c._a, np.exp([1.0, 2.0, 3.0]) * 2 + [1, 2, 3])
    assert [s.fn for s in tape.steps[-2:]] == ["*", "+"]
    assert tape.steps[-1].args == (Ref(tape.steps[-2].out), Ref(a.slot))
    assert a.slot in tape.inputs and b.slot not in tape.inputs


def test_a_value_read_records_a_guard():
    tape = Tape()
    a = tape.input(np.array([1.0, -2.0]))
    assert bool((a > 0).any()) is True
    guard = tape.steps[-1]
    assert guard.kind == "guard" and guard.fn == "bool" and guard.kwargs == {"value": True}
    assert float(a.sum()) == -1.0
    assert tape.steps[-1].kind == "guard" and tape.steps[-1].kwargs == {"value": -1.0}
    assert a[0].item() == 1.0
    assert tape.steps[-1].fn == "item"
    assert tape.breaks == []


def test_a_value_shaped_result_guards_its_shape_when_read():
    tape = Tape()
    a = tape.input(np.array([1.0, -2.0, 3.0]))
    kept = a[a > 0]
    n = len(tape.steps)
    assert kept.shape == (2,)
    assert [s.kind for s in tape.steps[n:]] == ["call", "guard"]
    assert tape.steps[-1].kwargs == {"value": (2,)}
    twice = kept * 2  # computed from it: its shape follows the mask's
    assert twice.shape == (2,) and len(tape.steps) == n + 3  # (the mask's shape is guarded once)
    ordinary = a * 2
    n = len(tape.steps)
    assert ordinary.shape == (3,) and len(tape.steps) == n  # a shape the input guards fix: no guard


def test_reading_the_shape_of_a_result_of_a_value_shaped_one_guards_its_own_shape():
    """A sum over a masked selection has shape () whatever the mask held: reading that shape
    guards the sum's own shape, not the selection's length (a recurrent layer's output after
    an input fold with one row per distinct index: a plan tied to that count never replayed)."""
    tape = Tape()
    a = tape.input(np.array([1.0, -2.0, 3.0]))
    total = a[a > 0].sum()
    n = len(tape.steps)
    assert total.shape == ()
    shape_step, guard = tape.steps[n:]
    assert shape_step.args == (Ref(total.slot),) and guard.kwargs == {"value": ()}


def test_reading_the_flags_of_a_value_shaped_array_guards_its_shape():
    """Contiguity follows the shape (a selection of one row is C-ordered whatever its
    strides): code that reads ``flags`` to decide on a copy needs the shape it saw."""
    tape = Tape()
    a = tape.input(np.arange(6.0).reshape(3, 2))
    kept = a[:, 0][a[:, 0] > 3]
    n = len(tape.steps)
    assert kept.flags.c_contiguous
    assert [s.kind for s in tape.steps[n:]] == ["call", "guard"] and tape.steps[-1].kwargs == {"value": (1,)}


@pytest.mark.parametrize("how", ["copyto", "iadd", "setitem", "scatter_add_rows"])
def test_an_in_place_write_into_an_untraced_array_breaks_the_tape(how):
    tape = Tape()
    a = tape.input(np.ones((3, 2)))
    dst = np.zeros((3, 2))
    if how == "copyto":
        TraceMath.copyto(dst, a)
    elif how == "iadd":
        dst += a
    elif how == "setitem":
        dst[:] = a
    else:
        rows = tape.input(np.array([0, 2, 0]))
        TraceMath.scatter_add_rows(dst, rows, a)
    assert tape.breaks, how
    assert "not traced" in tape.breaks[0] or "NumPy converted" in tape.breaks[0]
    assert all(a.slot not in (s.writes or ()) for s in tape.steps)  # the source was not written


def test_an_in_place_write_into_a_traced_array_is_recorded():
    tape = Tape()
    a = tape.input(np.ones(3))
    b = a * 0.0
    b += a
    b[0] = 5.0
    assert [s.writes[0] for s in tape.steps[-2:]] == [b.slot, b.slot]
    assert np.array_equal(b._a, [5.0, 1.0, 1.0])
    assert tape.breaks == []


def test_numpy_function_on_a_traced_array_is_recorded():
    tape = Tape()
    a = tape.input(np.array([[1.0, 2.0], [3.0, 4.0]]))
    b = np.moveaxis(a, 0, 1)
    assert type(b) is TraceArray and np.array_equal(b._a, [[1.0, 3.0], [2.0, 4.0]])
    assert tape.steps[-1].kind == "call" and tape.steps[-1].label == "np.moveaxis"
    c = np.exp(a)  # a ufunc
    assert type(c) is TraceArray and tape.steps[-1].label == "np.exp"
    assert tape.breaks == []


def test_numpy_function_with_a_value_shaped_result_guards_its_shape():
    tape = Tape()
    a = tape.input(np.array([0.0, 2.0, 0.0, 5.0]))
    idx = np.flatnonzero(a)
    n = len(tape.steps)
    assert len(idx) == 2
    assert [s.kind for s in tape.steps[n:]] == ["call", "guard"] and tape.steps[-1].kwargs == {"value": (2,)}


def test_numpy_taking_a_traced_arrays_memory_breaks_the_tape():
    tape = Tape()
    a = tape.input(np.ones(3))
    assert np.asarray(a).sum() == 3.0
    assert tape.breaks and "NumPy converted" in tape.breaks[0]


def test_fullgraph_tape_raises_at_the_break():
    tape = Tape(fullgraph=True)
    a = tape.input(np.ones(3))
    with pytest.raises(GraphBreak):
        np.asarray(a)


def test_arrays_left_after_a_capture_compute_without_recording():
    fn = _compile(lambda x: x * 2)
    x = cr.tensor([1.0, 2.0])
    out = fn(x)
    assert type(out._array) is np.ndarray and type(x._array) is np.ndarray
    assert isinstance(out, Tensor) and np.array_equal(out.numpy(), [2.0, 4.0])


def test_tensors_in_default_arguments_are_found():
    """``def run(model=model, x=x)``: the Module and the input reached through parameters'
    default values are found like a closure's, so the call replays (and sees the parameters'
    updates); unfound, nothing would be traced and every call would run eagerly."""
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    x = cr.ones(4, 3)

    def run(model=model, x=x):
        with cr.no_grad():
            return model(x)

    fn = cr.compile(run)
    for _ in range(3):
        assert np.array_equal(fn().numpy(), run().numpy())
    with cr.no_grad():
        model.weight.mul_(2.0)
    assert np.array_equal(fn().numpy(), run().numpy())
    assert fn.stats["replays"] >= 3 and fn.stats["eager"] == 0


@pytest.mark.parametrize("source", ["numpy", "python"])
def test_a_draw_from_a_global_generator_is_never_a_stale_constant(source):
    """A draw from NumPy's or Python's global generator inside the function would be a constant
    of a plan: the capture sees the generator's state change and the function stays eager, each
    call drawing anew, with a warning that names the generator."""
    import random

    def f(x):
        u = np.random.random() if source == "numpy" else random.random()
        return (x * float(u)).sum()

    x = cr.tensor(np.ones(4, np.float32))
    fn = cr.compile(f)
    np.random.seed(0)
    random.seed(0)
    with pytest.warns(UserWarning, match="NumPy's global random state" if source == "numpy" else "Python's random"):
        got = [fn(x).item() for _ in range(4)]
    np.random.seed(0)
    random.seed(0)
    want = [f(x).item() for _ in range(4)]
    assert got == want and len(set(got)) == 4
    assert fn.stats["replays"] == 0


# ------------------------------------------------------------ tensor hooks and retain_grad
def _hooked_calls(where: str, kind: str):
    """Calls of a training step where a tensor hook (or retain_grad, or a post-accumulate hook)
    comes and goes: ``where`` 'before' (on the first layer's weight from the first call),
    'later' (registered there after three calls) or 'inside' (registered by the function on
    its own hidden activation, every call).  The hook halves the gradient and counts its calls
    in a list the function does not read (a side effect only the hook's Python shows)."""
    rng = np.random.default_rng(7)
    batches = [_data(rng, 6) for _ in range(9)]
    log: list = []  # (emptied by each run)

    def attach(t):
        if kind == "hook":
            return t.register_hook(lambda g: log.append(1) or g * 0.5)
        if kind == "post_accumulate":
            return t.register_post_accumulate_grad_hook(lambda p: log.append(1))
        t.retain_grad()
        return None

    def run(model, opt, compiled):
        log.clear()
        kept: list = []

        def step(x, y):
            opt.zero_grad()
            h = model[0](x)
            if where == "inside":
                attach(h)
            loss = F.cross_entropy(model[1:](h), y)
            loss.backward()
            if where == "inside" and kind == "retain_grad":
                kept.append(h.grad.detach())
            opt.step()
            return loss.detach()

        fn = _compile(step) if compiled else step
        out, handle = [], None
        for i, (x, y) in enumerate(batches):
            if where != "inside" and i == (0 if where == "before" else 3):
                handle = attach(model[0].weight)
            if where != "inside" and i == 6 and handle is not None:
                handle.remove()
            out.append(fn(x, y))
        return out, list(log) + [_arr(k) for k in kept], fn

    return run


@pytest.mark.parametrize("kind", ["hook", "retain_grad", "post_accumulate"])
@pytest.mark.parametrize("where", ["before", "later", "inside"])
def test_tensor_hooks_run_on_every_call_as_in_eager(where, kind):
    """A hook's Python runs on every call, as eagerly: a replay cannot run it, so a call whose
    tensors have hooks runs eagerly (with a warning), and a hook registered after a capture
    stops that plan's replays (its guard), never a stale replay without it."""
    if kind == "retain_grad" and where != "inside":
        pytest.skip("retain_grad on a leaf keeps .grad as it is: nothing to compare")
    if kind == "post_accumulate" and where == "inside":
        pytest.skip("a post-accumulate-grad hook goes on leaves only (as in PyTorch)")
    run = _hooked_calls(where, kind)
    model_e, opt_e = _setup()
    res_e, seen_e, _ = run(model_e, opt_e, False)
    model_c, opt_c = _setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res_c, seen_c, fn = run(model_c, opt_c, True)
    for i, (a, b) in enumerate(zip(res_e, res_c)):
        assert np.array_equal(_arr(a), _arr(b)), f"call {i}: eager {a}, compiled {b}"
    _same_model(model_e, model_c)
    assert len(seen_e) == len(seen_c) > 0
    for a, b in zip(seen_e, seen_c):
        assert (a is None and b is None) or np.array_equal(a, b)


def test_a_hook_registered_later_stops_the_replays():
    model, opt = _setup()
    step = _compile(_train_step(model, opt))
    x, y = _data(np.random.default_rng(3), 6)
    for _ in range(3):
        step(x, y)
    assert step.stats["replays"] == 1
    calls: list = []
    handle = model[3].bias.register_hook(lambda g: calls.append(1))
    with pytest.warns(UserWarning, match="tensor hook ran in backward"):
        step(x, y)
    step(x, y)
    assert len(calls) == 2 and step.stats["replays"] == 1
    handle.remove()


@pytest.mark.parametrize("kind", ["forward", "forward_pre"])
def test_module_forward_hooks_run_on_every_call_as_in_eager(kind):
    """A forward hook that keeps activations (a diagnostics callback, a feature extractor): the
    list holds one per call, each that call's values, as eagerly; a replay cannot run the
    hook's Python, so such calls run eagerly."""
    def run(compiled):
        model, opt = _setup()
        kept: list = []
        if kind == "forward":
            model[1].register_forward_hook(lambda mod, inp, out: kept.append(out.detach()))
        else:
            model[1].register_forward_pre_hook(lambda mod, inp: kept.append(inp[0].detach()))
        step = _train_step(model, opt)
        fn = _compile(step) if compiled else step
        rng = np.random.default_rng(9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(5):
                fn(*_data(rng, 6))
        return [_arr(k) for k in kept]

    eager, compiled = run(False), run(True)
    assert len(eager) == len(compiled) == 5
    for a, b in zip(eager, compiled):
        assert np.array_equal(a, b)


def _around_a_change(make, change, call=lambda model, x: model(x).sum()):
    """``call(model, x)`` three times, ``change(model)``, twice more; eagerly, then compiled (from
    ``make()`` again): the change changes the result, and the compiled calls give eager's
    numbers, never a replay of the plan from before the change.  Returns the compiled function."""
    def run(compiled):
        cr.manual_seed(0)
        model = make()

        def f(x):
            return call(model, x)

        fn = _compile(f) if compiled else f
        x = cr.tensor(np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(2, 4))
        out = [fn(x) for _ in range(3)]
        change(model)
        out += [fn(x) for _ in range(2)]
        return [_arr(o) for o in out], fn

    eager, _ = run(False)
    compiled, fn = run(True)
    assert not np.array_equal(eager[2], eager[3])
    for a, b in zip(eager, compiled):
        assert np.array_equal(a, b)
    return fn


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.act = F.relu

    def forward(self, x):
        return self.act(self.lin(x))


def _set_forward(model):
    import types

    model.forward = types.MethodType(lambda self, inp: self.lin(inp) * 3.0, model)


def _set_act(model):
    model.act = F.tanh


@pytest.mark.parametrize("change", [_set_forward, _set_act], ids=["forward_on_the_instance", "function_attribute"])
def test_a_module_method_or_function_attribute_replaced_between_calls(change):
    """``model.forward = ...`` on the instance (a wrapper a library puts there), or a function
    the Module keeps as an attribute and calls (``self.act = F.relu``) replaced."""
    assert _around_a_change(_Block, change).stats["captures"] == 2


class _Scaled(nn.Module):
    scale = 1.0  # a class attribute forward reads

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x) * self.scale


class _Flipped(_Scaled):
    def forward(self, x):
        return -self.lin(x)


def _set_scale(model):
    _Scaled.scale = 3.0


def _set_class(model):
    model.__class__ = _Flipped


@pytest.mark.parametrize("change", [_set_scale, _set_class], ids=["class_attribute", "class"])
def test_a_module_class_attribute_or_class_changed_between_calls(change):
    """A class attribute forward reads (``Block.scale = 3.0``), or the instance's class itself
    (``model.__class__ = Other``), changed between calls."""
    def make():
        _Scaled.scale = 1.0
        return _Scaled()

    try:
        assert _around_a_change(make, change).stats["captures"] == 2
    finally:
        _Scaled.scale = 1.0


FORWARD_GAIN = 1.0  # a global a Module's forward reads


class _Configured(nn.Module):
    """A Module whose forward reads a global, a config object, a list, a dict and an array."""

    class Config:
        def __init__(self):
            self.alpha = 1.0

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.cfg = _Configured.Config()
        self.scales = [1.0, 2.0]
        self.opts = {"p": 1.0}
        self.shift = np.zeros(3, dtype=np.float32)

    def forward(self, x):
        y = self.lin(x) * FORWARD_GAIN * self.cfg.alpha * self.scales[0] * self.opts["p"]
        return y + cr.tensor(self.shift)


def _set_gain(model):
    global FORWARD_GAIN
    FORWARD_GAIN = 3.0


_IN_PLACE_CHANGES = {
    "global": _set_gain,
    "config": lambda model: setattr(model.cfg, "alpha", 3.0),
    "list": lambda model: model.scales.__setitem__(0, 3.0),
    "dict": lambda model: model.opts.__setitem__("p", 3.0),
    "array": lambda model: model.shift.__setitem__(0, 3.0),
}


@pytest.mark.parametrize("change", list(_IN_PLACE_CHANGES))
def test_what_a_module_forward_reads_changed_between_calls(change):
    """What the forward of the user's Module reads besides its tensors, changed in place between
    calls: a global of its module, an attribute of a config object it holds, an item of a list,
    of a dict, of a NumPy array it holds."""
    global FORWARD_GAIN

    def make():
        global FORWARD_GAIN
        FORWARD_GAIN = 1.0
        return _Configured()

    try:
        assert _around_a_change(make, _IN_PLACE_CHANGES[change]).stats["replays"] >= 2
    finally:
        FORWARD_GAIN = 1.0


class _FocalLike:
    """A loss object of the user's, called by the step (not a Module)."""

    def __init__(self):
        self.gamma = 1.0

    def __call__(self, out):
        return (out * self.gamma).sum()


ACTIVATION = F.relu  # a global function the step calls


def _set_activation(pair):
    global ACTIVATION
    ACTIVATION = F.tanh


@pytest.mark.parametrize("change", [lambda pair: setattr(pair[1], "gamma", 3.0), _set_activation],
                         ids=["called_object_attribute", "global_function"])
def test_a_called_object_or_a_global_function_changed_between_calls(change):
    """The attribute a called object of the user's reads in ``__call__`` (``crit.gamma``), or a
    global bound to a function and rebound to another (``ACTIVATION = F.tanh``)."""
    global ACTIVATION

    def make():
        global ACTIVATION
        ACTIVATION = F.relu
        return nn.Linear(4, 3), _FocalLike()

    try:
        fn = _around_a_change(make, change, lambda pair, x: pair[1](ACTIVATION(pair[0](x))))
        assert fn.stats["replays"] >= 2
    finally:
        ACTIVATION = F.relu


def test_gradient_clipping_in_the_step_replays_whichever_side_of_max_norm():
    """clip_grad_norm_ inside a compiled step, with a norm that goes above and below max_norm from
    one batch to the next: every later call replays (no value read steers the replay: as in
    PyTorch, the gradients are multiplied by min(1, coef) always, and ×1 changes no bit), with
    eager's numbers."""
    rng = np.random.default_rng(21)
    batches = [(cr.tensor((rng.standard_normal((6, 4)) * (8.0 if i % 2 else 0.05)).astype(np.float32)),
                cr.tensor(rng.integers(0, 3, 6))) for i in range(10)]

    def clipped_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return loss.detach(), norm

        return step

    model_e, opt_e = _setup()
    res_e = [clipped_step(model_e, opt_e)(x, y) for x, y in batches]
    model_c, opt_c = _setup()
    fn = _compile(clipped_step(model_c, opt_c))
    res_c = [fn(x, y) for x, y in batches]
    norms = [float(n.item()) for _, n in res_e]
    assert min(norms) < 0.5 < max(norms)  # (both sides of max_norm)
    for (la, na), (lb, nb) in zip(res_e, res_c):
        assert np.array_equal(_arr(la), _arr(lb)) and np.array_equal(_arr(na), _arr(nb))
    _same_model(model_e, model_c)
    assert fn.stats["replays"] == len(batches) - 2 and fn.stats["diverged"] == 0, fn.stats


@pytest.mark.parametrize("source", ["chainrule", "numpy"])
def test_draws_from_a_generator_of_the_functions_own(source):
    """``cr.randn(..., generator=g)`` with a Generator the function holds (chainrule's or NumPy's):
    each call draws the next values, as eagerly.  A replay cannot draw from it (it replays the
    default generator's draws only), so such calls run eagerly, never with the captured noise."""
    def run(compiled):
        cr.manual_seed(0)
        g = cr.Generator().manual_seed(123) if source == "chainrule" else np.random.default_rng(123)
        model = nn.Linear(4, 3)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (model(x + cr.randn(x.shape, generator=g)) ** 2).mean()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = _compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [_arr(fn(cr.ones(5, 4))) for _ in range(6)]

    eager, compiled = run(False), run(True)
    assert len(set(float(v) for v in eager)) == 6
    for a, b in zip(eager, compiled):
        assert np.array_equal(a, b)


class _TrainerLike:
    """An object of the user's whose method computes the loss from a dict and a list it holds."""

    def __init__(self):
        self.model = nn.Linear(4, 3)
        self.cfg = {"scale": 1.0}
        self.scales = [1.0]

    def loss(self, x):
        return (self.model(x) * self.cfg["scale"] * self.scales[0]).sum()


@pytest.mark.parametrize("change", [lambda t: t.cfg.__setitem__("scale", 3.0), lambda t: t.scales.__setitem__(0, 3.0)],
                         ids=["dict_on_an_object", "list_on_an_object"])
def test_a_container_an_object_of_the_users_holds_changed_between_calls(change):
    """A dict or list held by an object of the user's (a trainer) and read by its method,
    changed in place between calls."""
    assert _around_a_change(_TrainerLike, change, lambda t, x: t.loss(x)).stats["replays"] >= 2


class _BatchTuple(typing.NamedTuple):
    x: Tensor
    y: Tensor


@dataclasses.dataclass
class _BatchClass:
    x: Tensor
    y: Tensor


@dataclasses.dataclass
class _Config:
    scale: float = 2.0
    use_tanh: bool = False
    calls: int = 0


@pytest.mark.parametrize("kind", [_BatchTuple, _BatchClass])
def test_a_batch_in_a_namedtuple_or_a_dataclass_replays(kind):
    """A new batch object every step, its tensors in fields: the plan reads the fields (the
    guard checks the class, not the object), so every step after the captures replays."""
    (eager, m_e), (step, m_c) = [_linear_step(lambda b, m: (m(b.x), b.y)) for _ in range(2)]
    fn = _compile(step)
    rng = np.random.default_rng(11)
    for _ in range(6):
        b = kind(cr.tensor(rng.standard_normal((5, 4)), dtype=cr.float32), cr.tensor(rng.integers(0, 2, 5)))
        assert np.array_equal(eager(b).detach().numpy(), fn(b).detach().numpy())
    _same_model(m_e, m_c)
    assert fn.stats == {"captures": 2, "replays": 4, "eager": 0, "diverged": 0}


def _linear_step(split):
    cr.manual_seed(12)
    m = nn.Linear(4, 2)
    opt = optim.SGD(m.parameters(), lr=0.1)

    def step(b):
        opt.zero_grad()
        out, y = split(b, m)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss

    return step, m


@pytest.mark.parametrize("make", [_Config, lambda: types.SimpleNamespace(scale=2.0, use_tanh=False)])
def test_an_argument_objects_values_changed_between_calls(make):
    """A config object passed as an argument, the same object each call, its values changed in
    between: the plan held the old ones as constants (a stale replay)."""

    def f(x, cfg):
        y = x * cfg.scale
        return y.tanh() if cfg.use_tanh else y

    fn = _compile(f)
    x = cr.ones(3)
    cfg = make()
    for scale, use_tanh in [(2.0, False), (2.0, False), (3.0, False), (3.0, False), (3.0, True), (3.0, True)]:
        cfg.scale, cfg.use_tanh = scale, use_tanh
        assert np.array_equal(fn(x, cfg).numpy(), f(x, cfg).numpy()), (scale, use_tanh)


def test_a_function_that_changes_its_argument_object_runs_eagerly():
    """``cfg.calls += 1`` inside: a replay would not repeat it, so the calls run eagerly (and
    count every call, as eager)."""

    def f(x, cfg):
        cfg.calls += 1
        return x * cfg.scale

    fn = _compile(f)
    cfg = _Config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            fn(cr.ones(3), cfg)
    assert cfg.calls == 4 and fn.stats["replays"] == 0


def test_both_sides_of_a_branch_on_a_value_replay():
    """``if x.sum() > 0`` captured on one side; a call that takes the other side diverges, is
    captured as a plan of its own, and from then on each call replays the plan of its side."""

    def f(x):
        if x.sum() > 0:
            return x * 2.0
        return x.exp() - 1.0

    fn = _compile(f)
    rng = np.random.default_rng(13)
    for k in range(8):
        x = cr.tensor(np.abs(rng.standard_normal(4)) * (1 if k % 2 else -1))
        assert np.array_equal(fn(x).numpy(), f(x).numpy())
    assert fn.stats["captures"] == 2 and fn.stats["replays"] == 6 and fn.stats["eager"] == 0


def test_cross_entropy_on_batches_with_and_without_ignored_targets_replays():
    """Some batches have padding targets and some have none: cross_entropy's check takes one
    path or the other (a branch on the targets' values); both are plans of their own."""

    eager, m_e, fn, m_c = _linear_steps(ignore_index=-100)
    rng = np.random.default_rng(15)
    for k in range(10):
        y = rng.integers(0, 4, 12)
        if k % 3 == 0:
            y[rng.permutation(12)[:3]] = -100
        x = cr.tensor(rng.standard_normal((12, 5)), dtype=cr.float32)
        assert np.array_equal(eager(x, cr.tensor(y)).detach().numpy(), fn(x, cr.tensor(y)).detach().numpy())
    _same_model(m_e, m_c)
    assert fn.stats["eager"] == 0 and fn.stats["replays"] >= 6


def test_a_branch_that_cannot_replay_leaves_the_other_replaying():
    """The other side of the branch reads a value after the step (it runs eagerly, with a
    warning): calls on the first side still replay their plan."""
    w = cr.tensor(np.ones(3), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.0)

    def f(x):
        opt.zero_grad()
        loss = (w * x).sum()
        positive = bool(x.sum() > 0)  # (read before the step: a branch a plan can guard)
        loss.backward()
        opt.step()
        if positive:
            return loss
        return loss * float(loss.detach().item())  # (read after the step: this side runs eagerly)

    fn = _compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sign in (1, 1, 1, -1, 1, -1, 1, -1, 1):  # (two captures first: a step's usual start)
            x = cr.tensor(np.full(3, float(sign)))
            assert np.array_equal(fn(x).detach().numpy(), f(x).detach().numpy())
    assert fn.stats["replays"] == 4 and fn.stats["captures"] == 3


def test_a_fused_loop_reads_a_mask_computed_before_it_as_a_mask():
    """A run of elementwise steps whose input is a bool array made outside it (``clamp_``'s
    backward multiplies by a product of comparisons, which no loop computes) read it as floats,
    past its end: garbage, NaN now and then, in x's gradient.  (Found by a compiled-against-eager
    fuzzer; this is its program.)"""

    def f(x, y):
        a, b = x * 1.0, y * 1.0
        a.clamp_(-1, 1)
        v = b.unsqueeze(0).squeeze(0)
        return (a * 0).sum() + v.sin().sum() + ((-v).sin() * 2).sum()

    fn = cr.compile(f)  # (with fused loops)
    rng = np.random.default_rng(16)
    for _ in range(6):
        data = rng.standard_normal((2, 64, 64)) * 2
        grads = []
        for g in (f, fn):
            x, y = (cr.tensor(d, requires_grad=True) for d in data)
            g(x, y).backward()
            grads.append((x.grad.numpy().copy(), y.grad.numpy().copy()))
        np.testing.assert_array_equal(grads[1][0], grads[0][0])
        np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12)
    assert "fused" in fn.explain()


def test_one_hot_with_num_classes_replays_whatever_labels_a_batch_holds():
    """``F.one_hot(y, 3)`` checked y by reading its minimum and maximum, values a plan had to
    guard: a batch whose largest label differed ran eagerly.  With ``num_classes`` given, only
    whether a label lies outside [0, 3) is read."""

    def f(x, y):
        return (x * F.one_hot(y, 3)).sum()

    fn = _compile(f)
    for labels in ([0, 1, 2, 2], [0, 1, 1, 0], [2, 2, 2, 2], [1, 0, 1, 0], [0, 2, 1, 1]):
        x, y = cr.tensor(np.ones((4, 3))), cr.tensor(labels)
        assert fn(x, y).item() == f(x, y).item() == 4.0
    assert fn.stats == {"captures": 1, "replays": 4, "eager": 0, "diverged": 0}
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        fn(cr.tensor(np.ones((4, 3))), cr.tensor([0, 3, 1, 1]))


# ---- what a compiled Module's call cannot read is not checked ---------------------------------
class _Settings:
    def __init__(self) -> None:
        self.width, self.note = 4, "first"


SETTINGS = _Settings()


class _BuiltFromSettings(nn.Module):
    """Its size comes from a global config in ``__init__``; ``forward`` never reads the config."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(SETTINGS.width, 2)
        self.log_probs: list = []  # (a training loop appends to it, as REINFORCE's policy's)

    def forward(self, x):
        return F.softmax(self.lin(x), dim=1)


def test_what_only_init_reads_and_lists_forward_never_names_are_not_checked():
    cr.manual_seed(0)
    model = _BuiltFromSettings()
    compiled = cr.compile(model)
    x = cr.randn(3, 4)
    outs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in range(12):
            SETTINGS.note = f"call {call}"  # (a global config changed, in a name only __init__ reads)
            y = compiled(x)
            model.log_probs.append(y[0, 0])  # (the list grows every call)
            outs.append(y.detach().numpy().copy())
    stats = compiled.__dict__["_compiled"].stats
    assert stats["captures"] == 1 and stats["replays"] == 11, stats  # (before: a capture per call, then eager)
    want = F.softmax(model.lin(x), dim=1).detach().numpy()
    for y in outs:
        np.testing.assert_array_equal(y, want)


class _ReadsItsScales(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scales = [2.0]

    def forward(self, x):
        return x * self.scales[0]


def test_a_list_forward_reads_is_still_checked():
    model = _ReadsItsScales()
    compiled = cr.compile(model)
    x = cr.ones(3)
    for call in range(4):
        model.scales[0] = float(call)
        np.testing.assert_array_equal(compiled(x).numpy(), np.full(3, float(call), np.float32))


class _NamedLikeAGlobal(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.log_sigma = nn.Linear(3, 2)

    def forward(self, x):
        return self.log_sigma(x).clamp(-7, 3)


def test_a_global_named_like_an_attribute_the_forward_reads_is_not_checked():
    # (an MDN's training loop: `pi, mu, log_sigma = model(x)` rebinds a global named like the layer)
    global log_sigma
    cr.manual_seed(0)
    model = _NamedLikeAGlobal()
    compiled = cr.compile(model)
    x = cr.randn(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(12):
            log_sigma = compiled(x)
    np.testing.assert_array_equal(log_sigma.detach().numpy(), model(x).detach().numpy())
    stats = compiled.__dict__["_compiled"].stats
    assert stats["captures"] == 1 and stats["replays"] == 11, stats


log_sigma = None


def test_a_size_kept_by_a_module_or_passed_as_an_argument_is_checked_by_value():
    # x.shape is a cr.Size: kept in an attribute, or given to the function, it is a plain value
    # the guard compares (a new Size object with the same ints is the same kind of call)
    class Reshaper(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = cr.nn.Linear(6, 6)
            self.out_shape = cr.zeros(2, 3).shape  # (a Size)

        def forward(self, x):
            return self.lin(x).reshape((-1,) + self.out_shape)

    model = Reshaper()
    compiled = cr.compile(model)

    def f(x, shape):
        return x.reshape(shape) * 2

    cf = cr.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            x = cr.randn(4, 6)
            np.testing.assert_array_equal(compiled(x).detach().numpy(), model(x).detach().numpy())
            np.testing.assert_array_equal(cf(x, cr.zeros(8, 3).shape).numpy(), f(x, (8, 3)).numpy())
    assert compiled.__dict__["_compiled"].stats["captures"] == 1
    assert cf.stats["captures"] == 1 and cf.stats["replays"] == 3
    np.testing.assert_array_equal(cf(x, cr.zeros(3, 8).shape).numpy(), f(x, (3, 8)).numpy())
    assert cf.stats["captures"] == 2  # (other ints: another kind of call)
