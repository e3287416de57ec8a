"""The hook-based torch.nn.utils.spectral_norm / remove_spectral_norm, the batch-norm fusions and skip_init.

Spectral norm: σ₁(W/σ) → 1 (mathematics), the u/v updates of one training step written out,
PyTorch's names and values.  Fusion: fused(x) equals bn(layer(x)) (the identity the fusion
rests on), and PyTorch's fused weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.nn.utils import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
    remove_spectral_norm,
    skip_init,
    spectral_norm,
)

R = np.random.default_rng(8)


def npy(t) -> np.ndarray:
    return t.detach().numpy()


def f64(*shape: int, requires_grad: bool = False) -> cr.Tensor:
    return cr.tensor(R.standard_normal(shape), dtype=cr.float64, requires_grad=requires_grad)


# ------------------------------------------------------------------- hook-based spectral norm
def test_spectral_norm_names_and_convergence():
    m = spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=2)
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert m.weight_u.shape == (4,) and m.weight_v.shape == (6,)
    U, V = np.linalg.qr(R.standard_normal((4, 4)))[0], np.linalg.qr(R.standard_normal((6, 4)))[0]
    with cr.no_grad():  # singular values 3, 1, 0.5, 0.2: power iteration gains a factor 3 per round
        m.weight_orig.copy_(cr.tensor(U @ np.diag([3.0, 1.0, 0.5, 0.2]) @ V.T))
    for _ in range(15):
        m(f64(2, 6))
    W = npy(m.weight_orig)
    np.testing.assert_allclose(npy(m.weight), W / 3.0, rtol=1e-12)
    assert abs(np.linalg.svd(npy(m.weight), compute_uv=False)[0] - 1) < 1e-12


def test_spectral_norm_one_training_step_and_eval():
    m = spectral_norm(nn.Linear(5, 3).double())
    u0, W = npy(m.weight_u).copy(), npy(m.weight_orig)
    m(f64(1, 5))
    v1 = W.T @ u0 / np.linalg.norm(W.T @ u0)  # v first, then u (the hook's order)
    u1 = W @ v1 / np.linalg.norm(W @ v1)
    np.testing.assert_allclose(npy(m.weight_v), v1, atol=1e-14)
    np.testing.assert_allclose(npy(m.weight_u), u1, atol=1e-14)
    np.testing.assert_allclose(npy(m.weight), W / (u1 @ W @ v1))
    u_trained = npy(m.weight_u).copy()
    m.eval()
    m(f64(1, 5))
    np.testing.assert_array_equal(npy(m.weight_u), u_trained)  # not moved in evaluation mode


def test_spectral_norm_trains_and_gradcheck():
    m = spectral_norm(nn.Linear(4, 3).double())
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    x, y = f64(8, 4), f64(8, 3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    m.eval()
    fn = m._forward_pre_hooks[next(iter(m._forward_pre_hooks))]

    def weight_of(w: cr.Tensor) -> cr.Tensor:
        m._parameters["weight_orig"] = w
        return fn.compute_weight(m, do_power_iteration=False)

    w = f64(3, 4, requires_grad=True)
    assert gradcheck(weight_of, (w,))
    assert gradgradcheck(weight_of, (w,))


def test_remove_spectral_norm_and_errors():
    m = spectral_norm(nn.Conv2d(2, 3, 2).double())
    assert m.weight_v.shape == (8,)
    m(f64(1, 2, 3, 3))
    w = npy(m.weight).copy()
    remove_spectral_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"] and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(npy(m.weight), w)
    assert not m._forward_pre_hooks
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        remove_spectral_norm(m)
    m2 = spectral_norm(nn.Linear(3, 3))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        spectral_norm(m2)
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        spectral_norm(nn.Linear(3, 3), "nope")
    with pytest.raises(ValueError, match="n_power_iterations"):
        spectral_norm(nn.Linear(3, 3), n_power_iterations=0)
    assert spectral_norm(nn.ConvTranspose1d(2, 5, 3)).weight_u.shape == (5,)  # dim=1 for transposed


def test_spectral_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = spectral_norm(nn.Linear(5, 4).double(), n_power_iterations=3)
    theirs = torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4).double(), n_power_iterations=3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(npy(v).copy()) for k, v in ours.state_dict().items()})
    for _ in range(2):
        x = f64(2, 5)
        np.testing.assert_allclose(npy(ours(x)), npy(theirs(torch.from_numpy(npy(x)))), atol=1e-12)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(npy(ours.state_dict()[k]), npy(v), atol=1e-12, err_msg=k)


# ------------------------------------------------------------------------------------ fusion
def _bn(n: int, cls=nn.BatchNorm2d, affine: bool = True) -> nn.Module:
    bn = cls(n, affine=affine).double()
    with cr.no_grad():
        bn.running_mean.copy_(f64(n))
        bn.running_var.copy_(cr.tensor(R.uniform(0.5, 2.0, n)))
        if affine:
            bn.weight.copy_(f64(n))
            bn.bias.copy_(f64(n))
    return bn.eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_bn_eval_equals_bn_of_conv(bias: bool, affine: bool):
    conv, bn = nn.Conv2d(3, 4, 3, bias=bias).double().eval(), _bn(4, affine=affine)
    fused = fuse_conv_bn_eval(conv, bn)
    x = f64(2, 3, 6, 6)
    np.testing.assert_allclose(npy(fused(x)), npy(bn(conv(x))), atol=1e-12)
    assert fused is not conv and isinstance(fused.weight, nn.Parameter) and isinstance(fused.bias, nn.Parameter)


def test_fuse_transposed_conv_and_linear():
    conv, bn = nn.ConvTranspose2d(3, 4, 2, groups=1).double().eval(), _bn(4)
    fused = fuse_conv_bn_eval(conv, bn, transpose=True)
    x = f64(2, 3, 4, 4)
    np.testing.assert_allclose(npy(fused(x)), npy(bn(conv(x))), atol=1e-12)
    lin, bn1 = nn.Linear(5, 3).double().eval(), _bn(3, nn.BatchNorm1d)
    fused_lin = fuse_linear_bn_eval(lin, bn1)
    x = f64(7, 5)
    np.testing.assert_allclose(npy(fused_lin(x)), npy(bn1(lin(x))), atol=1e-12)
    lin_nb = nn.Linear(5, 3, bias=False).double().eval()
    np.testing.assert_allclose(npy(fuse_linear_bn_eval(lin_nb, bn1)(x)), npy(bn1(lin_nb(x))), atol=1e-12)


def test_fusion_errors():
    with pytest.raises(RuntimeError, match="fusion only for eval"):
        fuse_conv_bn_eval(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).eval())
    with pytest.raises(RuntimeError, match="running statistics"):
        fuse_conv_bn_eval(nn.Conv2d(3, 4, 3).eval(), nn.BatchNorm2d(4, track_running_stats=False).eval())
    with pytest.raises(RuntimeError, match="out_features must equal bn.num_features"):
        fuse_linear_bn_eval(nn.Linear(3, 4).eval(), nn.BatchNorm1d(5).eval())


def test_fused_weights_match_pytorch():
    torch = pytest.importorskip("torch")
    w, b, rm, rv, g, beta = f64(4, 3, 2, 2), f64(4), f64(4), cr.tensor(R.uniform(0.5, 2, 4)), f64(4), f64(4)
    t = [torch.from_numpy(npy(a)) for a in (w, b, rm, rv, g, beta)]
    for ours, theirs in zip(fuse_conv_bn_weights(w, b, rm, rv, 1e-3, g, beta),
                            torch.nn.utils.fuse_conv_bn_weights(t[0], t[1], t[2], t[3], 1e-3, t[4], t[5])):
        np.testing.assert_allclose(npy(ours), npy(theirs), rtol=1e-14)
    wl = f64(4, 6)
    for ours, theirs in zip(fuse_linear_bn_weights(wl, None, rm, rv, 1e-5, g, beta),
                            torch.nn.utils.fuse_linear_bn_weights(torch.from_numpy(npy(wl)), None, t[2], t[3], 1e-5,
                                                                  t[4], t[5])):
        np.testing.assert_allclose(npy(ours), npy(theirs), rtol=1e-14)


# --------------------------------------------------------------------------------- skip_init
def test_skip_init():
    m = skip_init(nn.Linear, 3, 4, bias=False)
    assert type(m) is nn.Linear and m.weight.shape == (4, 3) and m.bias is None
    with pytest.raises(RuntimeError, match="expected a Module class"):
        skip_init(int)  # type: ignore[type-var]

    class NoDevice(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()

    with pytest.raises(RuntimeError, match="'device' argument"):
        skip_init(NoDevice, 3)
