"""An MLP on a Heart-shaped table vs logistic regression (notes 003: the Heart data).

The notes' Heart data has numeric columns (Age, RestBP, Chol, MaxHR...), categorical
columns (ChestPain: typical / asymptomatic / nonanginal / nontypical; Thal: fixed / normal /
reversible) and a Yes/No target (AHD).  The Heart data does not ship with any install, so this
example writes a table of the same shape from a data set that does: scikit-learn's Wisconsin
breast-cancer data (569 tumours, 30 measurements of cell nuclei):

* 12 numeric columns (RadiusMean, TextureMean, ..., SymmetryWorst);
* 2 categorical columns made by binning a measurement at fixed, round thresholds (no
  statistics of the data are used, so nothing leaks from the test rows):
  Size from the worst area (small < 600 <= medium < 1000 <= large < 1600 <= very_large) and
  Shape from the worst concave points (regular < 0.1 <= irregular < 0.17 <= jagged);
  the binned measurements themselves are left out;
* the target Malignant: Yes / No (212 Yes, 357 No).

The CSV is read back with ``chainrule.data.load_csv(path, target="Malignant",
categorical=["Size", "Shape"])``, which one-hot encodes Size and Shape (7 columns), then
split into stratified train / validation / test parts; the numeric columns are standardised
with the mean and standard deviation of the training part only.  Both models train on the
same split with the same loop (Adam, binary cross-entropy on logits, mini-batches of 32,
early stopping on the validation loss):

* logistic regression: one Linear layer, p(Yes | x) = σ(wᵀx + b);
* an MLP: Linear(F, 32) -> ReLU -> Dropout(0.2) -> Linear(32, 1), with weight decay.

Run:  python -m chainrule.examples.tabular [--csv heart_shaped.csv] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC = {  # CSV column -> scikit-learn feature name
    "RadiusMean": "mean radius",
    "TextureMean": "mean texture",
    "SmoothnessMean": "mean smoothness",
    "CompactnessMean": "mean compactness",
    "ConcavityMean": "mean concavity",
    "SymmetryMean": "mean symmetry",
    "FractalDimMean": "mean fractal dimension",
    "RadiusSE": "radius error",
    "TextureWorst": "worst texture",
    "SmoothnessWorst": "worst smoothness",
    "ConcavityWorst": "worst concavity",
    "SymmetryWorst": "worst symmetry",
}
# categorical column -> (source feature, bin edges, labels): label k for edges[k-1] <= x < edges[k]
CATEGORICAL = {
    "Size": ("worst area", (600.0, 1000.0, 1600.0), ("small", "medium", "large", "very_large")),
    "Shape": ("worst concave points", (0.1, 0.17), ("regular", "irregular", "jagged")),
}
TARGET = "Malignant"


def write_heart_shaped_csv(path: str | Path) -> Path:
    """Write the breast-cancer data as a Heart-shaped CSV (numeric + categorical columns, Yes/No target).

    Deterministic: the same file every time.  Returns the path.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    col = {str(n): j for j, n in enumerate(bunch.feature_names)}
    path = Path(path)
    header = list(NUMERIC) + list(CATEGORICAL) + [TARGET]
    lines = [",".join(header)]
    for x, t in zip(bunch.data, bunch.target):
        fields = [f"{x[col[src]]:.6g}" for src in NUMERIC.values()]
        for src, edges, labels in CATEGORICAL.values():
            fields.append(labels[int(np.searchsorted(edges, x[col[src]], side="right"))])
        fields.append("Yes" if bunch.target_names[t] == "malignant" else "No")
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def _fit(model: Any, train: Any, val: Any, lr: float, weight_decay: float, epochs: int, seed: int) -> Any:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import EarlyStopping, Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    stop = EarlyStopping("val_loss", patience=20, restore_best_weights=True)
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), opt, callbacks=[stop], verbose=0)
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True, generator=cr.Generator().manual_seed(seed))
    trainer.fit(loader, DataLoader(TensorDataset(*val), batch_size=1024), epochs=epochs)
    return trainer


def run(
    csv: str | Path | None = None,
    seed: int = 0,
    hidden: int = 32,
    epochs: int = 300,
    verbose: bool = True,
) -> dict[str, Any]:
    """Write (or reuse) the CSV, load it, train logistic regression and an MLP; returns accuracies and more."""
    import chainrule as cr
    from chainrule import nn
    from chainrule.data import StandardScaler, load_csv, train_val_test_split

    say = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(csv) if csv is not None else Path(tmp) / "heart_shaped.csv"
        if csv is None or not path.exists():
            write_heart_shaped_csv(path)
        say(f"table {path.name}: " + " | ".join(path.read_text().splitlines()[:3]))
        table = load_csv(path, target=TARGET, categorical=list(CATEGORICAL))
    X, y = table.X, table.y
    say(f"loaded X {tuple(X.shape)} (features {table.feature_names}), classes {table.classes} "
        f"({int((y == 1).sum())} Yes, {int((y == 0).sum())} No)")
    Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(X, y, val_size=0.15, test_size=0.2, stratify=y, seed=seed)
    numeric = [j for j, n in enumerate(table.feature_names) if n in NUMERIC]
    scaler = StandardScaler().fit(Xtr[:, numeric])  # training statistics only
    for part in (Xtr, Xva, Xte):
        part[:, numeric] = scaler.transform(part[:, numeric])
    splits = {k: (a.astype(np.float32), b.astype(np.float32)) for k, a, b in
              (("train", Xtr, ytr), ("val", Xva, yva), ("test", Xte, yte))}
    say(f"split: train {len(ytr)}, val {len(yva)}, test {len(yte)}; numeric columns standardised "
        "with the training mean/std")

    F = X.shape[1]
    out: dict[str, Any] = {"feature_names": table.feature_names, "classes": table.classes,
                           "n": {k: len(v[1]) for k, v in splits.items()}}
    cr.manual_seed(seed)
    models = {
        "logistic": (nn.Linear(F, 1), 1e-2, 0.0),
        "mlp": (nn.Sequential(nn.Linear(F, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1)), 3e-3, 1e-3),
    }
    say(f"{'model':9} {'params':>6} {'epochs':>6} {'train acc':>9} {'val acc':>8} {'test acc':>8}")
    for name, (model, lr, wd) in models.items():
        trainer = _fit(model, splits["train"], splits["val"], lr, wd, epochs, seed)
        acc = {}
        for part, (Xp, yp) in splits.items():
            pred = (trainer.predict(Xp).reshape(-1) > 0).astype(np.float32)
            acc[part] = float((pred == yp).mean())
        out[name] = {"accuracy": acc, "epochs": trainer.epoch, "params": model.num_parameters(), "model": model}
        say(f"{name:9} {model.num_parameters():>6} {trainer.epoch:>6} {acc['train']:>9.3f} {acc['val']:>8.3f} "
            f"{acc['test']:>8.3f}")
    out["majority_test_accuracy"] = float(max(yte.mean(), 1 - yte.mean()))
    out["seconds"] = time.perf_counter() - t0
    say(f"always predicting the majority class: test accuracy {out['majority_test_accuracy']:.3f}; "
        f"{out['seconds']:.1f} s")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.tabular", description=__doc__.split("\n")[0])
    p.add_argument("--csv", default=None, help="where to write (or read, if it exists) the Heart-shaped CSV")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=300)
    a = p.parse_args(argv)
    return run(csv=a.csv, seed=a.seed, hidden=a.hidden, epochs=a.epochs)


if __name__ == "__main__":
    main()
