"""Metrics by hand, hyper-parameter search (the degree of a polynomial chosen on validation), history files."""

import json

import numpy as np
import pytest

from chainrule.data import PolynomialFeatures, make_polynomial_regression
from chainrule.train import (
    Accuracy,
    History,
    LogUniform,
    MeanSquaredError,
    R2Score,
    accuracy,
    confusion_matrix,
    grid_search,
    log_grid,
    mse,
    r2_score,
    random_search,
)


def test_accuracy_multiclass_and_binary():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    assert accuracy(logits, y) == 0.75
    assert accuracy(np.array([[-1.0], [2.0], [0.5]]), np.array([0, 1, 0])) == pytest.approx(2 / 3)  # logits > 0
    m = Accuracy()
    m.update(logits[:3], y[:3])
    m.update(logits[3:], y[3:])
    assert m.compute() == 0.75  # batched = whole
    probs = Accuracy(from_logits=False)
    probs.update(np.array([0.4, 0.6]), np.array([0, 1]))
    assert probs.compute() == 1.0


def test_regression_metrics_by_hand():
    yhat, y = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0])
    assert mse(yhat, y) == pytest.approx(2 / 3)
    # SST = (1-3)^2 + 0 + (5-3)^2 = 8, SSE = 2
    assert r2_score(yhat, y) == pytest.approx(1 - 2 / 8)
    m, r = MeanSquaredError(), R2Score()
    for s in (slice(0, 1), slice(1, 3)):
        m.update(yhat[s], y[s])
        r.update(yhat[s], y[s])
    assert m.compute() == pytest.approx(2 / 3) and r.compute() == pytest.approx(0.75)


def test_confusion_matrix():
    C = confusion_matrix(np.array([0, 1, 1, 2, 2]), np.array([0, 1, 2, 2, 0]), 3)
    np.testing.assert_array_equal(C, [[1, 0, 1], [0, 1, 0], [0, 1, 1]])
    assert C.sum() == 5 and np.trace(C) == 3


def test_log_grid_is_the_notes_grid():
    assert log_grid(0.1, 0.001) == [0.1, 0.01, 0.001]
    np.testing.assert_allclose(log_grid(1.0, 0.01, per_decade=2), [1, 10**-0.5, 0.1, 10**-1.5, 0.01], rtol=1e-5)


def test_grid_search_recovers_polynomial_degree(capsys):
    """Notes 004: polynomial features, degree chosen on a validation set. True degree 3."""
    x, y = make_polynomial_regression(3, 230, noise=0.3, seed=0)
    xtr, ytr, xva, yva = x[:30].astype(np.float64), y[:30], x[30:].astype(np.float64), y[30:]

    def objective(degree):
        P = PolynomialFeatures(degree)
        w = np.linalg.lstsq(P.fit_transform(xtr), ytr, rcond=None)[0]  # least squares on the training part
        return {"val_loss": float(((P.transform(xva) @ w - yva) ** 2).mean()),
                "train_loss": float(((P.transform(xtr) @ w - ytr) ** 2).mean())}

    res = grid_search(objective, {"degree": list(range(1, 9))}, tolerance=0.1)
    assert res.best_params == {"degree": 3}
    table = capsys.readouterr().out
    assert "degree" in table and "val_loss" in table and table.count("\n") >= 8
    assert "* " in table
    losses = {r["degree"]: r["val_loss"] for r in res.results}
    # under-fitting degrees are worse by more than the tolerance; the true degree is near the noise floor 0.3^2
    assert min(losses[1], losses[2]) > 1.1 * losses[3]
    assert losses[3] < 0.09 * 1.5
    # ... and the training loss keeps falling with the degree (nested models)
    train = [r["train_loss"] for r in res.results]
    assert all(a >= b - 1e-9 for a, b in zip(train, train[1:]))


def test_random_search_samples_and_picks_max():
    seen = []

    def objective(lr, width):
        seen.append(lr)
        return {"val_accuracy": -abs(np.log10(lr) + 2) + width / 100}

    res = random_search(objective, {"lr": LogUniform(1e-4, 1e-1), "width": [8, 16]}, n_iter=12, seed=0,
                        monitor="val_accuracy", mode="max", verbose=False)
    assert len(res.results) == 12 and all(1e-4 <= v <= 1e-1 for v in seen)
    best = max(res.results, key=lambda r: r["val_accuracy"])
    assert res.best_params == {"lr": best["lr"], "width": best["width"]}
    with pytest.raises(ValueError, match="non-empty list"):
        grid_search(objective, {"lr": 0.1})


def test_history_csv_json(tmp_path):
    h = History()
    h.append({"epoch": 1, "loss": 1.0, "val_loss": 2.0})
    h.append({"epoch": 2, "loss": 0.5, "val_loss": 1.0})
    assert h["loss"] == [1.0, 0.5] and h.best("val_loss")["epoch"] == 2
    h.to_csv(tmp_path / "h.csv")
    h.to_json(tmp_path / "h.json")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss" and lines[2] == "2,0.5,1.0"
    assert json.loads((tmp_path / "h.json").read_text())[1]["val_loss"] == 1.0
    assert History.from_json(tmp_path / "h.json").records == h.records
