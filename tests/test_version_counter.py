"""Version counters: backward must refuse to use a saved tensor that was changed in place.

Issue 10, item 2.  Without the check, ``b = a * 2; c = b * b; b.add_(1)`` makes
``c.sum().backward()`` read the new b and give dc/da = 2·2·(b+1) = 12 instead of
2·2·b = 8.  The expected numbers below come from the chain rule by hand; the
``*_torch`` tests use PyTorch as an independent oracle (skipped without it).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.ops import activation as ops_activation
from chainrule.ops import shape as ops_shape

MODIFIED = "modified by an inplace operation"


def _ones(n=3, **kw):
    return cr.ones(n, dtype=cr.float64, **kw)


# ---------------------------------------------------------------- the issue's examples
def test_saved_input_modified_after_mul_raises_naming_mul():
    a = _ones(requires_grad=True)
    b = a * 2
    c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        c.sum().backward()
    msg = str(info.value)
    assert "mul" in msg and "input 0" in msg
    assert "is at version 1; expected version 0" in msg
    assert "(3,)" in msg and "float64" in msg
    assert a.grad is None  # nothing was accumulated before the error


def test_exp_output_modified_in_place_while_recording_raises():
    a = _ones(requires_grad=True)
    y = a.exp()
    y.add_(1)  # PyTorch raises for this too: exp's backward needs its output
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        y.sum().backward()
    assert "output 0 of exp" in str(info.value)


def test_exp_output_modified_under_no_grad_raises():
    a = _ones(requires_grad=True)
    y = a.exp()
    with cr.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="output 0 of exp"):
        y.sum().backward()


def test_constant_input_modified_in_place_raises():
    a = _ones(requires_grad=True)
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64)  # a constant: no grad, written in place
    y = a * x
    x.mul_(2)
    with pytest.raises(RuntimeError, match="input 1 of mul"):
        y.sum().backward()


def test_issue_examples_raise_in_torch_too():
    torch = pytest.importorskip("torch")
    for make in (
        lambda a: (lambda b: (b * b, b))(a * 2),
        lambda a: (lambda y: (y, y))(a.exp()),
    ):
        a = torch.ones(3, requires_grad=True)
        out, victim = make(a)
        victim.add_(1)
        with pytest.raises(RuntimeError, match=MODIFIED):
            out.sum().backward()


def test_version_then_and_now_after_two_modifications():
    a = _ones(requires_grad=True)
    b = a * 2
    c = b * b
    b.add_(1)
    b.add_(1)
    with pytest.raises(RuntimeError, match="is at version 2; expected version 0"):
        c.sum().backward()


def test_version_then_counts_modifications_before_recording():
    a = _ones(requires_grad=True)
    x = cr.zeros(3, dtype=cr.float64)
    x.add_(1)  # version 1 before mul records it
    y = a * x
    x.add_(1)
    with pytest.raises(RuntimeError, match="is at version 2; expected version 1"):
        y.sum().backward()


def test_many_modifications_still_name_both_versions():
    # only the last few modifications' times are kept: "version then" becomes an upper bound
    a = _ones(requires_grad=True)
    x = cr.zeros(3, dtype=cr.float64)
    y = a * x
    for _ in range(40):
        x.add_(1)
    with pytest.raises(RuntimeError, match=r"is at version 40; expected version \d+ or lower") as info:
        y.sum().backward()
    then = int(str(info.value).split("expected version ")[1].split()[0])
    assert 0 <= then < 40


# ---------------------------------------------------------------- views
def test_modifying_a_view_of_a_saved_tensor_raises():
    a = _ones(4, requires_grad=True)
    x = cr.arange(4, dtype=cr.float64)
    y = a * x
    with cr.no_grad():
        x[1:].add_(10)  # writes into x's memory through a view
    with pytest.raises(RuntimeError, match="input 1 of mul"):
        y.sum().backward()


def test_modifying_a_view_of_a_saved_non_leaf_while_recording_raises():
    a = _ones(4, requires_grad=True)
    b = a * 2
    c = b * b
    b[1:].add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        c.sum().backward()


def test_modifying_the_base_of_a_saved_view_raises():
    a = _ones(4, requires_grad=True)
    b = a * 2
    v = b[1:]
    c = v * v
    b.add_(1)
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        c.sum().backward()


def test_modifying_the_base_of_a_saved_reshape_and_transpose_raises():
    for make_view in (lambda x: x.reshape(4), lambda x: x.t(), lambda x: x.unsqueeze(0), lambda x: x.detach()):
        a = cr.ones(2, 2, dtype=cr.float64, requires_grad=True)
        x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=cr.float64)
        v = make_view(x)
        y = (a.reshape(v.shape) * v).sum()
        with cr.no_grad():
            x.mul_(2)
        with pytest.raises(RuntimeError, match="input 1 of mul"):
            y.backward()


def test_writing_through_a_transposed_view_of_a_matmul_input_raises():
    a = cr.ones(2, 2, dtype=cr.float64, requires_grad=True)
    w = cr.ones(2, 2, dtype=cr.float64)
    y = a @ w
    with cr.no_grad():
        w.t().mul_(2)
    with pytest.raises(RuntimeError, match="input 1 of matmul"):
        y.sum().backward()


def test_advanced_index_copy_is_not_a_view():
    a = _ones(4, requires_grad=True)
    x = cr.arange(4, dtype=cr.float64)
    y = a * x
    c = x[[0, 2]]  # a copy: writing into it leaves x alone
    c.add_(5)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 1.0, 2.0, 3.0])
    assert x._version == 0


# ---------------------------------------------------------------- setitem, fill_, zero_, copy_
def test_setitem_on_a_saved_tensor_raises():
    a = _ones(4, requires_grad=True)
    b = a * 2
    c = b * b
    b[0] = 5.0
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        c.sum().backward()


def test_setitem_on_a_saved_constant_raises():
    a = _ones(4, requires_grad=True)
    x = cr.arange(4, dtype=cr.float64)
    y = (a * x).sum()
    x[2] = 7.0
    with pytest.raises(RuntimeError, match="input 1 of mul"):
        y.backward()


@pytest.mark.parametrize(
    "modify",
    [lambda t: t.zero_(), lambda t: t.fill_(3.0), lambda t: t.copy_(cr.zeros(3, dtype=cr.float64))],
    ids=["zero_", "fill_", "copy_"],
)
def test_fill_zero_copy_on_a_saved_tensor_raise(modify):
    a = _ones(requires_grad=True)
    b = a * 2
    c = b * b
    modify(b)
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        c.sum().backward()


@pytest.mark.parametrize(
    "modify",
    [lambda t: t.zero_(), lambda t: t.fill_(3.0), lambda t: t.copy_(cr.zeros(3, dtype=cr.float64))],
    ids=["zero_", "fill_", "copy_"],
)
def test_fill_zero_copy_cut_the_gradient_of_the_old_values(modify):
    # b = 2a is overwritten, so L = Σ(b' + a) with b' a constant: dL/da = 1 (PyTorch agrees)
    a = _ones(requires_grad=True)
    b = a * 2
    modify(b)
    assert b.requires_grad  # still part of the graph (PyTorch: grad_fn=<ZeroBackward>...)
    (b + a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0, 1.0])


def test_copy_from_a_tensor_that_requires_grad_records_the_copy():
    # x ← broadcast(s): dL/ds = Σ over the broadcast rows of dL/dx, here L = Σ w·x
    s = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    x = cr.zeros(3, 2, dtype=cr.float64)
    x.copy_(s)
    w = cr.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=cr.float64)
    (x * w).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), [9.0, 12.0])
    np.testing.assert_allclose(x.detach().numpy(), [[1.0, 2.0]] * 3)


# ---------------------------------------------------------------- safe in-place uses keep working
def test_add_in_place_on_a_tensor_whose_consumers_do_not_save_it():
    a = _ones(requires_grad=True)
    b = a * 2
    c = b.sum() + (b + 1).mean()  # sum, add and mean need no values of b
    b.add_(1)
    c.backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0 + 2.0 / 3] * 3)


def test_relu_in_place_after_linear_and_after_add():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((5, 4)))
    lin = nn.Linear(4, 3).double()
    grads = []
    for inplace in (False, True):
        lin.zero_grad()
        h = lin(x)
        h = F.relu_(h) if inplace else F.relu(h)
        g = h + 1.0
        g = F.relu_(g) if inplace else F.relu(g)
        (g * g).sum().backward()
        grads.append((lin.weight.grad.numpy().copy(), lin.bias.grad.numpy().copy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_output_changed_in_place_like_a_residual_block_torch(affine):
    """ResNet's BasicBlock: ``out = bn2(conv2(out)); out += shortcut(x)``.  Training-mode batch
    norm's backward reads its input's statistics, never its output, so PyTorch allows the
    in-place add; the gradients are those of the out-of-place ``out = out + shortcut``."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    xv, sv, cv = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    grads = {}
    for lib in (cr, torch):
        x = lib.tensor(xv, requires_grad=True)
        bn = (nn if lib is cr else torch.nn).BatchNorm2d(3, affine=affine).double()
        shortcut = lib.tensor(sv)
        out = bn(x * 1.5)
        out += shortcut
        (lib.relu(out) * lib.tensor(cv)).sum().backward()
        grads[lib] = [x.grad.numpy()] + ([bn.weight.grad.numpy(), bn.bias.grad.numpy()] if affine else [])
    for got, want in zip(grads[cr], grads[torch]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_relu_module_inplace_in_a_training_loop():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
    ref = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    ref.load_state_dict(model.state_dict())
    x = cr.randn(6, 3)
    for m in (model, ref):
        m(x).pow(2).sum().backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)


