"""Module hooks and state API as PyTorch 2's: full backward (pre) hooks, forward hooks' keywords,
state-dict hooks, extra state, get_buffer / set_submodule, Module.compile, to_empty / type /
bfloat16.  Values come from PyTorch run as the oracle on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _pair(make_cr, make_pt):
    """The same module in chainrule and PyTorch (PyTorch's weights copied into chainrule's)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    pt = make_pt(torch)
    mine = make_cr()
    mine.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in pt.state_dict().items()})
    return torch, mine, pt


def _np(t):
    if t is None:
        return None
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if x is None or y is None:
            assert x is None and y is None
        else:
            np.testing.assert_allclose(_np(x), _np(y), rtol=1e-5, atol=1e-6)


# -- full backward hooks --------------------------------------------------------------
def _record(seen):
    def hook(mod, gi, go):
        seen.append((gi, go))

    return hook


@pytest.mark.parametrize("kind", ["linear", "sequential", "conv"])
def test_full_backward_hook_values_match_pytorch(kind):
    makers = {
        "linear": (lambda: nn.Linear(3, 2), lambda t: t.nn.Linear(3, 2), (4, 3)),
        "sequential": (lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)),
                       lambda t: t.nn.Sequential(t.nn.Linear(3, 5), t.nn.Tanh(), t.nn.Linear(5, 2)), (4, 3)),
        "conv": (lambda: nn.Conv2d(2, 3, 3, padding=1), lambda t: t.nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
    }
    make_cr, make_pt, shape = makers[kind]
    torch, mine, pt = _pair(make_cr, make_pt)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    w = np.random.default_rng(2).standard_normal(pt(torch.tensor(x)).shape).astype(np.float32)
    results = []
    for lib, mod in ((cr, mine), (torch, pt)):
        seen, pre = [], []
        mod.register_full_backward_hook(_record(seen))
        mod.register_full_backward_pre_hook(lambda m, go, pre=pre: pre.append(go))
        xt = lib.tensor(x, requires_grad=True)
        (mod(xt) * lib.tensor(w)).sum().backward()
        results.append((seen, pre, xt.grad))
    (s1, p1, g1), (s2, p2, g2) = results
    assert len(s1) == len(s2) == 1 and len(p1) == len(p2) == 1
    _same(s1[0][0], s2[0][0])  # grad_input
    _same(s1[0][1], s2[0][1])  # grad_output
    _same(p1[0], p2[0])
    np.testing.assert_allclose(_np(g1), _np(g2), rtol=1e-5, atol=1e-6)


def test_returned_grad_input_replaces_upstream_gradient():
    torch, mine, pt = _pair(lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)),
                            lambda t: t.nn.Sequential(t.nn.Linear(3, 4), t.nn.Linear(4, 2)))
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    grads = []
    for lib, mod in ((cr, mine), (torch, pt)):
        # doubling grad_input of the last layer doubles every gradient before it
        mod[1].register_full_backward_hook(lambda m, gi, go: tuple(2 * g for g in gi))
        xt = lib.tensor(x, requires_grad=True)
        mod(xt).pow(2).sum().backward()
        grads.append((xt.grad, mod[0].weight.grad, mod[1].weight.grad))
    for a, b in zip(*grads):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-6)
    # the hooked layer's own weight gradient is not doubled (it is computed before its input's)
    plain = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    plain.load_state_dict(mine.state_dict())
    xt = cr.tensor(x, requires_grad=True)
    plain(xt).pow(2).sum().backward()
    np.testing.assert_allclose(_np(mine[1].weight.grad), _np(plain[1].weight.grad), rtol=1e-6)
    np.testing.assert_allclose(_np(mine[0].weight.grad), 2 * _np(plain[0].weight.grad), rtol=1e-5)


def test_pre_hook_replaces_grad_output():
    torch, mine, pt = _pair(lambda: nn.Linear(3, 2), lambda t: t.nn.Linear(3, 2))
    x = np.random.default_rng(4).standard_normal((4, 3)).astype(np.float32)
    out = []
    for lib, mod in ((cr, mine), (torch, pt)):
        seen = []
        mod.register_full_backward_pre_hook(lambda m, go: (go[0] * 3 + 1,))
        mod.register_full_backward_hook(_record(seen))
        xt = lib.tensor(x, requires_grad=True)
        mod(xt).sum().backward()
        out.append((xt.grad, mod.weight.grad, mod.bias.grad, seen[0][1][0]))
    for a, b in zip(*out):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(out[0][3]), np.full((4, 2), 4.0))  # the hook saw the replaced one


