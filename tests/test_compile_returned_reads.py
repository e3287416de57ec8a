"""``chainrule.compile`` and the Python values a compiled function returns: a value it reads only
to return it (``return loss.item()``) is read again by each replay, not guarded; a value the
code uses stays guarded; a constant of its code is returned as it is; any other Python value
(a learning rate, a counter) makes the call eager, never a replay of the captured value.

The equivalence tests run the same steps eagerly and compiled, on the same batches from the
same seed, and compare what each call returned and the parameters after, bit for bit (the
NumPy plan, ``fusion`` off); ``stats`` tells whether the compiled calls replayed.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.compiler.returned import constants, flow

CALLS = 12


def _batches(seed=0, n=CALLS):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((8, 5)).astype(np.float32)), cr.tensor(rng.integers(0, 3, 8)))
            for _ in range(n)]


def _run(make_step, compiled, batches):
    """What each call of the step returned, the final parameters, and the compiled function."""
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = make_step(model, opt)
    fn = cr.compile(step, options={"fusion": False}) if compiled else step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a step that runs eagerly says so)
        out = [fn(x, y) for x, y in batches]
    return out, [p.detach().numpy().copy() for p in model.parameters()], fn


def _same(a, b):
    """Equal, bit for bit, with the same Python types (tensors compared by value)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, cr.Tensor):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    else:
        assert a == b, (a, b)


def _check(make_step, replays: bool, batches=None):
    batches = batches or _batches()
    eager_out, eager_params, _ = _run(make_step, False, batches)
    comp_out, comp_params, fn = _run(make_step, True, batches)
    for a, b in zip(eager_out, comp_out):
        _same(a, b)
    for a, b in zip(eager_params, comp_params):
        assert np.array_equal(a, b)
    assert len({repr(o) for o in eager_out}) > 1  # (the values really change from call to call)
    if replays:
        assert fn.stats["replays"] >= CALLS - 2, fn.stats
    else:
        assert fn.stats["replays"] == 0, fn.stats
    return fn


def _train(model, opt, x, y):
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    return loss, logits


# --------------------------------------------------------------------- read only to be returned
# (each a function of its own: what counts is its code from the read to its return)
_S = types.SimpleNamespace()  # the model and optimiser of the run in progress


def _made(step):
    def make(model, opt):
        _S.model, _S.opt = model, opt
        return step
    return make


def _loss_item(x, y):
    loss, _ = _train(_S.model, _S.opt, x, y)
    return loss.item()


def _reads_in_a_dict_beside_a_tensor(x, y):
    loss, logits = _train(_S.model, _S.opt, x, y)
    correct, first, row, out = (logits.argmax(1) == y).sum(), logits[1, 0], logits[0], logits.detach()
    return {"loss": loss.item(), "correct": int(correct), "first": float(first), "row": row.tolist()}, out


def _list_read_beside_a_list_of_tensors(x, y):
    # (finding where a read went compares Python numbers only, never the returned tensors)
    loss, logits = _train(_S.model, _S.opt, x, y)
    tensors, row = [logits.detach(), loss.detach()], logits[0]
    return tensors, row.tolist()


def _read_stored_in_a_local(x, y):
    loss, _ = _train(_S.model, _S.opt, x, y)
    value = loss.item()
    out = [value, value]
    return out


def _read_dropped(x, y):
    loss, _ = _train(_S.model, _S.opt, x, y)
    loss.item()  # (a value nobody uses)
    return loss.detach()


def _constants_of_the_code(x, y):
    loss, _ = _train(_S.model, _S.opt, x, y)
    out = loss.detach()
    return {"loss": out, "tag": "ok", "k": 3, "scale": 0.5, "none": None}


@pytest.mark.parametrize("step", [_loss_item, _reads_in_a_dict_beside_a_tensor, _list_read_beside_a_list_of_tensors,
                                  _read_stored_in_a_local, _read_dropped, _constants_of_the_code],
                         ids=lambda f: f.__name__.strip("_"))
def test_values_read_only_to_be_returned_and_constants_replay(step):
    _check(_made(step), replays=True)


# --------------------------------------------------------------------- reads the code uses
def test_a_read_appended_to_a_list_keeps_its_guard_and_every_call_appends():
    history: list[float] = []

    def make(model, opt):
        def step(x, y):
            loss, _ = _train(model, opt, x, y)
            value = loss.item()
            history.append(value)
            return value
        return step

    batches = _batches()
    eager_out, _, _ = _run(make, False, batches)
    history.clear()
    comp_out, _, fn = _run(make, True, batches)
    assert history == comp_out == eager_out
    assert fn.stats["replays"] == 0


