"""Regularisation (notes 004, "Generalization"): dropout, weight decay, early stopping, batch norm, double descent.

Four short experiments on the 8×8 digits, flattened to 64 inputs, with only ``n_train``
(default 200) training examples so that a 64-256-256-10 ReLU MLP can overfit (validation:
the 270 examples of the usual validation split).  Each pair differs in one thing only: the
same seed, initial weights, mini-batch order and optimiser settings otherwise.

* dropout on/off: Dropout(0.5) after each hidden layer (the notes: "randomly deactivate
  neurons during training with probability p"; PyTorch's inverted dropout scales the kept
  units by 1/(1-p) during training, so nothing is rescaled at test time);
* weight decay on/off: SGD with momentum and the L² penalty λ/2 ‖W‖², i.e. the notes'
  update W ← (1 - αλ) W - α ∂E/∂W (``SGD(weight_decay=λ)``); prints ‖W‖ at the end;
* early stopping: the unregularised run watched by ``EarlyStopping(patience)``, which stops
  when the validation loss has not improved for ``patience`` epochs and restores the best
  weights: the validation error at the stop vs at the end of the full run;
* batch norm on/off: a deeper sigmoid MLP (4 hidden layers of 128) trained by plain SGD;
  BatchNorm1d before each activation makes it train much faster (the notes: normalise
  each unit over the mini-batch, then scale and shift by γ, β).

Then double descent with random features (no training loop, pure least squares): the
regression target y = 3 tanh(wᵀx / 3) + noise (D = 10, N = 100 training points), features
φ(x) = ReLU(V x)/√P with P random rows of V, and the minimum-norm least-squares fit w = φ⁺ y.
The test error rises as P approaches N (the interpolation threshold, where the fit must pass
through every noisy point with a nearly singular φ), peaks near P = N, and falls again as P
grows beyond it (the second descent); a small ridge penalty λ removes the peak, as the notes
say explicit regularisation does.

Run:  python -m chainrule.examples.regularization [--epochs 150] [--plot DIR] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- double descent


def teacher_data(n_train: int = 100, n_test: int = 1000, dim: int = 10, noise: float = 0.3,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """y = 3 tanh(wᵀx / 3) + noise·N(0, 1) with x ~ N(0, I_dim); the test targets are noiseless."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(dim)
    Xtr, Xte = rng.standard_normal((n_train, dim)), rng.standard_normal((n_test, dim))
    f = lambda X: 3 * np.tanh(X @ w / 3)  # noqa: E731
    return Xtr, f(Xtr) + noise * rng.standard_normal(n_train), Xte, f(Xte)