def test_handle_removes_backward_hooks_and_wrong_counts_raise():
    m = nn.Linear(3, 2)
    seen = []
    h = m.register_full_backward_hook(_record(seen))
    hp = m.register_full_backward_pre_hook(lambda mod, go: seen.append("pre"))
    m(cr.randn(2, 3, requires_grad=True)).sum().backward()
    assert len(seen) == 2
    h.remove()
    hp.remove()
    y = m(cr.randn(2, 3, requires_grad=True))
    assert y.grad_fn.name() != "BackwardHookFunctionBackward"
    y.sum().backward()
    assert len(seen) == 2
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m(cr.randn(2, 3, requires_grad=True)).sum().backward()


class _TwoInTwoOut(nn.Module):
    def forward(self, a, scale, b):
        return a * b * scale, a + 2 * b


def test_several_inputs_outputs_and_inputs_without_grad_match_pytorch():
    torch = pytest.importorskip("torch")

    class PtTwo(torch.nn.Module):
        def forward(self, a, scale, b):
            return a * b * scale, a + 2 * b

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    res = []
    for lib, mod in ((cr, _TwoInTwoOut()), (torch, PtTwo())):
        for b_grad in (True, False):
            seen, pre = [], []
            hs = [mod.register_full_backward_hook(_record(seen)),
                  mod.register_full_backward_pre_hook(lambda m, go, pre=pre: pre.append(go))]
            at, bt = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=b_grad)
            y1, y2 = mod(at, 0.5, bt)
            (y1.sum() * 2 + (y2 * y2).sum()).backward()
            res.append((seen[0][0], seen[0][1], pre[0], at.grad))
            for h in hs:
                h.remove()
    mine, theirs = res[:2], res[2:]
    for m_, t_ in zip(mine, theirs):
        _same(m_[0], t_[0])  # grad_input: (da, None for the float, db or None)
        _same(m_[1], t_[1])
        _same(m_[2], t_[2])
        np.testing.assert_allclose(_np(m_[3]), _np(t_[3]), rtol=1e-5)
    # the float gets None; a tensor that does not require grad gets zeros beside one that does
    assert mine[0][0][1] is None and mine[1][0][1] is None
    np.testing.assert_array_equal(_np(mine[1][0][2]), np.zeros((2, 3)))


def test_unused_output_gets_none_in_grad_output():
    torch = pytest.importorskip("torch")
    got = []
    for lib in (cr, torch):
        class Three(lib.nn.Module):
            def forward(self, a, b):
                return a * 2, b * 3, a * 4

        m, seen, pre = Three(), [], []
        m.register_full_backward_hook(_record(seen))
        m.register_full_backward_pre_hook(lambda mod, go: pre.append(go))
        a, b = lib.ones(2, requires_grad=True), lib.ones(2)
        y1, y2, y3 = m(a, b)
        y1.sum().backward(retain_graph=True)
        (y3 * 2).sum().backward()  # (the retained graph again: the other output this time)
        got.append((seen, pre))
    for (gi1, go1), (gi2, go2) in zip(got[0][0], got[1][0]):
        _same(gi1, gi2)
        _same(go1, go2)
    for p1, p2 in zip(got[0][1], got[1][1]):
        _same(p1, p2)
    assert len(got[0][0]) == len(got[1][0]) == 2


def test_no_input_requires_grad_hook_gets_nones_as_pytorch():
    torch, mine, pt = _pair(lambda: nn.Linear(3, 2), lambda t: t.nn.Linear(3, 2))
    x = np.ones((2, 3), np.float32)
    out = []
    for lib, mod in ((cr, mine), (torch, pt)):
        seen = []
        mod.register_full_backward_hook(_record(seen))
        with pytest.warns(UserWarning, match="since no inputs require gradients"):
            mod(lib.tensor(x)).sum().backward()
        out.append(seen)
    assert len(out[0]) == len(out[1]) == 1
    assert out[0][0][0] == (None,) and out[1][0][0] == (None,)
    _same(out[0][0][1], out[1][0][1])