def test_mul_in_place_by_a_tensor_then_more_in_place_ops():
    # x = a·y, then x += 1: dL/da = y, dL/dy = a (PyTorch gives the same, no error)
    y = cr.tensor([2.0, 3.0, 4.0], dtype=cr.float64, requires_grad=True)
    a = _ones(requires_grad=True)
    x = a * 1
    x.mul_(y)
    x.add_(1)
    x.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0, 1.0])


def test_mul_in_place_twice():
    # x = a·y·y: dL/da = y², dL/dy = 2 a y
    y = cr.tensor([2.0, 3.0, 4.0], dtype=cr.float64, requires_grad=True)
    a = _ones(requires_grad=True)
    x = a * 1
    x.mul_(y)
    x.mul_(y)
    x.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 9.0, 16.0])
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 6.0, 8.0])


def test_optimiser_steps_between_iterations():
    # L = Σ w·x: dL/dw = x at every step, whatever w is
    x = cr.tensor([1.0, -2.0, 3.0], dtype=cr.float64)
    w = cr.zeros(3, dtype=cr.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        (w * x).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), x.numpy())
        opt.step()


def test_in_place_after_backward_already_ran():
    a = _ones(requires_grad=True)
    b = a * 2
    c = b * b
    c.sum().backward()
    b.add_(1)
    np.testing.assert_allclose(a.grad.numpy(), [8.0, 8.0, 8.0])
    np.testing.assert_allclose(b.detach().numpy(), [3.0, 3.0, 3.0])