def feature_grid(n_train: int, top: float = 20.0) -> list[int]:
    """Numbers of random features: a log grid from n/10 to top·n, dense around the threshold P = n."""
    grid = np.unique(np.concatenate([
        np.geomspace(max(1, n_train // 10), top * n_train, 25),
        n_train * np.array([0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25, 1.5]),
        [10 * n_train],
    ]).round().astype(int))
    return [int(p) for p in grid]


def double_descent(
    n_train: int = 100,
    n_features: Sequence[int] | None = None,
    seeds: Sequence[int] = range(5),
    ridge: float = 0.0,
    data_seed: int = 0,
) -> dict[str, Any]:
    """Mean train/test MSE of min-norm random-features regression against P, over feature seeds.

    Returns {"P": array, "train": array, "test": array, "n_train": n_train, "ridge": ridge}.
    """
    from chainrule.models.regression import random_features_regression

    Ps = list(n_features) if n_features is not None else feature_grid(n_train)
    Xtr, ytr, Xte, yte = teacher_data(n_train, seed=data_seed)
    train, test = np.zeros(len(Ps)), np.zeros(len(Ps))
    for s in seeds:
        res = random_features_regression(Xtr, ytr, Xte, yte, Ps, seed=int(s), ridge=ridge)
        train += np.array([res[P][0] for P in Ps]) / len(seeds)
        test += np.array([res[P][1] for P in Ps]) / len(seeds)
    return {"P": np.array(Ps), "train": train, "test": test, "n_train": n_train, "ridge": ridge}


# ----------------------------------------------------------------------------- MLP experiments


def small_digits(n_train: int = 200, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The first ``n_train`` examples of the (shuffled, stratified) digits training split, flattened."""
    from chainrule.data import load_dataset

    d = load_dataset("digits", flatten=True, seed=seed)
    return {"train": (d.train.X[:n_train], d.train.y[:n_train]), "val": (d.val.X, d.val.y),
            "test": (d.test.X, d.test.y)}


def weight_norm(model: Any) -> float:
    """‖W‖ over the weight matrices of the Linear layers (biases and BatchNorm's γ, β left out)."""
    from chainrule import nn

    sq = sum(float((m.weight.detach().numpy().astype(np.float64) ** 2).sum())
             for m in model.modules() if isinstance(m, nn.Linear))
    return float(np.sqrt(sq))


def train_mlp(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    hidden: Sequence[int] = (256, 256),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    epochs: int = 150,
    early_stopping: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``models.mlp`` on data['train'] with validation on data['val'].

    Returns the history lists (train loss, val loss, val error per epoch), the final val/test
    error, ‖W‖, the epochs run and (with early stopping) the best epoch.
    """
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.models import mlp
    from chainrule.train import EarlyStopping, Trainer, accuracy
    from chainrule.utils.data import DataLoader, TensorDataset

    cr.manual_seed(seed)
    model = mlp(data["train"][0].shape[1], 10, hidden=hidden, activation_name=activation, dropout=dropout,
                batch_norm=batch_norm)
    if optimizer == "adam":
        opt: optim.Optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    elif optimizer == "plain_sgd":
        opt = optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"train_mlp: optimizer must be 'adam', 'sgd' or 'plain_sgd', got {optimizer!r}")
    callbacks = [EarlyStopping("val_loss", patience=early_stopping)] if early_stopping is not None else []
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, verbose=0)
    loader = DataLoader(TensorDataset(*data["train"]), batch_size=32, shuffle=True,
                        generator=cr.Generator().manual_seed(seed))
    val = DataLoader(TensorDataset(*data["val"]), batch_size=1024)
    h = trainer.fit(loader, val, epochs=epochs)
    err = {k: 1.0 - accuracy(trainer.predict(X), y) for k, (X, y) in data.items()}
    out = {"loss": h["loss"], "val_loss": h["val_loss"], "val_error": [1 - a for a in h["val_accuracy"]],
           "error": err, "weight_norm": weight_norm(model), "epochs": trainer.epoch, "model": model}
    if early_stopping is not None:
        out["best_epoch"] = callbacks[0].best_epoch
    return out


EXPERIMENTS: dict[str, tuple[str, dict[str, Any]]] = {  # key: (label, train_mlp options besides epochs and seed)
    "plain": ("no regularisation (Adam)", {}),
    "dropout": ("dropout 0.5 (Adam)", {"dropout": 0.5}),
    "sgd": ("SGD+momentum, no weight decay", {"optimizer": "sgd", "lr": 0.02}),
    "sgd_wd": ("SGD+momentum, weight decay 5e-3", {"optimizer": "sgd", "lr": 0.02, "weight_decay": 5e-3}),
    "early": ("early stopping, patience 10 (Adam)", {"early_stopping": 10}),
    "deep": ("4x128 sigmoid MLP, plain SGD", {"hidden": (128,) * 4, "activation": "sigmoid",
                                               "optimizer": "plain_sgd", "lr": 0.05}),
    "deep_bn": ("  the same + batch norm", {"hidden": (128,) * 4, "activation": "sigmoid",
                                            "optimizer": "plain_sgd", "lr": 0.05, "batch_norm": True}),
}


def run(
    epochs: int = 150,
    n_train: int = 200,
    seeds: int = 3,
    plot: str | None = None,
    quick: bool = False,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run every experiment with model seeds 0..seeds-1 (same data split); returns per-run results
    (``res[key]`` is the list over seeds), the means (``res['mean'][key]``) and the double-descent curves."""
    say = print if verbose else (lambda *a, **k: None)
    if quick:
        epochs, seeds = min(epochs, 40), 1
    t0 = time.perf_counter()
    data = small_digits(n_train)
    say(f"digits, flattened: {n_train} training examples, {len(data['val'][1])} validation, "
        f"{len(data['test'][1])} test; MLP 64-256-256-10 unless stated, {epochs} epochs (deep nets {epochs // 3}), "
        f"batches of 32; means over {seeds} seed(s)")
    res: dict[str, Any] = {"mean": {}}
    for key, (_, opts) in EXPERIMENTS.items():
        n_epochs = max(10, epochs // 3) if key.startswith("deep") else epochs
        runs = [train_mlp(data, epochs=n_epochs, seed=s, **opts) for s in range(seeds)]
        res[key] = runs
        res["mean"][key] = {
            "train_err": float(np.mean([r["error"]["train"] for r in runs])),
            "val_err": float(np.mean([r["error"]["val"] for r in runs])),
            "test_err": float(np.mean([r["error"]["test"] for r in runs])),
            "val_loss": float(np.mean([r["val_loss"][-1] for r in runs])),  # at the last epoch
            "weight_norm": float(np.mean([r["weight_norm"] for r in runs])),
            "epochs": float(np.mean([r["epochs"] for r in runs])),
        }
        if key == "early":  # the restored weights are those of the best epoch
            res["mean"][key]["val_loss"] = float(np.mean([min(r["val_loss"]) for r in runs]))
    res["mlp_seconds"] = time.perf_counter() - t0

    say(f"\n{'experiment':36} {'train err':>9} {'val err':>8} {'test err':>8} {'val loss':>8} {'‖W‖':>7} "
        f"{'epochs':>6}")
    for key, (label, _) in EXPERIMENTS.items():
        m = res["mean"][key]
        say(f"{label:36} {m['train_err']:>9.3f} {m['val_err']:>8.3f} {m['test_err']:>8.3f} {m['val_loss']:>8.3f} "
            f"{m['weight_norm']:>7.2f} {m['epochs']:>6.0f}")
    e = res["early"][0]
    say(f"early stopping (seed 0): stopped after epoch {e['epochs']}, restored epoch {e['best_epoch']} "
        f"(val loss {min(e['val_loss']):.3f}; the full run ends at val loss {res['plain'][0]['val_loss'][-1]:.3f})")
    k = min(5, len(res["deep"][0]["loss"])) - 1
    say(f"batch norm: mean training loss after {k + 1} epochs {np.mean([r['loss'][k] for r in res['deep']]):.3f} "
        f"without, {np.mean([r['loss'][k] for r in res['deep_bn']]):.3f} with")

    t = time.perf_counter()
    draws = range(3) if quick else range(10)
    dd = double_descent(100, seeds=draws)
    dd_ridge = double_descent(100, n_features=dd["P"], seeds=draws, ridge=1e-2)
    res["double_descent"], res["double_descent_ridge"] = dd, dd_ridge
    res["dd_seconds"] = time.perf_counter() - t
    peak = int(dd["P"][np.argmax(dd["test"])])
    say(f"\ndouble descent: random ReLU features, min-norm least squares, N = {dd['n_train']} training points, "
        f"mean over {len(draws)} feature draws")
    say(f"{'P':>6} {'P/N':>6} {'train MSE':>10} {'test MSE':>9} {'ridge 1e-2':>10}")
    for i, P in enumerate(dd["P"]):
        if i % 2 == 0 or P in (peak, 10 * dd["n_train"]):
            say(f"{P:>6} {P / dd['n_train']:>6.2f} {dd['train'][i]:>10.4f} {dd['test'][i]:>9.4f} "
                f"{dd_ridge['test'][i]:>10.4f}")
    say(f"test error peaks at P = {peak} (N = {dd['n_train']}): {dd['test'].max():.3f}; "
        f"at P = 10 N: {dd['test'][list(dd['P']).index(10 * dd['n_train'])]:.3f}")
    res["peak_P"] = peak
    res["seconds"] = time.perf_counter() - t0
    say(f"{res['seconds']:.1f} s (MLP experiments {res['mlp_seconds']:.1f} s, "
        f"double descent {res['dd_seconds']:.1f} s)")
    if plot:
        for path in make_plots(res, plot):
            say(f"saved {path}")
    return res


def make_plots(res: dict[str, Any], directory: str) -> list[str]:
    """regularization.png (four training-curve panels) and double_descent.png in ``directory``."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    def mean_curve(key: str, what: str) -> np.ndarray:
        return np.mean([r[what] for r in res[key]], axis=0)

    m = res["mean"]
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    for key, label in (("plain", "no dropout"), ("dropout", "dropout 0.5")):
        ax[0].plot(mean_curve(key, "val_loss"), label=f"{label} (val error {m[key]['val_err']:.3f})")
    ax[0].set(title="dropout (Adam)", xlabel="epoch", ylabel="validation loss")
    for key, label in (("sgd", "no weight decay"), ("sgd_wd", "weight decay 5e-3")):
        ax[1].plot(mean_curve(key, "val_loss"), label=f"{label} (‖W‖ {m[key]['weight_norm']:.1f})")
    ax[1].set(title="weight decay (SGD + momentum)", xlabel="epoch", ylabel="validation loss")
    ax[2].plot(res["plain"][0]["val_loss"], label="validation loss, full run")
    ax[2].plot(res["plain"][0]["loss"], label="training loss", alpha=0.7)
    e = res["early"][0]
    ax[2].axvline(e["epochs"] - 1, color="k", ls="--", label=f"early stop (epoch {e['epochs']})")
    ax[2].axvline(e["best_epoch"] - 1, color="gray", ls=":", label=f"restored best (epoch {e['best_epoch']})")
    ax[2].set(title="early stopping (patience 10, seed 0)", xlabel="epoch", ylabel="cross-entropy", yscale="log")
    for key, label in (("deep", "no batch norm"), ("deep_bn", "batch norm")):
        ax[3].plot(mean_curve(key, "loss"), label=label)
    ax[3].set(title="batch norm (4x128 sigmoid, plain SGD)", xlabel="epoch", ylabel="training loss")
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    p1 = d / "regularization.png"
    fig.savefig(p1, dpi=80)
    plt.close(fig)

    dd, ddr = res["double_descent"], res["double_descent_ridge"]
    fig, a = plt.subplots(figsize=(6, 4))
    a.loglog(dd["P"], dd["test"], "o-", ms=3, label="test MSE, min-norm (ridge 0)")
    a.loglog(dd["P"], np.maximum(dd["train"], 1e-6), "s-", ms=2, alpha=0.6, label="train MSE (floored at 1e-6)")
    a.loglog(ddr["P"], ddr["test"], "^-", ms=3, label=f"test MSE, ridge {ddr['ridge']:g}")
    a.axvline(dd["n_train"], color="k", ls="--", label=f"interpolation threshold P = N = {dd['n_train']}")
    a.set(xlabel="number of random ReLU features P", ylabel="mean squared error", title="double descent")
    a.legend(fontsize=8)
    fig.tight_layout()
    p2 = d / "double_descent.png"
    fig.savefig(p2, dpi=80)
    plt.close(fig)
    return [str(p1), str(p2)]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.regularization", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--seeds", type=int, default=3, help="model seeds to average over")
    p.add_argument("--plot", default=None, metavar="DIR", help="save regularization.png and double_descent.png here")
    p.add_argument("--quick", action="store_true", help="40 epochs, 1 seed and 3 feature draws")
    a = p.parse_args(argv)
    return run(epochs=a.epochs, n_train=a.n_train, seeds=a.seeds, plot=a.plot, quick=a.quick)


if __name__ == "__main__":
    main()