def test_module_used_twice_calls_hook_per_use():
    torch, mine, pt = _pair(lambda: nn.Linear(3, 3), lambda t: t.nn.Linear(3, 3))
    x = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    res = []
    for lib, mod in ((cr, mine), (torch, pt)):
        seen = []
        mod.register_full_backward_hook(_record(seen))
        xt = lib.tensor(x, requires_grad=True)
        mod(mod(xt).tanh()).sum().backward()
        res.append((seen, xt.grad))
    assert len(res[0][0]) == len(res[1][0]) == 2
    for (gi1, go1), (gi2, go2) in zip(res[0][0], res[1][0]):
        _same(gi1, gi2)
        _same(go1, go2)
    np.testing.assert_allclose(_np(res[0][1]), _np(res[1][1]), rtol=1e-5)


def test_deprecated_backward_hook_warns_and_cannot_mix():
    m = nn.Linear(3, 2)
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        m.register_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
        m.register_full_backward_hook(lambda mod, gi, go: None)


def test_prepend_orders_backward_hooks():
    m = nn.Linear(2, 2)
    order = []
    m.register_full_backward_hook(lambda *a: order.append(1))
    m.register_full_backward_hook(lambda *a: order.append(0), prepend=True)
    m(cr.randn(1, 2, requires_grad=True)).sum().backward()
    assert order == [0, 1]


# -- forward hooks' keywords ---------------------------------------------------------------
class _Scaled(nn.Module):
    def forward(self, x, *, scale=1.0):
        return x * scale


def test_forward_hooks_with_kwargs_prepend_match_pytorch():
    torch = pytest.importorskip("torch")

    class PtScaled(torch.nn.Module):
        def forward(self, x, *, scale=1.0):
            return x * scale

    out = []
    for lib, mod in ((cr, _Scaled()), (torch, PtScaled())):
        log = []
        mod.register_forward_pre_hook(lambda m, a, k: ((a[0] + 1,), {"scale": k["scale"] * 2}), with_kwargs=True)
        mod.register_forward_pre_hook(lambda m, a: log.append("first"), prepend=True)
        mod.register_forward_hook(lambda m, a, k, o: log.append(("kw", dict(k))) or o + 10, with_kwargs=True)
        mod.register_forward_hook(lambda m, a, o: log.append("plain"))
        y = mod(lib.tensor([1.0, 2.0]), scale=3.0)
        out.append((_np(y), log))
    np.testing.assert_allclose(out[0][0], out[1][0])
    assert out[0][1] == out[1][1] == ["first", ("kw", {"scale": 6.0}), "plain"]


def test_always_call_forward_hook_runs_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Boom()
    log = []
    m.register_forward_hook(lambda mod, a, o: log.append(("always", o)), always_call=True)
    m.register_forward_hook(lambda mod, a, o: log.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(cr.ones(1))
    assert log == [("always", None)]


def test_pre_hook_with_kwargs_bad_return_raises():
    m = _Scaled()
    m.register_forward_pre_hook(lambda mod, a, k: a, with_kwargs=True)
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        m(cr.ones(1))


# -- state API ------------------------------------------------------------------------------
class _WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.counter = 0

    def get_extra_state(self):
        return {"counter": self.counter}

    def set_extra_state(self, state):
        self.counter = state["counter"]


def test_extra_state_keys_and_load_match_pytorch():
    torch = pytest.importorskip("torch")

    class PtExtra(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)
            self.counter = 0

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state):
            self.counter = state["counter"]

    mine = nn.Sequential(_WithExtra(), nn.ReLU())
    pt = torch.nn.Sequential(PtExtra(), torch.nn.ReLU())
    assert list(mine.state_dict()) == list(pt.state_dict()) == ["0._extra_state", "0.fc.weight", "0.fc.bias"]
    mine[0].counter = 7
    sd = mine.state_dict()
    other = nn.Sequential(_WithExtra(), nn.ReLU())
    other.load_state_dict(sd)
    assert other[0].counter == 7
    del sd["0._extra_state"]
    with pytest.raises(RuntimeError, match='Missing key.*"0._extra_state"'):
        other.load_state_dict(sd)
    with pytest.raises(RuntimeError, match="get_extra_state"):
        nn.Linear(1, 1).get_extra_state()