def test_modification_before_recording_is_fine():
    a = _ones(requires_grad=True)
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64)
    x.mul_(2)
    (a * x).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 4.0, 6.0])


def test_constant_modified_while_only_its_own_gradient_would_need_it():
    # y = a·x with x constant: dL/da = x, so changing a (under no_grad) is harmless (as PyTorch)
    a = _ones(requires_grad=True)
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64)
    y = a * x
    with cr.no_grad():
        a.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 2.0, 3.0])


def test_exp_input_modified_is_fine_because_exp_saves_its_output():
    # y = e^(2a); b = 2a changed afterwards: dL/da = 2 e^2 (exp's rule reads only y)
    a = _ones(requires_grad=True)
    b = a * 2
    y = b.exp()
    b.add_(1)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2 * np.exp(2.0)] * 3)


# ---------------------------------------------------------------- other entry points
def test_retain_graph_second_backward_after_modification_raises():
    a = _ones(requires_grad=True)
    b = a * 2
    c = b * b
    c.sum().backward(retain_graph=True)
    np.testing.assert_allclose(a.grad.numpy(), [8.0, 8.0, 8.0])
    b.add_(1)
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        c.sum().backward()


def test_autograd_grad_and_create_graph_raise():
    for create_graph in (False, True):
        a = _ones(requires_grad=True)
        b = a * 2
        c = b * b
        b.add_(1)
        with pytest.raises(RuntimeError, match="input 0 of mul"):
            cr.autograd.grad(c.sum(), a, create_graph=create_graph)


