"""Convolutions with padding_mode 'reflect', 'replicate' and 'circular': the input padded in that
mode, then convolved without padding (PyTorch's definition); checked against PyTorch, and the
gradient by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

MODES = ["reflect", "replicate", "circular"]


@pytest.mark.parametrize("mode", MODES)
def test_the_padding_is_the_modes(mode):
    # a 1×1 kernel of weight 1 and no bias shows the padded input itself
    conv = cr.nn.Conv1d(1, 1, 1, padding=2, padding_mode=mode, bias=False)
    with cr.no_grad():
        conv.weight.fill_(1.0)
    x = cr.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    want = {"reflect": [3, 2, 1, 2, 3, 4, 3, 2], "replicate": [1, 1, 1, 2, 3, 4, 4, 4],
            "circular": [3, 4, 1, 2, 3, 4, 1, 2]}[mode]
    assert conv(x).flatten().tolist() == want
    assert f"padding_mode={mode}" in repr(conv)


def test_an_unknown_mode_raises():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        cr.nn.Conv2d(1, 1, 3, padding_mode="mirror")


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(mode):
    conv = cr.nn.Conv2d(2, 2, 3, padding=1, padding_mode=mode).double()
    x = cr.randn(1, 2, 4, 5, dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: conv(t), (x,))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_against_pytorch(mode, d):
    torch = pytest.importorskip("torch")
    cls, tcls = (cr.nn.Conv1d, cr.nn.Conv2d, cr.nn.Conv3d)[d - 1], (torch.nn.Conv1d, torch.nn.Conv2d,
                                                                    torch.nn.Conv3d)[d - 1]
    kw = dict(kernel_size=3, stride=2 if d < 3 else 1, padding=(2 if d == 1 else 1), padding_mode=mode)
    ref = tcls(2, 3, **kw).double()
    m = cls(2, 3, **kw).double()
    m.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    a = np.random.default_rng(d).standard_normal((2, 2) + (5,) * d)
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = m(x), ref(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