def test_state_dict_hooks_order_and_edits_match_pytorch():
    torch = pytest.importorskip("torch")
    logs = []
    for lib in (cr, torch):
        log = []
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
        m.register_state_dict_pre_hook(lambda mod, prefix, kv: log.append(("pre", prefix, kv)))
        m[1].register_state_dict_pre_hook(lambda mod, prefix, kv: log.append(("pre1", prefix)))

        def post(mod, sd, prefix, meta):
            log.append(("post", prefix, sorted(sd), meta["version"]))
            sd[prefix + "extra"] = 1

        m[1].register_state_dict_post_hook(post)
        sd = m.state_dict(keep_vars=True)
        logs.append((log, list(sd)))
        bad = m.register_state_dict_post_hook(lambda mod, sd, p, meta: {})
        with pytest.raises(RuntimeError, match="post-hook must return None"):
            m.state_dict()
        bad.remove()
    assert logs[0] == logs[1]


def test_load_state_dict_hooks_match_pytorch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (cr, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 2))
        calls = []

        def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
            calls.append(("pre", prefix, strict))
            if prefix + "old_w" in sd:
                sd[prefix + "weight"] = sd.pop(prefix + "old_w")

        def forgive(mod, keys):
            calls.append(("post", list(keys.missing_keys), list(keys.unexpected_keys)))
            keys.missing_keys.clear()

        m[0].register_load_state_dict_pre_hook(rename)
        m[0].register_load_state_dict_post_hook(forgive)
        given = {"0.old_w": lib.ones(2, 2)}
        res = m.load_state_dict(given)  # 0.bias is missing: the post hook forgives it
        results.append((calls, list(res.missing_keys), list(res.unexpected_keys), _np(m[0].weight),
                        list(given)))
    assert results[0][0] == results[1][0]
    assert results[0][1:3] == results[1][1:3] == ([], [])
    np.testing.assert_allclose(results[0][3], results[1][3])
    assert results[0][4] == results[1][4] == ["0.old_w"]  # the caller's dict is not edited


def test_get_buffer_and_set_submodule():
    torch = pytest.importorskip("torch")
    for lib in (cr, torch):
        m = lib.nn.Sequential(lib.nn.BatchNorm1d(3), lib.nn.Sequential(lib.nn.Linear(3, 3)))
        assert m.get_buffer("0.running_mean") is m[0].running_mean
        with pytest.raises(AttributeError, match="not a buffer"):
            m.get_buffer("0.weight")
        with pytest.raises(AttributeError):
            m.get_buffer("5.running_mean")
        new = lib.nn.Linear(3, 4)
        m.set_submodule("1.0", new)
        assert m[1][0] is new
        m.set_submodule("1.extra", lib.nn.ReLU())
        assert isinstance(m[1].extra, lib.nn.ReLU)
        with pytest.raises(AttributeError):
            m.set_submodule("1.missing", lib.nn.ReLU(), strict=True)
        with pytest.raises(AttributeError, match="not an nn.Module"):
            m.set_submodule("0.weight", lib.nn.ReLU())
        with pytest.raises(ValueError):
            m.set_submodule("", lib.nn.ReLU())


# -- compile, to_empty, type, bfloat16 ---------------------------------------------------------
def test_module_compile_in_place_replays():
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    keys = list(m.state_dict())
    xs = [cr.randn(3, 4) for _ in range(4)]
    eager = [_np(m(x)) for x in xs]
    same = m
    assert m.compile() is None
    assert m is same and list(m.state_dict()) == keys
    for x, want in zip(xs, eager):
        np.testing.assert_allclose(_np(m(x)), want, rtol=1e-5, atol=1e-6)
    assert m.forward.stats["captures"] == 1 and m.forward.stats["replays"] == 3
    # training through it: the same gradients as eager
    x = cr.randn(3, 4)
    m(x).sum().backward()
    g = _np(m[0].weight.grad)
    m.zero_grad()
    del m.forward
    m(x).sum().backward()
    np.testing.assert_allclose(g, _np(m[0].weight.grad), rtol=1e-5, atol=1e-6)


