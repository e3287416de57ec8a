"""Plots for training diagnostics, written as PNG files with matplotlib's Agg back end.

* ``plot_history``: training/validation curves (loss and each metric, one panel each);
* ``plot_decision_boundary``: the class regions of a 2-D classifier with the data on top;
* ``plot_histograms``: one histogram per layer (activations or gradients);
* ``plot_confusion_matrix``: counts C[true, predicted] with the numbers in the cells;
* ``plot_series``: per-layer curves over epochs (e.g. gradient norms, dead fractions).

matplotlib is optional (``pip install matplotlib``); it is imported only when a plot is drawn.
Every function returns the path written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("chainrule.plot needs matplotlib: pip install matplotlib (or 'chainrule[plot]')") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    _plt().close(fig)
    return path


def plot_history(history: Any, path: str | Path, title: str | None = None) -> Path:
    """Curves of every recorded quantity with a ``val_`` twin on the same panel (loss, accuracy, ...).

    ``history`` is a ``Trainer`` History, a list of per-epoch dicts, or a dict of lists.
    """
    plt = _plt()
    if hasattr(history, "records"):
        history = history.records
    if isinstance(history, Mapping):
        series = {k: list(v) for k, v in history.items()}
    else:
        keys = list(dict.fromkeys(k for r in history for k in r))
        series = {k: [r.get(k, np.nan) for r in history] for k in keys}
    base = [k for k in series if not k.startswith("val_") and k not in ("epoch", "time", "lr")]
    base += [k[4:] for k in series if k.startswith("val_") and k[4:] not in series]
    if not base:
        raise ValueError(f"plot_history: nothing to plot in {sorted(series)}")
    epochs = series.get("epoch") or list(range(1, len(next(iter(series.values()))) + 1))
    fig, axes = plt.subplots(1, len(base), figsize=(4.5 * len(base), 3.5), squeeze=False)
    for ax, k in zip(axes[0], base):
        if k in series:
            ax.plot(epochs, series[k], marker=".", label=f"train {k}")
        if f"val_{k}" in series:
            ax.plot(epochs, series[f"val_{k}"], marker=".", label=f"validation {k}")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(k)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_decision_boundary(
    predict: Any, X: Any, y: Any, path: str | Path, resolution: int = 200, margin: float = 0.5, title: str | None = None
) -> Path:
    """Colour the plane by predicted class and scatter the data (X (N, 2), y (N,)).

    ``predict`` is a model (called on a (G, 2) float32 Tensor, returning logits (G, C) or
    scores (G,)/(G, 1)) or any function from a (G, 2) array to class labels.
    """
    from chainrule.autograd.grad_mode import no_grad
    from chainrule.autograd.tensor import Tensor
    from chainrule.train.metrics import predict_classes

    plt = _plt()
    X = np.asarray(getattr(X, "data", X), dtype=np.float64)
    y = np.asarray(getattr(y, "data", y)).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: X must have shape (N, 2), got {X.shape}")
    lo, hi = X.min(0) - margin, X.max(0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    if hasattr(predict, "parameters"):
        was = getattr(predict, "training", False)
        predict.eval()
        with no_grad():
            out = predict(Tensor._wrap(grid))
        predict.train(was)
        labels = predict_classes(out)
    else:
        labels = np.asarray(predict(grid))
    zz = np.asarray(labels).astype(np.float64).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, zz, alpha=0.3, cmap="coolwarm", levels=np.arange(zz.max() + 2) - 0.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=20)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_histograms(values: Mapping[str, Any], path: str | Path, bins: int = 40, title: str | None = None,
                    log: bool = False) -> Path:
    """One histogram per entry of ``values`` ({layer name: array}), side by side."""
    plt = _plt()
    items = [(k, np.asarray(getattr(v, "data", v), dtype=np.float64).ravel()) for k, v in values.items()]
    if not items:
        raise ValueError("plot_histograms: no values to plot")
    fig, axes = plt.subplots(1, len(items), figsize=(3.5 * len(items), 3), squeeze=False)
    for ax, (k, v) in zip(axes[0], items):
        ax.hist(v[np.isfinite(v)], bins=bins, color="tab:blue", alpha=0.8, log=log)
        ax.set_title(f"{k}\nmean {v.mean():.3g}, std {v.std():.3g}", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_series(series: Mapping[str, Sequence[float]], path: str | Path, ylabel: str = "",
                logy: bool = False, title: str | None = None) -> Path:
    """Several curves over epochs on one panel, e.g. {layer: gradient norm per epoch}."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for k, v in series.items():
        ax.plot(range(1, len(v) + 1), list(v), marker=".", label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_confusion_matrix(
    cm: Any, path: str | Path, labels: Sequence[str] | None = None, title: str | None = None
) -> Path:
    """C[true, predicted] as an image with the count in each cell."""
    plt = _plt()
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    labels = [str(i) for i in range(k)] if labels is None else [str(s) for s in labels]
    fig, ax = plt.subplots(figsize=(0.5 * k + 2.5, 0.5 * k + 2))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, path)