@pytest.mark.parametrize("how", ["arithmetic", "branch", "helper", "with"])
def test_a_read_the_code_uses_keeps_its_guard(how):
    """(Also a call after the read, such as ``return loss.item(), logits.detach()``: the code
    is not read that far; compute the tensors first.)"""
    def read(t):
        return t.item()

    def make(model, opt):
        def step(x, y):
            loss, _ = _train(model, opt, x, y)
            if how == "arithmetic":
                return loss.item() * 2
            if how == "branch":
                return loss.item() if loss.item() > 0.0 else -1.0
            if how == "helper":
                return read(loss)
            with cr.no_grad():
                return loss.item()
        return step

    _check(make, replays=False)


def test_a_compiled_module_returning_a_read_replays_and_a_hook_makes_it_eager():
    """A Module's ``forward`` returning a read replays like a function; with a forward hook
    (which sees the output, and may change it) the capture runs eagerly."""

    class Total(nn.Module):
        def forward(self, x):
            return x.sum().item()

    xs = [cr.ones(2, 2) * k for k in range(6)]
    m = cr.compile(Total())
    assert [m(x) for x in xs] == [4.0 * k for k in range(6)]
    assert m.__dict__["_compiled"].stats["replays"] == 5
    hooked = Total()
    hooked.register_forward_hook(lambda mod, args, out: out + 1.0)
    h = cr.compile(hooked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert [h(x) for x in xs] == [4.0 * k + 1.0 for k in range(6)]
    assert h.__dict__["_compiled"].stats["replays"] == 0


# --------------------------------------------------------------------- other Python values
def test_a_learning_rate_returned_after_the_scheduler_step_is_never_stale():
    """The scheduler changes the learning rate every call: a replay returning the captured one
    would be wrong from the third call on."""
    def make(model, opt):
        sched = optim.lr_scheduler.StepLR(opt, 1, 0.5)

        def step(x, y):
            loss, _ = _train(model, opt, x, y)
            sched.step()
            lr = opt.param_groups[0]["lr"]
            return loss.detach(), lr
        return step

    _check(make, replays=False)


def test_a_value_from_python_state_changed_between_calls_is_never_stale():
    class Holder:
        epoch = 0

    holder = Holder()

    def make(model, opt):
        def step(x, y):
            loss, _ = _train(model, opt, x, y)
            return loss.detach(), holder.epoch
        return step

    batches = _batches()
    results = {}
    for compiled in (False, True):
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 3))
        fn = make(model, optim.SGD(model.parameters(), lr=0.1))
        fn = cr.compile(fn, options={"fusion": False}) if compiled else fn
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, (x, y) in enumerate(batches):
                holder.epoch = k // 3
                out.append(fn(x, y)[1])
        results[compiled] = out
    assert results[True] == results[False] == [k // 3 for k in range(CALLS)]


# --------------------------------------------------------------------- the code, read
def _offset_of_first_call(fn):
    import dis

    return next(i.offset for i in dis.get_instructions(fn) if i.opname in ("CALL", "CALL_METHOD", "CALL_FUNCTION")
                and i.offset > 0)


def test_flow_follows_the_value_to_the_return():
    def returned(t):
        return t.item()

    def in_tuple(t, u):
        return (t.item(), u.item(), 3)

    def used(t):
        return t.item() + 1

    def appended(t, acc):
        v = t.item()
        acc.append(v)
        return v

    assert flow(returned.__code__, _offset_of_first_call(returned)) == (1, [])
    count, pending = flow(in_tuple.__code__, _offset_of_first_call(in_tuple))
    assert count == 1 and len(pending) == 1  # (the second read must turn out to be one)
    assert flow(used.__code__, _offset_of_first_call(used)) is None
    assert flow(appended.__code__, _offset_of_first_call(appended)) is None


def _return_offset(fn, which=-1):
    import dis

    return [i.offset for i in dis.get_instructions(fn) if i.opname in ("RETURN_VALUE", "RETURN_CONST")][which]


def test_constants_reads_what_a_return_certainly_returns():
    def pair(t):
        return t, 3

    def keyed(t):
        u = t
        return {"a": u, "b": "ok", "c": None}

    def state(t, holder):
        return t, holder.epoch

    assert constants(pair.__code__, _return_offset(pair)) == [((1,), 3)]
    assert constants(keyed.__code__, _return_offset(keyed)) == [(("b",), "ok"), (("c",), None)]
    assert constants(state.__code__, _return_offset(state)) == []