def test_create_graph_second_derivative_with_safe_in_place():
    # c = (2a)³ summed: dc/da = 24 a², d²c/da² = 48 a; b2 = b + 0 is changed, nobody saved it
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    b = a * 2
    b2 = b + 0
    c = (b * b * b).sum()
    b2.add_(1)
    (g,) = cr.autograd.grad(c, a, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [24.0, 96.0])
    g.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [48.0, 96.0])


def test_anomaly_mode_still_reports_the_modification():
    a = _ones(requires_grad=True)
    with cr.detect_anomaly():
        b = a * 2
        c = b * b
        b.add_(1)
        with pytest.raises(RuntimeError, match="input 0 of mul"):
            c.sum().backward()


def test_hooks_path_raises_too():
    a = _ones(requires_grad=True)
    b = a * 2
    b.register_hook(lambda g: g)  # takes the engine's general walk
    c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        c.sum().backward()


def test_func_grad_input_alias_shares_the_counter():
    # func.grad differentiates with respect to an alias of x: writing into x is seen
    x = cr.tensor([1.0, 2.0], dtype=cr.float64)

    def f(x_in):
        y = (x_in * x_in).sum()
        with cr.no_grad():
            x.mul_(2)  # the caller's tensor: the same memory as x_in
        return y

    with pytest.raises(RuntimeError, match="input 0 of mul"):
        cr.func.grad(f)(x)


def test_func_grad_unaffected():
    f = cr.func.grad(lambda x: (x * x).sum())
    np.testing.assert_allclose(f(cr.tensor([1.0, 2.0], dtype=cr.float64)).numpy(), [2.0, 4.0])


# ---------------------------------------------------------------- _version matches PyTorch
def _version_sequence(lib, no_grad):
    """Apply the same in-place sequence to ``lib`` (chainrule or torch) and return the versions."""
    x = lib.zeros(4, 3, dtype=lib.float64)
    seen = [x._version]
    x.add_(1)
    seen.append(x._version)
    x[0] = 5.0
    seen.append(x._version)
    v = x[1:]
    seen.append(v._version)
    v.mul_(2)
    seen += [x._version, v._version]
    x.zero_()
    x.fill_(2.0)
    x.copy_(lib.ones(4, 3, dtype=lib.float64))
    seen.append(x._version)
    y = x + 1  # out-of-place: no change
    seen += [x._version, y._version]
    d = x.detach()
    d.sub_(1)
    seen.append(x._version)
    t = x.t()
    t.div_(2)
    seen.append(x._version)
    x.clamp_(0.0, 1.0)
    x.masked_fill_(lib.ones(4, 3, dtype=lib.bool), 0.5)
    seen.append(x._version)
    with no_grad():
        x.uniform_()
        x.normal_()
    seen.append(x._version)
    r = x.reshape(12)
    r.add_(1)
    seen += [x._version, r._version]
    return seen


def test_version_values_match_torch():
    torch = pytest.importorskip("torch")
    assert _version_sequence(cr, cr.no_grad) == _version_sequence(torch, torch.no_grad)


def test_version_of_a_non_leaf_matches_torch():
    torch = pytest.importorskip("torch")

    def seq(lib):
        a = lib.ones(3, dtype=lib.float64, requires_grad=True)
        b = a * 2
        out = [b._version]
        b.add_(1)
        b.mul_(3)
        out.append(b._version)
        b[0] = 1.0
        out.append(b._version)
        return out

    assert seq(cr) == seq(torch)


# ---------------------------------------------------------------- custom Functions
class _ExpSavingOutput(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class _ScaleSavingIntermediate(cr.autograd.Function):
    """y = 3x, saving an intermediate s = 3 (a tensor that is neither input nor output)."""

    @staticmethod
    def forward(ctx, x):
        s = cr.full(x.shape, 3.0, dtype=x.dtype)
        ctx.save_for_backward(s)
        ctx.s = s
        return x * s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s


class _DoubleSavingNothing(cr.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_custom_function_saved_output_modified_raises():
    a = _ones(requires_grad=True)
    y = _ExpSavingOutput.apply(a)
    with cr.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="output 0 of _ExpSavingOutput"):
        y.sum().backward()


def test_custom_function_saved_intermediate_modified_raises():
    a = _ones(requires_grad=True)
    x = a * 1
    y = _ScaleSavingIntermediate.apply(x)
    y.grad_fn.s.add_(1)
    with pytest.raises(RuntimeError, match="tensor 0 saved for backward"):
        y.sum().backward()


def test_custom_function_that_saves_nothing_allows_changing_its_input():
    a = _ones(requires_grad=True)
    x = a * 1
    y = _DoubleSavingNothing.apply(x)
    x.add_(1)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0, 2.0])


