"""Plots for training diagnostics, written as PNG files with matplotlib's Agg back end.

* ``plot_history``: training/validation curves (loss and each metric, one panel each);
* ``plot_decision_boundary``: the class regions of a 2-D classifier with the data on top;
* ``plot_histograms``: one histogram per layer (activations or gradients);
* ``plot_confusion_matrix``: counts C[true, predicted] with the numbers in the cells;
* ``plot_series``: per-layer curves over epochs (e.g. gradient norms, dead fractions);
* ``plot_predictions``: a regression's predicted against true values;
* ``layer_labels``: readable layer names ("1: Linear 10→64") for the labels of these figures.

``history_figure``, ``histograms_figure`` and ``series_figure`` return the unsaved Figure.

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


DECADES_FOR_LOG = 2.0  # a positive curve spanning more than this many powers of ten gets a log axis


def _spans_decades(values: Sequence[Sequence[float]], decades: float = DECADES_FOR_LOG) -> bool:
    """True when all finite values are positive and max / min > 10^decades (a log axis shows them better)."""
    v = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in values]) if values else np.zeros(0)
    v = v[np.isfinite(v)]
    return bool(v.size and (v > 0).all() and v.max() / v.min() > 10.0**decades)


def _integer_epochs(ax: Any) -> None:
    """Epoch ticks at whole numbers only (no 'epoch 2.5')."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def history_figure(history: Any, title: str | None = None, ylabels: Mapping[str, str] | None = None,
                   best_epoch: int | None = None) -> Any:
    """The matplotlib Figure of :func:`plot_history` (not saved; for inspection or further drawing)."""
    plt = _plt()
    if hasattr(history, "records"):
        history = history.records
    if isinstance(history, Mapping):
        series = {k: list(v) for k, v in history.items()}
    else:
        keys = list(dict.fromkeys(k for r in history for k in r))
        series = {k: [r.get(k, np.nan) for r in history] for k in keys}
    base = [k for k in series if not k.startswith("val_") and k not in ("epoch", "time", "lr")]
    base += [k[4:] for k in series if k.startswith("val_") and k[4:] not in series and k[4:] not in base]
    if not base:
        raise ValueError(f"plot_history: nothing to plot in {sorted(series)}")
    base = _distinct_panels(base, series)
    epochs = series.get("epoch") or list(range(1, len(next(iter(series.values()))) + 1))
    ylabels = dict(ylabels or {})
    fig, axes = plt.subplots(1, len(base), figsize=(4.5 * len(base), 3.5), squeeze=False)
    for ax, k in zip(axes[0], base):
        curves = [(f"train {k}", series.get(k)), (f"validation {k}", series.get(f"val_{k}"))]
        present = [(label, v) for label, v in curves if v is not None]
        for label, v in present:
            ax.plot(epochs, v, marker="." if len(epochs) <= 30 else None, label=label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.45", ls=":", lw=1.2, label=f"weights kept (epoch {best_epoch})")
        if _spans_decades([v for _, v in present]):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        _integer_epochs(ax)
        ax.set_ylabel(ylabels.get(k, k))
        ax.grid(alpha=0.3, which="both" if ax.get_yscale() == "log" else "major")
        ax.legend(fontsize=8, framealpha=0.8)
    if title:
        fig.suptitle(title)
    return fig


def _distinct_panels(base: list[str], series: Mapping[str, list]) -> list[str]:
    """Drop a quantity whose curves equal an earlier one's (an MSE metric next to an MSE loss draws the
    same two curves twice)."""

    def curves(k: str) -> list:
        return [np.asarray(series[x], dtype=np.float64) for x in (k, f"val_{k}") if x in series]

    kept: list[str] = []
    for k in base:
        ck = curves(k)
        if not any(len(ck) == len(c) and all(a.shape == b.shape and np.allclose(a, b, rtol=1e-9, equal_nan=True)
                                             for a, b in zip(ck, c)) for c in map(curves, kept)):
            kept.append(k)
    return kept


def plot_history(history: Any, path: str | Path, title: str | None = None,
                 ylabels: Mapping[str, str] | None = None, best_epoch: int | None = None) -> Path:
    """Curves of every recorded quantity with a ``val_`` twin on the same panel (loss, accuracy, ...).

    ``history`` is a ``Trainer`` History, a list of per-epoch dicts, or a dict of lists.  A panel
    whose positive values span more than two decades gets a log y axis; epochs are whole-number
    ticks; a quantity equal to another (e.g. an 'mse' metric next to an MSE loss) is drawn once.
    ``ylabels`` names the axes ({'loss': 'MSE of the standardised target'}); ``best_epoch`` marks the
    epoch whose weights early stopping kept.
    """
    return _save(history_figure(history, title, ylabels, best_epoch), path)


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
        raise ValueError(f"plot_decision_boundary: X must have shape (N, 2), got {tuple(X.shape)}")
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
    yv = y.astype(np.float64)
    vmin, vmax = min(zz.min(), yv.min()), max(zz.max(), yv.max())
    span = vmax - vmin if vmax > vmin else 1.0
    cmap = plt.get_cmap("coolwarm")
    ax.contourf(gx, gy, zz, alpha=0.25, cmap=cmap, levels=np.arange(vmin, vmax + 2) - 0.5, vmin=vmin, vmax=vmax)
    for c in np.unique(yv):  # one scatter per class, in the colour of its region, so the legend names them
        m = yv == c
        ax.scatter(X[m, 0], X[m, 1], color=cmap((c - vmin) / span), edgecolors="k", s=20,
                   label=f"class {int(c) if float(c).is_integer() else c}")
    ax.legend(fontsize=8, loc="best", framealpha=0.8)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def layer_labels(model: Any) -> dict[str, str]:
    """Readable names of a model's modules for plot labels: {'1': '1: Linear 10→64', 'fc': 'fc: Linear 64→3'}.

    The module name (as in ``named_modules()``, which monitors and parameter names use) comes first,
    then the module's kind and size, so a figure never shows a bare index."""
    out = {}
    for name, m in model.named_modules():
        if not name:
            continue
        kind = type(m).__name__
        if hasattr(m, "in_features") and hasattr(m, "out_features"):
            desc = f"{kind} {m.in_features}→{m.out_features}"
        elif hasattr(m, "in_channels") and hasattr(m, "out_channels"):
            k = getattr(m, "kernel_size", None)
            k = "×".join(map(str, k)) if isinstance(k, (tuple, list)) else k
            desc = f"{kind} {m.in_channels}→{m.out_channels}" + (f", {k}" if k is not None else "")
        elif hasattr(m, "num_features"):
            desc = f"{kind} {m.num_features}"
        else:
            desc = kind
        out[name] = f"{name}: {desc}"
    return out


def histograms_figure(values: Mapping[str, Any], bins: int = 40, title: str | None = None, log: bool = False,
                      clip: float = 0.5) -> Any:
    """The matplotlib Figure of :func:`plot_histograms` (not saved)."""
    plt = _plt()
    items = [(k, np.asarray(getattr(v, "data", v), dtype=np.float64).ravel()) for k, v in values.items()]
    if not items:
        raise ValueError("plot_histograms: no values to plot")
    ncols = min(len(items), 4)
    nrows = -(-len(items) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, (k, v) in zip(axes.ravel(), items):
        v = v[np.isfinite(v)]
        if v.size == 0:
            ax.set_title(f"{k}\n(no finite values)", fontsize=9)
            continue
        stats = f"mean {v.mean():.3g}, std {v.std():.3g}"
        zero = float((v == 0).mean())
        if zero > 0.2 and (v != 0).any():  # a ReLU's zeros would be one bar dwarfing the rest: say how many
            stats += f"\n{zero:.0%} exactly 0 (not drawn)"
            v = v[v != 0]
        lo, hi = np.percentile(v, [clip, 100 - clip]) if clip > 0 else (v.min(), v.max())
        if not hi > lo:
            lo, hi = v.min() - 0.5, v.max() + 0.5
        outside = int(((v < lo) | (v > hi)).sum())
        nb = min(bins, max(5, 2 * int(np.sqrt(v.size))))  # few values: fewer, wider bins
        ax.hist(np.clip(v, lo, hi), bins=nb, range=(lo, hi), color="tab:blue", alpha=0.8, log=log)
        ax.set_title(f"{k}\n{stats}", fontsize=9)
        ax.set_ylabel("count", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
        if outside:
            ax.text(0.98, 0.95, f"{outside} outside\n[{clip}, {100 - clip}] pct\nin the end bins", ha="right",
                    va="top", fontsize=7, transform=ax.transAxes, color="0.35")
    for ax in axes.ravel()[len(items):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def plot_histograms(values: Mapping[str, Any], path: str | Path, bins: int = 40, title: str | None = None,
                    log: bool = False, clip: float = 0.5) -> Path:
    """One histogram per entry of ``values`` ({layer label: array}), up to four per row.

    The range is the ``clip``-th to (100 - ``clip``)-th percentile, so a few extreme values do not
    squeeze the rest into one bar (they are counted in the end bins, and the count is shown)."""
    return _save(histograms_figure(values, bins, title, log, clip), path)


def series_figure(series: Mapping[str, Sequence[float]], ylabel: str = "", logy: bool | None = None,
                  title: str | None = None) -> Any:
    """The matplotlib Figure of :func:`plot_series` (not saved)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, v in series.items():
        ax.plot(range(1, len(v) + 1), list(v), marker="." if len(v) <= 30 else None, label=k)
    ax.set_xlabel("epoch")
    _integer_epochs(ax)
    ax.set_ylabel(ylabel)
    if logy or (logy is None and _spans_decades(list(series.values()))):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(series) > 6:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=8, framealpha=0.8)
    if title:
        ax.set_title(title)
    return fig


def plot_series(series: Mapping[str, Sequence[float]], path: str | Path, ylabel: str = "",
                logy: bool | None = None, title: str | None = None) -> Path:
    """Several curves over epochs on one panel, e.g. {layer: gradient norm per epoch}.

    ``logy``: True/False forces the y scale; None (default) picks log when the positive values
    span more than two decades."""
    return _save(series_figure(series, ylabel, logy, title), path)


def plot_predictions(y: Any, yhat: Any, path: str | Path, title: str | None = None, label: str = "target") -> Path:
    """Regression: predicted against true values (one dot per example) and the line yhat = y."""
    plt = _plt()
    y = np.asarray(getattr(y, "data", y), dtype=np.float64).ravel()
    yhat = np.asarray(getattr(yhat, "data", yhat), dtype=np.float64).ravel()
    if y.shape != yhat.shape:
        raise ValueError(f"plot_predictions: {y.size} targets but {yhat.size} predictions")
    sst = ((y - y.mean()) ** 2).sum()
    r2 = 1 - ((yhat - y) ** 2).sum() / sst if sst > 0 else float("nan")
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(y, yhat, s=14, alpha=0.7, edgecolors="none")
    lo, hi = min(y.min(), yhat.min()), max(y.max(), yhat.max())
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="perfect prediction")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax.set_title((f"{title}: " if title else "") + f"R² = {r2:.3f}, {y.size} examples", fontsize=10)
    return _save(fig, path)


def plot_confusion_matrix(
    cm: Any, path: str | Path, labels: Sequence[str] | None = None, title: str | None = None
) -> Path:
    """C[true, predicted] as an image with the count in each cell (off-diagonal zeros left blank)."""
    plt = _plt()
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {tuple(cm.shape)}")
    k = cm.shape[0]
    labels = [str(i) for i in range(k)] if labels is None else [str(s) for s in labels]
    fig, ax = plt.subplots(figsize=(0.5 * k + 2.5, 0.5 * k + 2))
    ax.imshow(cm, cmap="Blues")
    size = 11 if k <= 6 else 9 if k <= 12 else 7
    for i in range(k):
        for j in range(k):
            if cm[i, j] == 0 and i != j:  # empty off-diagonal cells left blank, so the mistakes stand out
                continue
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=size,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, path)
