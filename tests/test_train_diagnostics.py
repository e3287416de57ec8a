"""Diagnostics (dead/saturated units, gradient norms, warnings), the empirical NTK, ensembles."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.train import (
    ActivationMonitor,
    DiagnosticWarning,
    GradientMonitor,
    Trainer,
    activation_statistics,
    empirical_ntk,
)
from chainrule.train.ensemble import Ensemble
from chainrule.utils.data import DataLoader, TensorDataset


def test_activation_statistics_by_hand():
    out = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])  # unit 0 never active
    assert activation_statistics(out, "relu")["dead"] == pytest.approx(1 / 3)
    s = np.array([[0.005, 0.5], [0.995, 0.2]])
    assert activation_statistics(s, "sigmoid")["saturated"] == 0.5
    t = np.array([[0.999, -0.9995, 0.1, 0.0]])
    assert activation_statistics(t, "tanh")["saturated"] == 0.5


def test_dead_relu_layer_is_reported_and_warned():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Sigmoid())
    with cr.no_grad():
        model[0].bias.data[...] = np.array([-100.0, -100.0, -100.0, 100.0])  # 3 of 4 units can never fire
        model[2].weight.data[...] = 50.0  # sigmoid of about +-5000: saturated
    x = cr.tensor(np.random.default_rng(0).uniform(-1, 1, (16, 3)).astype(np.float32))
    with ActivationMonitor(model) as mon:
        model(x)
    summary = mon.summary()
    assert summary["1"]["dead"] == 0.75
    assert summary["3"]["saturated"] == 1.0
    with pytest.warns(DiagnosticWarning, match="'1': 75% of ReLU units are dead"):
        mon.check()
    assert mon.samples["1"].size == 16 * 4
    # hooks are removed on exit: no more recording
    n = len(mon.batches["1"])
    model(x)
    assert len(mon.batches["1"]) == n


def test_gradient_monitor_norm_by_hand_and_exploding_warning():
    """L = (w x + b - y)^2 with w = b = 0, x = 1, y = 1: dL/dw = dL/db = -2, layer norm sqrt(8)."""
    model = nn.Sequential(nn.Linear(1, 1))
    with cr.no_grad():
        model[0].weight.data[...] = 0.0
        model[0].bias.data[...] = 0.0
    mon = GradientMonitor(model, exploding=2.0)
    one = np.ones((1, 1), dtype=np.float32)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.0), callbacks=[mon], verbose=0)
    with pytest.warns(DiagnosticWarning, match="layer '0': gradient norm 2.83e\\+00 > 2 \\(exploding"):
        trainer.fit(DataLoader(TensorDataset(one, one), batch_size=1), epochs=1)
    assert mon.history["0"] == [pytest.approx(np.sqrt(8.0))]


def test_activation_monitor_as_callback_records_epochs():
    cr.manual_seed(0)
    X = np.random.default_rng(1).standard_normal((32, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    mon = ActivationMonitor(model)
    Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), callbacks=[mon],
            verbose=0).fit(DataLoader(TensorDataset(X, y), batch_size=8), epochs=3)
    assert [r["epoch"] for r in mon.history["1"]] == [1, 2, 3]
    assert 0.0 <= mon.history["1"][-1]["saturated"] <= 1.0


def test_ntk_of_a_linear_model_is_x_dot_x_plus_one():
    """f(x) = w . x + b: J(x) = [x, 1], so Theta(x, x') = x . x' + 1 (for every output: K outputs,
    Theta[n, m, k, l] = delta_kl (x_n . x'_m + 1))."""
    x1 = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]], dtype=np.float32)
    x2 = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    expected = x1.astype(np.float64) @ x2.T + 1.0
    theta = empirical_ntk(nn.Linear(3, 1), x1, x2, mode="trace")
    np.testing.assert_allclose(theta, expected, rtol=1e-6)
    full = empirical_ntk(nn.Linear(3, 2), x1, x2)
    assert full.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(full[:, :, 0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(full[:, :, 0, 1], 0.0, atol=1e-12)
    gram = empirical_ntk(nn.Linear(3, 1), x1, mode="trace")
    np.testing.assert_allclose(gram, gram.T)  # symmetric, positive semi-definite
    assert np.linalg.eigvalsh(gram).min() >= -1e-9


def test_ntk_of_a_two_layer_net_is_psd():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    K = empirical_ntk(net, x, mode="trace")
    np.testing.assert_allclose(K, K.T, rtol=1e-6, atol=1e-9)
    assert np.linalg.eigvalsh(K).min() > -1e-6


def test_ensemble_averages_independent_models():
    ens = Ensemble.from_builder(lambda: nn.Linear(3, 2), n=3, seed=0)
    w = [m.weight.detach().numpy() for m in ens.members]
    assert not np.allclose(w[0], w[1]) and not np.allclose(w[1], w[2])  # independently initialised
    x = cr.tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    outs = np.stack([m(x).detach().numpy() for m in ens.members])
    np.testing.assert_allclose(ens(x).detach().numpy(), outs.mean(0), rtol=1e-6)
    probs = Ensemble(ens.members, average="probs")(x).detach().numpy()
    e = np.exp(outs - outs.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, (e / e.sum(-1, keepdims=True)).mean(0), rtol=1e-5)
    assert len(list(ens.parameters())) == 6  # 3 x (weight, bias)