# ---------------------------------------------------------------- forward mode
def test_forward_mode_in_place_updates_tangent_and_counts():
    import chainrule.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        x = fwAD.make_dual(cr.tensor([1.0, 2.0], dtype=cr.float64), cr.tensor([1.0, 1.0], dtype=cr.float64))
        y = x * 1
        y.zero_()  # y = 0 everywhere: its tangent is 0 too
        assert y._version == 1
        np.testing.assert_allclose(fwAD.unpack_dual(y).tangent.numpy(), [0.0, 0.0])


# ---------------------------------------------------------------- parameters: optimisers, init, state dicts
def test_optimiser_step_between_forward_and_backward_raises():
    # the weights backward would need were overwritten by the step (PyTorch raises too)
    x = cr.tensor([[1.0, 2.0]], dtype=cr.float64)
    w = cr.tensor([[0.5], [0.25]], dtype=cr.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (x @ w).sum().backward()
    loss = ((x @ w) ** 2).sum()  # matmul saves x (for dL/dw); pow saves x @ w, not w
    h = x @ w
    loss2 = (h * h).sum() + (w * w).sum()  # mul saves w
    opt.step()
    loss.backward()  # nothing it reads was changed: fine
    with pytest.raises(RuntimeError, match="input 0 of mul"):
        loss2.backward()


def test_optimiser_step_counts_as_an_in_place_change_like_torch():
    # every step changes each parameter in place; how many in-place ops one step takes is
    # PyTorch's implementation detail (AdamW: two), so compare "did the version move"
    torch = pytest.importorskip("torch")

    def moved(lib, opt_cls, with_frozen):
        w = lib.zeros(3, dtype=lib.float64, requires_grad=True)
        frozen = lib.zeros(2, dtype=lib.float64, requires_grad=True)  # never gets a gradient
        # (without a frozen parameter, Adam updates the group as one packed array)
        opt = opt_cls([w, frozen] if with_frozen else [w], lr=0.1)
        out = []
        for _ in range(3):
            opt.zero_grad()
            before = (w._version, frozen._version)
            (w * 2).sum().backward()
            opt.step()
            out.append((w._version > before[0], frozen._version > before[1]))
        return out

    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        for with_frozen in (False, True):
            mine = moved(cr, getattr(optim, name), with_frozen)
            assert mine == moved(torch, getattr(torch.optim, name), with_frozen) == [(True, False)] * 3, name


def test_init_and_load_state_dict_count_like_torch():
    torch = pytest.importorskip("torch")

    def versions(lib):
        lin = lib.nn.Linear(3, 2)
        before = (lin.weight._version, lin.bias._version)
        with lib.no_grad():
            lib.nn.init.uniform_(lin.weight)
            lib.nn.init.zeros_(lin.bias)
            lib.nn.init.xavier_uniform_(lin.weight)
            lib.nn.init.constant_(lin.bias, 0.5)
        after = (lin.weight._version, lin.bias._version)
        lin.load_state_dict({k: v.detach().clone() for k, v in lin.state_dict().items()})
        return before, after, (lin.weight._version, lin.bias._version)

    assert versions(cr) == versions(torch)  # construction, init and loading: one change each


# ---------------------------------------------------------------- the declarations are not too small
# For each op: record L = Σ c·op(xs), then change one of its tensors in place (an input, an
# index, or the output) under no_grad.  Backward must either refuse (the op's vjp reads that
# tensor) or give exactly the gradient of the unmodified graph (it does not read it).  A
# primitive that declared too little in saves_inputs / saves_output fails here.
_rng = np.random.default_rng(7)


def _any(*shape):
    return _rng.uniform(-1.0, 1.0, shape)


def _pos(*shape):
    return _rng.uniform(0.5, 1.5, shape)


_INDEX = np.array([2, 0, 2])
_CASES = {
    "neg": (lambda a: -a, [_any(3)]),
    "add": (lambda a, b: a + b, [_any(3), _any(3)]),
    "sub": (lambda a, b: a - b, [_any(3), _any(3)]),
    "mul": (lambda a, b: a * b, [_any(3), _any(3)]),
    "div": (lambda a, b: a / b, [_any(3), _pos(3)]),
    "pow_scalar": (lambda a: a**3, [_any(3)]),
    "pow": (lambda a, b: a**b, [_pos(3), _any(3)]),
    "exp": (lambda a: a.exp(), [_any(3)]),
    "log": (lambda a: a.log(), [_pos(3)]),
    "log1p": (lambda a: cr.log1p(a), [_pos(3)]),
    "sqrt": (lambda a: a.sqrt(), [_pos(3)]),
    "abs": (lambda a: a.abs(), [_any(3)]),
    "sin": (lambda a: a.sin(), [_any(3)]),
    "cos": (lambda a: a.cos(), [_any(3)]),
    "tanh": (lambda a: a.tanh(), [_any(3)]),
    "sigmoid": (lambda a: a.sigmoid(), [_any(3)]),
    "relu": (lambda a: a.relu(), [np.array([-0.1, 0.3, -0.6, 0.8])]),
    "maximum": (lambda a, b: cr.maximum(a, b), [_any(4), _any(4)]),
    "clamp": (lambda a: a.clamp(-0.1, 0.1), [np.array([-0.2, -0.05, 0.05, 0.2])]),
    "where": (lambda m, a, b: cr.where(m, a, b), [np.array([True, False, True]), _any(3), _any(3)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), [np.array([-0.1, 0.3, -0.6, 0.8])]),
    "elu": (lambda a: F.elu(a), [_any(4)]),
    "hardtanh": (lambda a: F.hardtanh(a, -0.1, 0.1), [np.array([-0.2, -0.05, 0.05, 0.2])]),
    "gelu": (lambda a: F.gelu(a), [_any(4)]),
    "silu": (lambda a: F.silu(a), [_any(4)]),
    "softplus": (lambda a: F.softplus(a), [_any(4)]),
    "erf": (lambda a: ops_activation.erf(a), [_any(4)]),
    "sum": (lambda a: a.sum(0), [_any(2, 3)]),
    "mean": (lambda a: a.mean(1), [_any(2, 3)]),
    "var": (lambda a: a.var(1), [_any(2, 3)]),
    "amax": (lambda a: cr.amax(a, 1), [_any(2, 3)]),
    "logsumexp": (lambda a: cr.logsumexp(a, 1), [_any(2, 3)]),
    "softmax": (lambda a: F.softmax(a, -1), [_any(2, 3)]),
    "log_softmax": (lambda a: F.log_softmax(a, -1), [_any(2, 3)]),
    "reshape": (lambda a: a.reshape(3, 2), [_any(2, 3)]),
    "permute": (lambda a: a.permute(1, 0), [_any(2, 3)]),
    "cat": (lambda a, b: cr.cat([a, b], 0), [_any(2, 3), _any(1, 3)]),
    "pad": (lambda a: ops_shape.pad(a, (1, 1)), [_any(2, 3)]),
    "flip": (lambda a: a.flip(0), [_any(2, 3)]),
    "getitem": (lambda a: a[1:, ::2], [_any(3, 4)]),
    "getitem_index": (lambda a, i: a[i], [_any(4), _INDEX]),
    "gather": (lambda a, i: cr.gather(a, 1, i), [_any(2, 3), np.array([[0, 2], [1, 1]])]),
    "index_select": (lambda a, i: cr.index_select(a, 1, i), [_any(2, 3), np.array([2, 0])]),
    "scatter_add": (lambda a, i, b: cr.scatter_add(a, 1, i, b), [_any(2, 3), np.array([[0, 2], [1, 1]]), _any(2, 2)]),
    "masked_fill": (lambda a, m: a.masked_fill(m, 0.5), [_any(4), np.array([True, False, False, True])]),
    "nll_loss": (lambda x, t: F.nll_loss(x, t), [_any(3, 4), np.array([0, 3, 1])]),
    "expand": (lambda a: a.expand(2, 3), [_any(1, 3)]),
    "sign": (lambda a: a.sign() * a, [_any(3)]),
    "index_put": (lambda a, b: _put(a, b), [_any(4), _any(2)]),
    "matmul": (lambda a, b: a @ b, [_any(2, 3), _any(3, 2)]),
    "matvec": (lambda a, b: a @ b, [_any(2, 3), _any(3)]),
    "dot": (lambda a, b: a @ b, [_any(3), _any(3)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [_any(4, 3), _any(2, 3), _any(2)]),
    "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), [_any(1, 2, 4, 4), _any(3, 2, 3, 3)]),
    "embedding": (lambda i, w: F.embedding(i, w), [_INDEX, _any(4, 2)]),
    "layer_norm": (lambda x: F.layer_norm(x, (3,)), [_any(2, 3)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [_any(4, 3), _pos(3), _any(3)]),
    "batch_norm_plain": (lambda x: F.batch_norm(x, None, None, training=True), [_any(4, 3)]),
    "bce_logits": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [_any(4), _pos(4) - 0.5]),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), [_any(3, 4), np.array([0, 3, 1])]),
    "cast": (lambda a: a.float(), [_any(3)]),
    "clone": (lambda a: a.clone(), [_any(3)]),
}


