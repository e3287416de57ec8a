"""``inplace=True`` on the activations and dropouts that have it in PyTorch: the result is the
input tensor itself, holding the new values; gradients through it are the out-of-place form's
(finite differences in float64) and PyTorch's; a leaf that requires grad raises as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

# (name, in-place call, out-of-place call): functional forms and their layers
CASES = [
    ("relu6", lambda x: F.relu6(x, inplace=True), lambda x: F.relu6(x)),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2)),
    ("elu", lambda x: F.elu(x, 0.7, inplace=True), lambda x: F.elu(x, 0.7)),
    ("selu", lambda x: F.selu(x, inplace=True), lambda x: F.selu(x)),
    ("celu", lambda x: F.celu(x, 1.3, inplace=True), lambda x: F.celu(x, 1.3)),
    ("silu", lambda x: F.silu(x, inplace=True), lambda x: F.silu(x)),
    ("mish", lambda x: F.mish(x, inplace=True), lambda x: F.mish(x)),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.5, inplace=True), lambda x: F.hardtanh(x, -0.5, 0.5)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x, inplace=True), lambda x: F.hardsigmoid(x)),
    ("hardswish", lambda x: F.hardswish(x, inplace=True), lambda x: F.hardswish(x)),
    ("threshold", lambda x: F.threshold(x, 0.1, -2.0, inplace=True), lambda x: F.threshold(x, 0.1, -2.0)),
    ("rrelu_eval", lambda x: F.rrelu(x, inplace=True), lambda x: F.rrelu(x)),
    ("LeakyReLU", nn.LeakyReLU(0.2, inplace=True), nn.LeakyReLU(0.2)),
    ("ELU", nn.ELU(inplace=True), nn.ELU()),
    ("Hardtanh", nn.Hardtanh(inplace=True), nn.Hardtanh()),
    ("SiLU", nn.SiLU(inplace=True), nn.SiLU()),
    ("CELU", nn.CELU(inplace=True), nn.CELU()),
    ("Threshold", nn.Threshold(0.0, 0.5, inplace=True), nn.Threshold(0.0, 0.5)),
]


def _x(dtype=np.float64):
    # away from every kink (0, ±0.5, ±3, 6, the threshold 0.1) so that finite differences hold
    return np.array([[-3.7, -1.3, -0.2, 0.33, 0.9], [2.2, 4.1, -0.8, 1.7, 7.0]], dtype)


@pytest.mark.parametrize("name,inplace,outplace", CASES, ids=[c[0] for c in CASES])
def test_inplace_writes_into_the_input_and_differentiates_as_out_of_place(name, inplace, outplace):
    x = cr.tensor(_x())
    version = x._version
    want = outplace(cr.tensor(_x())).numpy()
    y = inplace(x)
    assert y is x and x._version > version
    np.testing.assert_array_equal(x.numpy(), want)
    # through a non-leaf: a = w * 1 is written in place; the gradient is the out-of-place one
    w = cr.tensor(_x(), requires_grad=True)
    inplace(w * 1.0).pow(2).sum().backward()
    w2 = cr.tensor(_x(), requires_grad=True)
    outplace(w2 * 1.0).pow(2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-12)
    assert cr.autograd.gradcheck(lambda t: inplace(t * 1.0), (cr.tensor(_x(), requires_grad=True),))
    with pytest.raises(RuntimeError, match="leaf"):
        inplace(cr.tensor(_x(), requires_grad=True))


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.Dropout(0.4, inplace=True), (6, 8)), (lambda: nn.Dropout1d(0.4, inplace=True), (2, 6, 8)),
    (lambda: nn.Dropout2d(0.4, inplace=True), (2, 6, 3, 3)), (lambda: nn.Dropout3d(0.4, inplace=True), (2, 6, 2, 2, 2)),
    (lambda: nn.AlphaDropout(0.4, inplace=True), (6, 8)),
    (lambda: nn.FeatureAlphaDropout(0.4, inplace=True), (2, 6, 8))])
def test_inplace_dropout_draws_the_out_of_place_mask(make, shape):
    g = np.random.default_rng(0).standard_normal(shape)
    layer, ref = make(), make()
    ref.inplace = False
    cr.manual_seed(3)
    want = ref(cr.tensor(g)).numpy()
    cr.manual_seed(3)
    x = cr.tensor(g)
    assert layer(x) is x
    np.testing.assert_array_equal(x.numpy(), want)
    layer.eval()
    assert layer(x) is x  # (identity in evaluation)


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    # (PyTorch scales CELU's input by 1/α held as a float32: its float64 gradient is ~1e-8 off the
    # exact e^(x/α), which ours matches to the last bit; hence that pair's tolerance)
    pairs = [(lambda t: F.elu(t, 0.7, inplace=True), lambda t: tF.elu(t, 0.7, inplace=True), 1e-12),
             (lambda t: F.leaky_relu(t, 0.2, inplace=True), lambda t: tF.leaky_relu(t, 0.2, inplace=True), 1e-12),
             (lambda t: F.hardswish(t, inplace=True), lambda t: tF.hardswish(t, inplace=True), 1e-12),
             (lambda t: F.celu(t, 1.3, inplace=True), lambda t: tF.celu(t, 1.3, inplace=True), 1e-6),
             (lambda t: F.threshold(t, 0.1, -2.0, inplace=True), lambda t: tF.threshold(t, 0.1, -2.0, inplace=True),
              1e-12)]
    for ours, theirs, rtol in pairs:
        w, tw = cr.tensor(_x(), requires_grad=True), torch.tensor(_x(), requires_grad=True)
        a, ta = w * 2.0, tw * 2.0
        b, tb = ours(a), theirs(ta)
        assert b is a and tb is ta
        (b * b).sum().backward()
        (tb * tb).sum().backward()
        np.testing.assert_allclose(a.detach().numpy(), ta.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=rtol)