def test_to_empty_type_bfloat16_and_class_flags():
    torch = pytest.importorskip("torch")
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m(cr.randn(4, 2)).sum().backward()
    assert m.to_empty(device="cpu") is m
    assert m[0].weight is w and w.shape == (3, 2) and w.dtype == cr.float32
    assert w.grad.shape == (3, 2)  # (PyTorch's _apply gives the gradient new memory too)
    pt = torch.nn.Linear(2, 3)
    pt(torch.randn(4, 2)).sum().backward()
    assert pt.to_empty(device="cpu").weight.grad.shape == (3, 2)
    inner = nn.Sequential(nn.Linear(2, 2))
    kept = inner[0].weight.detach().numpy().copy()
    inner.to_empty(device="cpu", recurse=False)  # (the container has no tensors of its own)
    np.testing.assert_array_equal(inner[0].weight.detach().numpy(), kept)
    assert m[1].num_batches_tracked.dtype == cr.int64
    m.type(cr.float64)
    assert m[0].weight.dtype == cr.float64 and m[1].num_batches_tracked.dtype == cr.float64  # (all, as PyTorch)
    pt = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3)).type(torch.float64)
    assert pt[1].num_batches_tracked.dtype == torch.float64
    m.type("torch.FloatTensor")
    assert m[0].weight.dtype == cr.float32
    with pytest.raises(TypeError, match="bfloat16"):
        m.bfloat16()
    with pytest.raises(TypeError, match="bfloat16"):
        m.to(cr.bfloat16)
    assert nn.Module.call_super_init is torch.nn.Module.call_super_init is False
    assert nn.Module.dump_patches is torch.nn.Module.dump_patches is False


def test_compiled_model_runs_backward_hooks_once_per_call():
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    c = cr.compile(m)
    x = cr.randn(4, 3)
    for _ in range(3):  # a plan replays without hooks
        c(x).sum().backward()
    assert c.explain() and c._compiled.stats["replays"] >= 1
    calls = []
    m[0].register_full_backward_hook(lambda mod, gi, go: calls.append(go[0].shape))
    with pytest.warns(UserWarning, match="hook of Linear"):
        for k in range(3):  # the hook is new Python: the plan's guard fails, the calls run eagerly
            c(cr.randn(4, 3, requires_grad=True)).sum().backward()
            assert len(calls) == k + 1


def test_in_place_layer_under_a_hook_gets_the_out_of_place_values():
    # PyTorch refuses ReLU(inplace=True) on its hook node's output ("is a view and is being
    # modified inplace"); chainrule's in-place ops differentiate as the out-of-place ones, so the
    # hook sees what PyTorch's sees with ReLU()
    torch, mine, pt = _pair(lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)),
                            lambda t: t.nn.Sequential(t.nn.Linear(3, 4), t.nn.ReLU(), t.nn.Linear(4, 2)))
    x = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)
    res = []
    for lib, mod in ((cr, mine), (torch, pt)):
        seen = []
        mod[1].register_full_backward_hook(_record(seen))
        xt = lib.tensor(x, requires_grad=True)
        mod(xt).pow(2).sum().backward()
        res.append((seen[0], xt.grad))
    _same(res[0][0][0], res[1][0][0])
    _same(res[0][0][1], res[1][0][1])
    np.testing.assert_allclose(_np(res[0][1]), _np(res[1][1]), rtol=1e-5, atol=1e-6)


def test_mixed_dtypes_under_a_backward_hook():
    # (the joint node packs the tensors in the widest dtype; each gradient keeps its own)
    class Mix(nn.Module):
        def forward(self, a, b):
            return a.double() + b

    m = Mix()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append([g.dtype for g in gi]))
    a, b = cr.ones(2, requires_grad=True), cr.ones(2, dtype=cr.float64, requires_grad=True)
    m(a, b).sum().backward()
    assert seen == [[cr.float32, cr.float64]]
    assert a.grad.dtype == cr.float32 and b.grad.dtype == cr.float64
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
