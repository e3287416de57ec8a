"""torch.autograd.SavedTensor: a custom Function's saved tensors as grad_fn._raw_saved_tensors, their
values as grad_fn.saved_tensors, and register_hooks(pack, unpack) that changes what backward reads."""

from __future__ import annotations

import math

import pytest

import chainrule as cr
from chainrule.autograd import SavedTensor


class Exp(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(x, y, None)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, none = ctx.saved_tensors
        assert none is None
        return g * y


def _x():
    return cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64, requires_grad=True)


def test_grad_fn_exposes_saved_tensors_and_raw_saved_tensors():
    x = _x()
    y = Exp.apply(x)
    x_s, y_s, none = y.grad_fn.saved_tensors
    assert x_s is x and none is None
    assert y_s.tolist() == pytest.approx([math.exp(v) for v in (0.5, -1.0, 2.0)], rel=1e-15)
    raw = y.grad_fn._raw_saved_tensors
    assert len(raw) == 3 and all(isinstance(r, SavedTensor) for r in raw)
    assert raw[0].unpack() is x and raw[0].data is x and raw[2].unpack() is None


def test_pack_runs_at_once_unpack_at_each_use_and_backward_reads_its_result():
    x = _x()
    y = Exp.apply(x)
    log = []
    raw = y.grad_fn._raw_saved_tensors[1]
    raw.register_hooks(lambda t: (log.append("pack"), t.detach() * 2)[1], lambda p: (log.append("unpack"), p)[1])
    assert log == ["pack"]
    assert raw.data.tolist() == pytest.approx([2 * math.exp(v) for v in (0.5, -1.0, 2.0)])
    y.sum().backward()
    assert log == ["pack", "unpack"]
    # backward multiplied by the unpacked value: twice exp(x)
    assert x.grad.tolist() == pytest.approx([2 * math.exp(v) for v in (0.5, -1.0, 2.0)], rel=1e-15)


def test_identity_hooks_leave_the_gradient_unchanged_with_gradcheck():
    def f(x):
        y = Exp.apply(x)
        for r in y.grad_fn._raw_saved_tensors:
            r.register_hooks(lambda t: t.detach().clone(), lambda p: p)
        return y

    x = cr.tensor([0.3, -0.7, 1.1], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(f, (x,))


def test_errors():
    x = _x()
    y = Exp.apply(x)
    raw = y.grad_fn._raw_saved_tensors[0]
    with pytest.raises(TypeError, match="callables"):
        raw.register_hooks(1, lambda p: p)
    raw.register_hooks(lambda t: t, lambda p: p)
    with pytest.raises(RuntimeError, match="already been set"):
        raw.register_hooks(lambda t: t, lambda p: p)
    bad = y.grad_fn._raw_saved_tensors[1]
    bad.register_hooks(lambda t: t, lambda p: "not a tensor")
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor but got result of type str"):
        bad.unpack()


def test_freed_after_backward_unless_retain_graph():
    x = _x()
    y = Exp.apply(x)
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved_tensors[0] is x
    raw = y.grad_fn._raw_saved_tensors[0]
    y.sum().backward()
    for read in (lambda: y.grad_fn.saved_tensors, lambda: y.grad_fn._raw_saved_tensors, raw.unpack):
        with pytest.raises(RuntimeError, match="retain_graph=True"):
            read()


def test_several_outputs():
    class SinCos(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    x = _x()
    s, c = SinCos.apply(x)
    node = s._parents[0].grad_fn
    assert node.saved_tensors[0] is x
    node._raw_saved_tensors[0].register_hooks(lambda t: t.detach() + 0, lambda p: p)
    (s + c).sum().backward()
    assert x.grad.tolist() == pytest.approx([math.cos(v) - math.sin(v) for v in (0.5, -1.0, 2.0)], rel=1e-15)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        class E(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(x, y)
                return y

            @staticmethod
            def backward(ctx, g):
                x, y = ctx.saved_tensors
                return g * y * x

        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = E.apply(x)
        calls = []
        raws = y.grad_fn._raw_saved_tensors
        assert type(raws[0]).__name__ == "SavedTensor"
        raws[0].register_hooks(lambda t: t.detach() * 3, lambda p: (calls.append(1), p)[1])
        with pytest.raises(RuntimeError, match="already been set"):
            raws[0].register_hooks(lambda t: t, lambda p: p)
        packed = raws[0].data.tolist()
        y.sum().backward()
        return x.grad.tolist(), packed, calls

    mine, theirs = run(cr), run(torch)
    assert mine[0] == pytest.approx(theirs[0], rel=1e-15)  # backward read the unpacked 3x
    assert mine[1] == pytest.approx(theirs[1], rel=1e-15) and mine[2] == theirs[2] == [1]
