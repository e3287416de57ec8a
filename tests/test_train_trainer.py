"""The Trainer on real problems (XOR, breast cancer), early stopping, schedulers and clipping."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import load_dataset, make_xor
from chainrule.models import mlp
from chainrule.train import EarlyStopping, LambdaCallback, Trainer
from chainrule.utils.data import DataLoader, Generator, TensorDataset


def test_xor_learned_by_2_4_1_network():
    """Notes 000/004: XOR is not linearly separable, a 2-4-1 network learns it (100% on the table).

    A tanh 2-4-1 net ends in a poor local minimum from a few percent of random initialisations
    (the notes' non-convexity), which is why the seed is fixed.
    """
    cr.manual_seed(0)
    X, y = make_xor()
    model = mlp(2, 1, hidden=[4], activation_name="tanh")
    loader = DataLoader(TensorDataset(X, y.astype(np.float32)), batch_size=4)
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.05), verbose=0)
    trainer.fit(loader, epochs=300)
    assert trainer.history["accuracy"][-1] == 1.0
    logits = trainer.predict(X).reshape(-1)
    assert ((logits > 0).astype(int) == y).all()
    assert trainer.history["loss"][-1] < 0.1  # mean BCE well below log 2 = 0.69 (chance)


@pytest.mark.slow
def test_breast_cancer_mlp_at_least_95_percent():
    pytest.importorskip("sklearn")
    cr.manual_seed(0)
    d = load_dataset("breast_cancer", seed=0)
    model = mlp(30, 2, hidden=[32])
    train = DataLoader(d.train.dataset(), batch_size=32, shuffle=True, generator=Generator().manual_seed(0))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), verbose=0)
    trainer.fit(train, DataLoader(d.val.dataset(), batch_size=256), epochs=30)
    test = trainer.evaluate(DataLoader(d.test.dataset(), batch_size=256))
    assert test["accuracy"] >= 0.95
    assert set(trainer.history.keys()) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}


def _diverging_regression():
    """Train targets y = 2x, validation targets y = x: from w = 0 gradient descent walks w to 2,
    so the validation loss (w - 1)^2 E[x^2] falls until w passes 1 and rises after."""
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(-1, 1)
    train = DataLoader(TensorDataset(x, 2 * x), batch_size=32)
    val = DataLoader(TensorDataset(x, x), batch_size=32)
    model = nn.Linear(1, 1, bias=False)
    with cr.no_grad():
        model.weight._array[...] = 0.0
    return model, train, val


def test_early_stopping_stops_and_restores_best_weights():
    model, train, val = _diverging_regression()
    weights = {}
    record = LambdaCallback(on_epoch_end=lambda t, e, logs: weights.__setitem__(e, float(t.model.weight._array[0, 0])))
    es = EarlyStopping("val_loss", patience=3)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.3), callbacks=[es, record], verbose=0)
    trainer.fit(train, val, epochs=100)
    val_losses = trainer.history["val_loss"]
    best = int(np.argmin(val_losses)) + 1
    assert es.best_epoch == best
    assert es.stopped_epoch == best + 3 == trainer.epoch < 100  # stopped patience epochs after the best
    assert abs(weights[best] - 1.0) < abs(weights[best + 1] - 1.0)  # the best w is the one closest to 1
    assert float(model.weight._array[0, 0]) == weights[best]  # restored exactly
    assert trainer.evaluate(val)["loss"] == pytest.approx(min(val_losses), rel=1e-6)


def test_plateau_scheduler_gets_val_loss_and_lr_is_logged():
    model, train, val = _diverging_regression()
    opt = optim.SGD(model.parameters(), lr=0.3)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    trainer = Trainer(model, nn.MSELoss(), opt, scheduler=sched, verbose=0)
    trainer.fit(train, val, epochs=12)
    lrs = trainer.history["lr"]
    assert lrs[0] == 0.3 and lrs[-1] < 0.3  # the validation loss rose, so the lr was halved
    assert all(b in (a, a * 0.5) for a, b in zip(lrs, lrs[1:]))


def test_grad_clip_bounds_the_step():
    """One SGD step with lr 1 and clipping to norm c moves the weights by exactly c (gradient norm > c)."""
    model = nn.Linear(2, 1)
    x = np.array([[10.0, 10.0]], dtype=np.float32)
    before = np.concatenate([p._array.ravel().copy() for p in model.parameters()])
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.0), grad_clip=0.5, verbose=0)
    trainer.fit(DataLoader(TensorDataset(x, np.array([[100.0]], dtype=np.float32)), batch_size=1), epochs=1)
    after = np.concatenate([p._array.ravel() for p in model.parameters()])
    assert np.linalg.norm(after - before) == pytest.approx(0.5, rel=1e-5)
    assert trainer.last_grad_norm > 0.5


def test_regression_metrics_and_target_alignment():
    """y of shape (N,) against output (N, 1) must not broadcast to (N, N)."""
    cr.manual_seed(0)
    x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(-1, 1)
    y = (3 * x[:, 0] - 1).astype(np.float32)
    model = nn.Linear(1, 1)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.5), verbose=0)
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=40), epochs=200)
    res = trainer.evaluate(DataLoader(TensorDataset(x, y), batch_size=40))
    assert res["mse"] < 1e-6 and res["r2"] > 0.999999
    np.testing.assert_allclose([model.weight.item(), model.bias.item()], [3.0, -1.0], atol=1e-3)


def test_nan_loss_raises_clear_error():
    model = nn.Linear(1, 1)
    x = np.array([[np.nan]], dtype=np.float32)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), verbose=0)
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1"):
        trainer.fit(DataLoader(TensorDataset(x, x), batch_size=1), epochs=1)


@pytest.mark.parametrize("where", ["after_draw", "mid_close"])
def test_an_interrupt_inside_the_progress_bar_still_ends_its_line(monkeypatch, capsys, where):
    """Ctrl-C can land inside tqdm (after it drew a bar, before the trainer holds it, or in its close):
    whatever the trainer prints next must start on a new line."""
    import tqdm.std

    x = cr.tensor(np.zeros((8, 2), np.float32))
    y = cr.tensor(np.zeros(8, np.int64))
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    model = nn.Linear(2, 2)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), verbose=1)
    original_init, original_close = tqdm.std.tqdm.__init__, tqdm.std.tqdm.close
    calls = {"n": 0}

    def init_then_interrupt(self, *a, **k):
        original_init(self, *a, **k)
        calls["n"] += 1
        if where == "after_draw" and calls["n"] == 2:  # the second epoch's bar is drawn, then Ctrl-C
            raise KeyboardInterrupt

    def close_interrupted(self):
        if where == "mid_close" and not self.disable:
            self.display()  # the bar redrawn mid-line, then Ctrl-C before close writes its newline
            self.disable = True
            raise KeyboardInterrupt
        original_close(self)

    monkeypatch.setattr(tqdm.std.tqdm, "__init__", init_then_interrupt)
    monkeypatch.setattr(tqdm.std.tqdm, "close", close_interrupted)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader, epochs=3)
    err = capsys.readouterr().err
    assert "epoch" in err and err.endswith("\n"), repr(err[-200:])