def _put(a, b):
    y = a * 1
    y[1:3] = b
    return y


def _run(fn, arrays, grads_for, modify=None):
    xs = [cr.tensor(a.copy(), requires_grad=(k in grads_for)) for k, a in enumerate(arrays)]
    y = fn(*xs)
    c = cr.tensor(np.linspace(0.5, 1.5, y.numel()).reshape(y.shape), dtype=y.dtype)
    loss = (y * c).sum()
    if modify is not None:
        target = y if modify == "output" else xs[modify]
        with cr.no_grad():
            if target.dtype.kind == "b":
                target.copy_(~target.detach())  # masks: flipped
            elif target.dtype.kind in "iu":
                target.mul_(0)  # indices: all 0, still in range
            else:
                target.add_(0.25)
    loss.backward()
    return [xs[k].grad.numpy() for k in grads_for]


@pytest.mark.parametrize("name", sorted(_CASES))
def test_changing_what_the_vjp_does_not_read_keeps_the_gradient(name):
    fn, arrays = _CASES[name]
    floats = [k for k, a in enumerate(arrays) if a.dtype.kind == "f"]
    # every float input, and each one alone (mul's rule reads b only for dL/da)
    choices = [floats] + ([[k] for k in floats] if len(floats) > 1 else [])
    for grads_for in choices:
        ref = _run(fn, arrays, grads_for)
        for modify in ["output"] + list(range(len(arrays))):
            try:
                got = _run(fn, arrays, grads_for, modify)
            except RuntimeError as e:
                assert MODIFIED in str(e), (name, modify, str(e))
                continue
            except ValueError:  # a read-only view (expand) cannot be written
                continue
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g, r, rtol=1e-12, err_msg=f"{name}: changing {modify}")


