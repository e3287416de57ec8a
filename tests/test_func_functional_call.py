"""torch.func.functional_call, stack_module_state, linearize and the recipes of PyTorch's torch.func
documentation (per-sample gradients, model ensembling), against loops, finite differences and PyTorch."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.func import functional_call, grad, jacrev, jvp, linearize, stack_module_state, vjp, vmap

RNG = np.random.default_rng(1)


def _mlp(seed=0):
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()


def _t(a):
    return cr.tensor(np.asarray(a, dtype=np.float64))


def test_functional_call_uses_the_given_tensors_and_restores_the_originals():
    m = _mlp()
    originals = {k: v for k, v in m.named_parameters()}
    x = _t(RNG.standard_normal((4, 3)))
    w0, b0 = _t(RNG.standard_normal((5, 3))), _t(RNG.standard_normal(5))
    out = functional_call(m, {"0.weight": w0, "0.bias": b0}, (x,))
    h = np.tanh(x.numpy() @ w0.numpy().T + b0.numpy())
    ref = h @ m[2].weight.detach().numpy().T + m[2].bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12)
    assert all(p is originals[k] for k, p in m.named_parameters())
    # one argument that is not a tuple; a tuple of dicts; kwargs
    np.testing.assert_allclose(functional_call(m, ({"0.weight": w0}, {"0.bias": b0}), x).detach().numpy(), ref)
    # the originals come back when the call raises
    with pytest.raises(ValueError, match="expected input of shape"):
        functional_call(m, {"0.weight": w0}, (_t(np.zeros((4, 7))),))
    assert m[0].weight is originals["0.weight"]

    class Reads(nn.Module):  # a name the module has no parameter for is an attribute during the call
        def forward(self, x):
            return x * self.scale

    r = Reads()
    np.testing.assert_allclose(functional_call(r, {"scale": _t(3.0)}, x).numpy(), 3 * x.numpy())
    assert not hasattr(r, "scale")
    bn = nn.BatchNorm1d(5).double().eval()
    mean = bn.running_mean
    with pytest.raises(ValueError):
        functional_call(bn, {"running_mean": _t(np.zeros(5))}, (_t(np.zeros((2, 4))),))
    assert bn.running_mean is mean  # buffers come back too


def test_functional_call_gradients_flow_to_the_given_tensors():
    m = _mlp()
    x = _t(RNG.standard_normal((4, 3)))
    params = {k: v.detach().clone().requires_grad_(True) for k, v in m.named_parameters()}
    functional_call(m, params, (x,)).pow(2).sum().backward()
    assert all(p.grad is None for p in m.parameters())
    m(x).pow(2).sum().backward()
    for k, p in m.named_parameters():
        np.testing.assert_allclose(params[k].grad.numpy(), p.grad.numpy(), rtol=1e-12)


def test_functional_call_buffers_strict_and_tied_weights():
    bn = nn.BatchNorm1d(2).double().eval()
    x = _t(RNG.standard_normal((4, 2)))
    mean, var = _t([1.0, -1.0]), _t([4.0, 0.25])
    out = functional_call(bn, {"running_mean": mean, "running_var": var}, x)
    np.testing.assert_allclose(out.detach().numpy(), (x.numpy() - mean.numpy()) / np.sqrt(var.numpy() + 1e-5),
                               rtol=1e-12)
    with pytest.raises(RuntimeError, match="Missing key\\(s\\): 'bias'"):
        functional_call(bn, {"weight": _t([1.0, 1.0])}, x, strict=True)
    with pytest.raises(RuntimeError, match="Unexpected key\\(s\\): 'foo'"):
        functional_call(bn, {**dict(bn.named_parameters()), **dict(bn.named_buffers()), "foo": x}, x, strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        functional_call(bn, ({"weight": mean}, {"weight": var}), x)

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.a(x) + self.b(x)

    m = Tied().double()
    eye = _t(np.eye(2))
    np.testing.assert_allclose(functional_call(m, {"a.weight": eye}, x).detach().numpy(), 2 * x.numpy())
    untied = functional_call(m, {"a.weight": eye}, x, tie_weights=False).detach().numpy()
    np.testing.assert_allclose(untied, x.numpy() + x.numpy() @ m.a.weight.detach().numpy().T, rtol=1e-12)
    with pytest.raises(ValueError, match="tied"):
        functional_call(m, {"a.weight": eye, "b.weight": 2 * eye}, x)


def test_stateless_functional_call_is_the_deprecated_alias():
    m = _mlp()
    x = _t(RNG.standard_normal((2, 3)))
    p = {k: 2 * v.detach() for k, v in m.named_parameters()}
    with pytest.warns(FutureWarning, match="torch.func.functional_call"):
        out = nn.utils.stateless.functional_call(m, p, (x,))
    np.testing.assert_allclose(out.detach().numpy(), functional_call(m, p, (x,)).detach().numpy())


def _loss(model, params, buffers, x, y):
    out = functional_call(model, (params, buffers), (x.unsqueeze(0),))
    return F.mse_loss(out, y.unsqueeze(0))


def test_per_sample_gradients_equal_the_loop_of_single_sample_gradients():
    m = _mlp()
    x, y = _t(RNG.standard_normal((6, 3))), _t(RNG.standard_normal((6, 2)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    buffers = {k: v.detach() for k, v in m.named_buffers()}
    per_sample = vmap(grad(lambda p, b, xi, yi: _loss(m, p, b, xi, yi)), in_dims=(None, None, 0, 0))(
        params, buffers, x, y)
    assert set(per_sample) == set(params)
    for i in range(6):
        m.zero_grad()
        F.mse_loss(m(x[i:i + 1]), y[i:i + 1]).backward()
        for k, p in m.named_parameters():
            assert per_sample[k].shape == (6, *p.shape)
            np.testing.assert_allclose(per_sample[k][i].numpy(), p.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_per_sample_gradients_against_pytorch():
    torch = pytest.importorskip("torch")
    m = _mlp()
    x, y = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    tparams = {k: v.detach() for k, v in tm.named_parameters()}

    def tloss(p, xi, yi):
        return torch.nn.functional.mse_loss(torch.func.functional_call(tm, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(tparams, torch.tensor(x), torch.tensor(y))
    got = vmap(grad(lambda p, xi, yi: _loss(m, p, {}, xi, yi)), in_dims=(None, 0, 0))(
        {k: v.detach() for k, v in m.named_parameters()}, _t(x), _t(y))
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-10, atol=1e-14)


def test_grad_vjp_jacrev_take_dicts_of_parameters():
    m = _mlp()
    x = _t(RNG.standard_normal((4, 3)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    g = grad(lambda p: functional_call(m, p, (x,)).sum())(params)
    m(x).sum().backward()
    for k, p in m.named_parameters():
        np.testing.assert_allclose(g[k].numpy(), p.grad.numpy(), rtol=1e-12)
    out, fn = vjp(lambda p: functional_call(m, p, (x,)), params)
    (gv,) = fn(cr.ones_like(out))
    for k in params:
        np.testing.assert_allclose(gv[k].numpy(), g[k].numpy(), rtol=1e-12)
    # an empty tree (a model without buffers) has an empty gradient, as in PyTorch
    g_p, g_b = grad(lambda p, b: functional_call(m, (p, b), (x,)).sum(), argnums=(0, 1))(params, {})
    assert g_b == {} and set(g_p) == set(params)
    J = jacrev(lambda p: functional_call(m, p, (x,)))(params)
    assert J["2.bias"].shape == (4, 2, 2)
    np.testing.assert_allclose(J["2.bias"].numpy(), np.broadcast_to(np.eye(2), (4, 2, 2)))  # ∂out/∂b = I per row


def test_model_ensembling_with_stack_module_state():
    models = [_mlp(seed=s) for s in range(4)]
    params, buffers = stack_module_state(models)
    assert params["0.weight"].shape == (4, 5, 3) and buffers == {}
    assert all(p.requires_grad and p.is_leaf for p in params.values())
    base = copy.deepcopy(models[0])

    def fmodel(p, b, x):
        return functional_call(base, (p, b), (x,))

    x = _t(RNG.standard_normal((7, 3)))
    out = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x)  # every model on the same batch
    xs = _t(RNG.standard_normal((4, 7, 3)))
    out_each = vmap(fmodel)(params, buffers, xs)  # each model on its own batch
    for i, mi in enumerate(models):
        np.testing.assert_allclose(out[i].detach().numpy(), mi(x).detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(out_each[i].detach().numpy(), mi(xs[i]).detach().numpy(), rtol=1e-12)
    out.sum().backward()  # the stacked parameters are leaves that collect gradients
    assert params["2.bias"].grad.shape == (4, 2)
    np.testing.assert_allclose(params["2.bias"].grad.numpy(), np.full((4, 2), 7.0))


def test_stack_module_state_buffers_and_errors():
    bns = [nn.BatchNorm1d(2) for _ in range(3)]
    params, buffers = stack_module_state(bns)
    assert buffers["running_mean"].shape == (3, 2) and not buffers["running_mean"].requires_grad
    assert buffers["num_batches_tracked"].shape == (3,)
    with pytest.raises(RuntimeError, match="at least one model"):
        stack_module_state([])
    with pytest.raises(RuntimeError, match="stack"):
        stack_module_state([nn.Linear(2, 3), nn.Linear(2, 2)])
    with pytest.raises(RuntimeError, match="same architecture"):
        stack_module_state([nn.Linear(2, 3), nn.Linear(2, 3, bias=False)])
    frozen = nn.Linear(2, 3)
    frozen.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="same .requires_grad"):
        stack_module_state([frozen, nn.Linear(2, 3)])


def test_model_ensembling_against_pytorch():
    torch = pytest.importorskip("torch")
    models = [_mlp(seed=s) for s in range(3)]
    tmodels = []
    for mi in models:
        tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
        tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in mi.state_dict().items()})
        tmodels.append(tm)
    x = RNG.standard_normal((5, 3))
    tp, tb = torch.func.stack_module_state(tmodels)
    ref = torch.vmap(lambda p, b, xx: torch.func.functional_call(tmodels[0], (p, b), (xx,)),
                     in_dims=(0, 0, None))(tp, tb, torch.tensor(x))
    cp, cb = stack_module_state(models)
    got = cr.vmap(lambda p, b, xx: functional_call(models[0], (p, b), (xx,)), in_dims=(0, 0, None))(cp, cb, _t(x))
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    for k in tp:
        assert cp[k].requires_grad == tp[k].requires_grad and tuple(cp[k].shape) == tuple(tp[k].shape)


def test_linearize_equals_jvp_and_finite_differences():
    def f(x, y):
        return cr.sin(x) * y + x.pow(3).sum(), cr.exp(x - y)

    x, y = _t(RNG.standard_normal(4)), _t(RNG.standard_normal(4))
    out, jvp_fn = linearize(f, x, y)
    np.testing.assert_allclose(out[1].numpy(), np.exp(x.numpy() - y.numpy()))
    for _ in range(2):  # jvp_fn can be called many times
        u, v = _t(RNG.standard_normal(4)), _t(RNG.standard_normal(4))
        t_lin = jvp_fn(u, v)
        _, t_jvp = jvp(f, (x, y), (u, v))
        eps = 1e-6
        plus, minus = f(x + eps * u, y + eps * v), f(x - eps * u, y - eps * v)
        for a, b, p, m in zip(t_lin, t_jvp, plus, minus):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)
            np.testing.assert_allclose(a.numpy(), (p.numpy() - m.numpy()) / (2 * eps), rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError, match="expected 2 tangents"):
        jvp_fn(u)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        jvp_fn(u, _t(np.zeros(3)))
    with pytest.raises(TypeError, match="floating point"):
        linearize(f, cr.tensor([1, 2]), y)


def test_linearize_against_pytorch():
    torch = pytest.importorskip("torch")
    x, u = RNG.standard_normal(5), RNG.standard_normal(5)
    _, fn = torch.func.linearize(lambda a: torch.tanh(a) * a, torch.tensor(x))
    _, gn = linearize(lambda a: cr.tanh(a) * a, _t(x))
    np.testing.assert_allclose(gn(_t(u)).numpy(), fn(torch.tensor(u)).numpy(), rtol=1e-12)


def test_functional_call_type_errors():
    m = _mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="dict, or a list/tuple of dicts"):
            functional_call(m, "weights", (_t(np.zeros((1, 3))),))
        with pytest.raises(TypeError, match="must be a Tensor"):
            functional_call(m, {"0.weight": np.zeros((5, 3))}, (_t(np.zeros((1, 3))),))
