"""nn.LSTM(proj_size=P): h_t = W_hr (o_t ⊙ tanh c_t).  Shapes and parameter layout as PyTorch's;
values and gradients from finite differences and, with PyTorch installed, from PyTorch itself
given the same weights (its state_dict loads as it is)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def test_parameter_layout_shapes_and_errors():
    m = cr.nn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["weight_hh_l0"] == (24, 3) and shapes["weight_hr_l0"] == (3, 6)
    assert shapes["weight_ih_l1"] == (24, 6) and shapes["weight_hr_l1_reverse"] == (3, 6)  # (in = D·P)
    y, (h, c) = m(cr.randn(7, 2, 5))
    assert (y.shape, h.shape, c.shape) == ((7, 2, 6), (4, 2, 3), (4, 2, 6))
    assert "proj_size=3" in repr(m)
    for bad in (6, 7, -1):
        with pytest.raises(ValueError, match="proj_size"):
            cr.nn.LSTM(5, 6, proj_size=bad)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        cr.nn.GRU(5, 6, proj_size=2)
    with pytest.raises(ValueError, match="h_0"):
        m(cr.randn(7, 2, 5), (cr.zeros(4, 2, 6), cr.zeros(4, 2, 6)))  # (h_0 has P features)


def test_gradcheck_through_time():
    cr.manual_seed(0)
    m = cr.nn.LSTM(3, 4, proj_size=2, num_layers=2, bidirectional=True, batch_first=True).double()
    x = cr.randn(2, 3, 3, dtype=cr.float64, requires_grad=True)
    h0 = cr.randn(4, 2, 2, dtype=cr.float64, requires_grad=True)
    c0 = cr.randn(4, 2, 4, dtype=cr.float64, requires_grad=True)

    def f(x, h0, c0):
        y, (h, c) = m(x, (h0, c0))
        return y.sum() + (h * h).sum() + c.sum()

    assert cr.autograd.gradcheck(f, (x, h0, c0))


@pytest.mark.parametrize("bidirectional,batch_first,bias", [(False, False, True), (True, True, True),
                                                            (True, False, False)])
def test_against_pytorch(bidirectional, batch_first, bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.LSTM(5, 7, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                        proj_size=3).double()
    m = cr.nn.LSTM(5, 7, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                   proj_size=3).double()
    m.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    a = np.random.default_rng(1).standard_normal((4, 6, 5))
    tx, x = torch.tensor(a, requires_grad=True), cr.tensor(a, requires_grad=True)
    ty, (th, tc) = ref(tx)
    y, (h, c) = m(x)
    for ours, theirs in ((y, ty), (h, th), (c, tc)):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    ((ty ** 2).sum() + th.sum() + (tc ** 3).sum()).backward()
    ((y ** 2).sum() + h.sum() + (c ** 3).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, tp) in zip(m.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