def test_a_tensor_that_shared_its_counter_pickles() -> None:
    """A tensor whose version counter has sharers (a detach(), a view) pickles: the copy keeps
    the version and drops the weak references to the sharers."""
    import pickle

    a = cr.randn(2, 3)
    d = a.detach()
    a.add_(1.0)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(b.numpy(), a.numpy())
    assert b._version == a._version
    c = pickle.loads(pickle.dumps(d))
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_relu_inplace_after_max_pool_keeps_the_gradient():
    """max_pool's backward reads only its argmaxes, not its output (as PyTorch, which saves
    indices), so ``max_pool2d`` then ``ReLU(inplace=True)`` is no version error."""
    x = cr.tensor(np.arange(32.0).reshape(1, 2, 4, 4) * (-1.0) ** np.arange(32).reshape(1, 2, 4, 4),
                  requires_grad=True)
    y = nn.ReLU(inplace=True)(F.max_pool2d(x * 1.0, 2))
    y.sum().backward()
    # each 2x2 window's max gets gradient 1 when that max is positive (relu' = 1), else 0
    xv = x.detach().numpy()
    want = np.zeros_like(xv)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                w = xv[0, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                a, b = np.unravel_index(np.argmax(w), w.shape)
                want[0, c, 2 * i + a, 2 * j + b] = 1.0 if w[a, b] > 0 else 0.0
    np.testing.assert_array_equal(x.grad.numpy(), want)
