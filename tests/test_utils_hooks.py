"""torch.utils.hooks (chainrule.utils.hooks): one RemovableHandle class for every hook, as PyTorch's."""

import copy
import gc
import inspect
import pickle
import warnings
from collections import OrderedDict

import pytest

import chainrule as cr
from chainrule import nn
from chainrule.utils.hooks import RemovableHandle, unserializable_hook, warn_if_has_hooks


def test_every_registration_returns_the_one_class():
    m = nn.Linear(2, 2)
    x = cr.ones(2, requires_grad=True)
    handles = [m.register_forward_hook(lambda *a: None), m.register_forward_pre_hook(lambda *a: None),
               x.register_hook(lambda g: None), x.register_post_accumulate_grad_hook(lambda t: None)]
    assert all(type(h) is RemovableHandle for h in handles)
    assert len({h.id for h in handles}) == 4  # one counter for all
    assert cr.utils.hooks.RemovableHandle is RemovableHandle


def test_remove_and_context_manager_on_module():
    m = nn.Linear(2, 2)
    calls = []
    h = m.register_forward_hook(lambda mod, inp, out: calls.append(1))
    m(cr.ones(1, 2))
    h.remove()
    h.remove()  # twice: nothing
    m(cr.ones(1, 2))
    assert calls == [1]
    with m.register_forward_pre_hook(lambda mod, inp: calls.append(2)):
        m(cr.ones(1, 2))
    m(cr.ones(1, 2))
    assert calls == [1, 2]


def test_tensor_hook_removal_by_id_and_self_removal():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    f = lambda g: seen.append("f")  # noqa: E731
    h1 = x.register_hook(f)
    x.register_hook(f)  # the same function twice: two hooks, removed one by one
    h1.remove()
    (x * 2).sum().backward()
    assert seen == ["f"]

    y = cr.tensor([1.0], requires_grad=True)
    box = {}

    def once(g):
        seen.append("once")
        box["h"].remove()

    box["h"] = y.register_hook(once)
    (y * 3).sum().backward()
    (y * 3).sum().backward()
    assert seen == ["f", "once"]


def test_hook_replaces_gradient_and_backward_hooks_attribute():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x._backward_hooks is None
    h = x.register_hook(lambda g: g * 10)
    assert list(x._backward_hooks) == [h.id]
    (x * x).sum().backward()
    assert x.grad.tolist() == [20.0, 40.0]


def test_weak_reference_and_extra_dict():
    hooks, extra = OrderedDict(), OrderedDict()
    h = RemovableHandle(hooks, extra_dict=extra)
    hooks[h.id] = "hook"
    extra[h.id] = "more"
    h.remove()
    assert not hooks and not extra
    h2 = RemovableHandle(OrderedDict(), extra_dict=[OrderedDict(), OrderedDict()])
    gc.collect()
    h2.remove()  # the dicts are gone: nothing to do
    assert RemovableHandle(OrderedDict()).id > h2.id


def test_pickle_round_trip_keeps_the_id():
    hooks = OrderedDict()
    h = RemovableHandle(hooks)
    hooks[h.id] = len
    h2 = pickle.loads(pickle.dumps((hooks, h)))[1]
    assert h2.id == h.id and RemovableHandle.next_id > h.id
    m = nn.Linear(1, 1)
    handle = m.register_forward_hook(print)
    c = copy.deepcopy((m, handle))
    c[1].remove()
    assert not c[0]._forward_hooks and m._forward_hooks


def test_warn_if_has_hooks():
    x = cr.ones(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_has_hooks(x)  # no hooks: silent
        x.register_hook(unserializable_hook(lambda g: None))
        warn_if_has_hooks(x)  # marked: silent
    x.register_hook(lambda g: None)
    with pytest.warns(UserWarning, match="will not be serialized"):
        warn_if_has_hooks(x)


def test_against_torch():
    torch = pytest.importorskip("torch")
    ours = inspect.signature(RemovableHandle.__init__)
    theirs = inspect.signature(torch.utils.hooks.RemovableHandle.__init__)
    assert list(ours.parameters) == list(theirs.parameters)
    assert {n for n in torch.utils.hooks.__all__ if n != "BackwardHook"} == set(cr.utils.hooks.__all__)
    for lib in (torch, cr):
        hooks = OrderedDict()
        h = lib.utils.hooks.RemovableHandle(hooks)
        hooks[h.id] = 1
        with h as same:
            assert same is h
        assert not hooks
        with pytest.raises(TypeError):
            lib.utils.hooks.RemovableHandle({})  # a plain dict cannot be referred to weakly
    f = torch.utils.hooks.unserializable_hook(lambda: None)
    assert f.__torch_unserializable__ is unserializable_hook(lambda: None).__torch_unserializable__
