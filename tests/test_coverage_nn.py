"""nn pieces added for issue 12's coverage: the Lazy* layers (nn/modules/lazy.py), MaxUnpool1d/2d/3d
and F.max_unpool* (nn/functional/unpool.py), F.max_pool3d_with_indices /
adaptive_max_pool3d_with_indices.  PyTorch is the oracle where installed."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck

R = np.random.default_rng(61205)

LAZY = [
    ("LazyLinear", (5,), (3, 4), "Linear", {"weight": (5, 4), "bias": (5,)}),
    ("LazyConv1d", (4, 3), (2, 3, 9), "Conv1d", {"weight": (4, 3, 3), "bias": (4,)}),
    ("LazyConv2d", (4, 3), (2, 3, 6, 6), "Conv2d", {"weight": (4, 3, 3, 3), "bias": (4,)}),
    ("LazyConv3d", (2, 2), (1, 3, 4, 4, 4), "Conv3d", {"weight": (2, 3, 2, 2, 2), "bias": (2,)}),
    ("LazyConvTranspose1d", (4, 3), (2, 3, 5), "ConvTranspose1d", {"weight": (3, 4, 3), "bias": (4,)}),
    ("LazyConvTranspose2d", (4, 3), (2, 3, 4, 4), "ConvTranspose2d", {"weight": (3, 4, 3, 3), "bias": (4,)}),
    ("LazyConvTranspose3d", (2, 2), (1, 3, 3, 3, 3), "ConvTranspose3d", {"weight": (3, 2, 2, 2, 2), "bias": (2,)}),
    ("LazyBatchNorm1d", (), (4, 3), "BatchNorm1d", {"weight": (3,), "bias": (3,), "running_mean": (3,)}),
    ("LazyBatchNorm2d", (), (2, 3, 4, 4), "BatchNorm2d", {"weight": (3,), "running_var": (3,)}),
    ("LazyBatchNorm3d", (), (2, 3, 2, 2, 2), "BatchNorm3d", {"weight": (3,), "running_var": (3,)}),
    ("LazyInstanceNorm1d", (), (2, 3, 5), "InstanceNorm1d", {"weight": (3,), "running_mean": (3,)}),
    ("LazyInstanceNorm2d", (), (2, 3, 4, 4), "InstanceNorm2d", {"weight": (3,)}),
    ("LazyInstanceNorm3d", (), (2, 3, 2, 2, 2), "InstanceNorm3d", {"weight": (3,)}),
]


@pytest.mark.parametrize("name, args, shape, becomes, shapes", LAZY, ids=[c[0] for c in LAZY])
def test_lazy_layer_materialises_at_the_first_forward(name, args, shape, becomes, shapes):
    layer = getattr(nn, name)(*args)
    assert layer.has_uninitialized_params()
    before = dict(layer.named_parameters())
    assert all(isinstance(p, nn.UninitializedParameter) for p in before.values())
    assert set(layer.state_dict()) >= {k for k in shapes if k in before}  # listed before the first call
    y = layer(cr.randn(*shape))
    assert type(layer).__name__ == becomes and isinstance(layer, getattr(nn, becomes))
    sd = layer.state_dict()
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k
    after = dict(layer.named_parameters())
    for k, p in before.items():  # the same Parameter objects, now ordinary ones
        assert after[k] is p and type(p) is nn.Parameter
    # the same computation as the ordinary layer built with the size and given the same state
    norm = {"affine": True, "track_running_stats": True} if "Norm" in name else {}
    ref = getattr(nn, becomes)(shape[-1] if name == "LazyLinear" else shape[1], *args, **norm)
    ref.load_state_dict(sd)
    ref.train(layer.training)
    x = cr.randn(*shape)
    assert np.allclose(ref(x).detach().numpy(), layer(x).detach().numpy())
    assert y.shape[0] == shape[0]


def test_lazy_linear_matches_pytorch_after_copying_weights():
    torch = pytest.importorskip("torch")
    lin, lt = nn.LazyLinear(3, dtype=cr.float64), torch.nn.LazyLinear(3, dtype=torch.float64)
    x = R.standard_normal((2, 5))
    y = lin(cr.tensor(x))
    yt = lt(torch.tensor(x))
    assert tuple(lin.weight.shape) == tuple(lt.weight.shape)
    with torch.no_grad():
        lt.weight.copy_(torch.tensor(lin.weight.detach().numpy()))
        lt.bias.copy_(torch.tensor(lin.bias.detach().numpy()))
    assert np.allclose(y.detach().numpy(), lt(torch.tensor(x)).detach().numpy())
    assert yt.shape == tuple(y.shape)


def test_an_optimiser_made_before_the_first_forward_trains_the_materialised_layer():
    cr.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(1))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    x = cr.randn(32, 3)
    y = (x[:, :1] * 2 - x[:, 1:2]).detach()
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_load_state_dict_materialises_from_the_checkpoint():
    cr.manual_seed(1)
    src = nn.Sequential(nn.LazyConv2d(4, 3, groups=2), nn.LazyBatchNorm2d(), nn.Flatten(), nn.LazyLinear(5))
    src(cr.randn(2, 6, 5, 5))
    dst = nn.Sequential(nn.LazyConv2d(4, 3, groups=2), nn.LazyBatchNorm2d(), nn.Flatten(), nn.LazyLinear(5))
    dst.load_state_dict(src.state_dict())
    assert not any(getattr(m, "has_uninitialized_params", lambda: False)() for m in dst.modules())
    src.eval()
    dst.eval()
    x = cr.randn(1, 6, 5, 5)
    assert np.allclose(src(x).detach().numpy(), dst(x).detach().numpy())
    assert type(dst[0]).__name__ == "Conv2d" and dst[0].in_channels == 6


def test_lazy_layers_check_their_arguments_at_construction():
    with pytest.raises((ValueError, RuntimeError)):
        nn.LazyConv2d(5, 3, groups=2)  # out_channels not divisible by groups
    with pytest.raises(RuntimeError, match="LazyLinear"):
        nn.LazyLinear(3)(cr.tensor(1.0))


@pytest.mark.parametrize("module, name", [
    ("nn.modules.linear", "LazyLinear"), ("nn.modules.conv", "LazyConv2d"),
    ("nn.modules.conv", "LazyConvTranspose3d"), ("nn.modules.batchnorm", "LazyBatchNorm1d"),
    ("nn.modules.instancenorm", "LazyInstanceNorm2d"), ("nn.modules.pooling", "MaxUnpool2d"),
    ("nn.parameter", "UninitializedParameter"),
])
def test_pytorch_module_paths(module, name):
    assert getattr(importlib.import_module(f"chainrule.{module}"), name) is getattr(nn, name)


# -- max unpooling ---------------------------------------------------------------------------------
UNPOOL = [
    (1, (2, 3, 8), 2, None, 0, None),
    (1, (2, 3, 9), 3, 2, 1, None),
    (2, (2, 3, 6, 8), 2, None, 0, None),
    (2, (1, 2, 7, 7), 3, 2, 1, (7, 7)),
    (2, (3, 6, 6), 2, None, 0, None),  # unbatched
    (3, (1, 2, 4, 4, 6), 2, None, 0, None),
]


@pytest.mark.parametrize("d, shape, k, s, p, out", UNPOOL)
def test_max_unpool_matches_pytorch(d, shape, k, s, p, out):
    torch = pytest.importorskip("torch")
    x = R.standard_normal(shape)
    pool = getattr(torch.nn.functional, f"max_pool{d}d")
    v, i = pool(torch.tensor(x), k, s, p, return_indices=True)
    vc = cr.tensor(v.numpy(), requires_grad=True)
    vt = v.detach().clone().requires_grad_(True)
    y = getattr(F, f"max_unpool{d}d")(vc, cr.tensor(i.numpy()), k, s, p, out)
    yt = getattr(torch.nn.functional, f"max_unpool{d}d")(vt, i, k, s, p, out)
    assert tuple(y.shape) == tuple(yt.shape)
    assert np.allclose(y.detach().numpy(), yt.detach().numpy())
    g = R.standard_normal(tuple(yt.shape))
    y.backward(cr.tensor(g))
    yt.backward(torch.tensor(g))
    assert np.allclose(vc.grad.numpy(), vt.grad.numpy())
    mod = getattr(nn, f"MaxUnpool{d}d")(k, s, p)
    assert np.allclose(mod(vc, cr.tensor(i.numpy()), out).detach().numpy(), yt.detach().numpy())


def test_max_unpool_inverts_max_pool_at_the_maxima_and_is_zero_elsewhere():
    x = cr.tensor(np.abs(R.standard_normal((2, 3, 4, 6))) + 0.1, dtype=cr.float64)  # (maxima above the zeros)
    v, i = F.max_pool2d(x, 2, return_indices=True)
    y = F.max_unpool2d(v, i, 2).numpy()
    xa = x.numpy()
    nz = y != 0
    assert nz.sum() == v.numel() and np.allclose(y[nz], xa[nz])
    # each 2×2 block holds its max once
    assert np.allclose(y.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5)), v.numpy())
    vv = v.detach().requires_grad_(True)
    assert gradcheck(lambda t: F.max_unpool2d(t, i, 2), [vv])


def test_max_unpool_bad_input():
    v, i = F.max_pool2d(cr.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="max_unpool2d: invalid output_size"):
        F.max_unpool2d(v, i, 2, output_size=(9, 9))
    with pytest.raises(RuntimeError, match="indices .* must have the input's shape"):
        F.max_unpool2d(v, i[..., :1], 2)
    with pytest.raises(RuntimeError, match="integer"):
        F.max_unpool2d(v, i.float(), 2)


def test_3d_with_indices_spellings():
    torch = pytest.importorskip("torch")
    x = R.standard_normal((1, 2, 4, 4, 4))
    a, ia = F.max_pool3d_with_indices(cr.tensor(x), 2)
    b, ib = torch.nn.functional.max_pool3d_with_indices(torch.tensor(x), 2)
    assert np.allclose(a.numpy(), b.numpy()) and np.array_equal(ia.numpy(), ib.numpy())
    a, ia = F.adaptive_max_pool3d_with_indices(cr.tensor(x), 2)
    b, ib = torch.nn.functional.adaptive_max_pool3d_with_indices(torch.tensor(x), 2)
    assert np.allclose(a.numpy(), b.numpy()) and np.array_equal(ia.numpy(), ib.numpy())
