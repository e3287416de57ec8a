"""Metrics: plain functions on whole arrays, and running versions that accumulate over mini-batches.

Classification (outputs are logits or probabilities, targets class indices):

* accuracy = (1/N) sum_i [argmax_k out_ik == y_i]; for one output per example
  (binary), the prediction is out_i > threshold (0 for logits, 0.5 for probabilities);
* confusion_matrix C[t, p] = number of examples of true class t predicted as p.

Regression (outputs and targets of the same shape):

* mse = (1/N) sum (yhat - y)^2;  mae = (1/N) sum |yhat - y|;
* r2 = 1 - SSE / SST with SSE = sum (yhat - y)^2, SST = sum (y - mean y)^2.

The running metrics (``Accuracy``, ``MeanSquaredError``, ``R2Score``) keep sums, so the
epoch value equals the value on all examples at once, whatever the batch sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor


def _np(x: Any) -> np.ndarray:
    return np.asarray(x._array if isinstance(x, Tensor) else x)


def predict_classes(output: Any, threshold: float = 0.0) -> np.ndarray:
    """Class predictions from model outputs: argmax over the last axis, or ``out > threshold`` for one output."""
    out = _np(output)
    if out.ndim >= 2 and out.shape[-1] > 1:
        return out.argmax(axis=-1)
    return (out.reshape(out.shape[0], *out.shape[1:-1]) if out.ndim >= 2 else out) > threshold


def accuracy(output: Any, target: Any, threshold: float = 0.0) -> float:
    """Fraction of correct predictions; output (N, C) logits/probabilities or (N,)/(N, 1) binary scores."""
    pred = predict_classes(output, threshold).astype(np.int64).reshape(-1)
    y = _np(target).astype(np.int64).reshape(-1)
    if pred.shape != y.shape:
        raise ValueError(f"accuracy: {pred.shape[0]} predictions but {y.shape[0]} targets")
    return float((pred == y).mean()) if y.size else float("nan")


def mse(output: Any, target: Any) -> float:
    out, y = _np(output).astype(np.float64), _np(target).astype(np.float64)
    return float(((out.reshape(y.shape) - y) ** 2).mean())


def r2_score(output: Any, target: Any) -> float:
    """R^2 = 1 - sum (yhat - y)^2 / sum (y - mean y)^2 (pooled over all output columns)."""
    out, y = _np(output).astype(np.float64), _np(target).astype(np.float64)
    sse = ((out.reshape(y.shape) - y) ** 2).sum()
    sst = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def confusion_matrix(output_or_pred: Any, target: Any, num_classes: int | None = None) -> np.ndarray:
    """C[t, p] = #examples with true class t and predicted class p.

    The first argument may be class predictions (N,) int or model outputs (N, C).
    """
    a = _np(output_or_pred)
    pred = a.reshape(-1).astype(np.int64) if a.ndim == 1 and a.dtype.kind in "iub" else predict_classes(a).reshape(-1)
    y = _np(target).astype(np.int64).reshape(-1)
    k = num_classes or int(max(pred.max(initial=0), y.max(initial=0)) + 1)
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (y, pred.astype(np.int64)), 1)
    return C


class Metric:
    """A running metric: ``reset()``, ``update(output, target)`` per batch, ``compute()`` at the end."""

    name = "metric"
    higher_is_better = True
    # the attributes holding sums over examples: data-parallel training adds them up across ranks, which
    # gives the value on all ranks' examples exactly (a metric without them is averaged, weighted by count)
    sum_states: tuple[str, ...] = ()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError


class Accuracy(Metric):
    """Running accuracy; ``from_logits=False`` thresholds single outputs at 0.5 instead of 0."""

    name = "accuracy"
    sum_states = ("correct", "total")

    def __init__(self, from_logits: bool = True) -> None:
        self.threshold = 0.0 if from_logits else 0.5
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        pred = predict_classes(output, self.threshold).astype(np.int64).reshape(-1)
        y = _np(target).astype(np.int64).reshape(-1)
        if pred.shape != y.shape:
            raise ValueError(
                f"Accuracy: output of shape {_np(output).shape} gives {pred.shape[0]} predictions "
                f"for {y.shape[0]} targets (shape {_np(target).shape})"
            )
        self.correct += int((pred == y).sum())
        self.total += int(y.size)

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class MeanSquaredError(Metric):
    name = "mse"
    higher_is_better = False
    sum_states = ("sse", "count")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sse = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        y = _np(target).astype(np.float64)
        out = _np(output).astype(np.float64).reshape(y.shape)
        self.sse += float(((out - y) ** 2).sum())
        self.count += int(y.size)

    def compute(self) -> float:
        return self.sse / self.count if self.count else float("nan")


class MeanAbsoluteError(Metric):
    """Running mean absolute error (1/N) sum |yhat - y|."""

    name = "mae"
    higher_is_better = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sae = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        y = _np(target).astype(np.float64)
        out = _np(output).astype(np.float64).reshape(y.shape)
        self.sae += float(np.abs(out - y).sum())
        self.count += int(y.size)

    def compute(self) -> float:
        return self.sae / self.count if self.count else float("nan")


class InOriginalUnits(Metric):
    """``metric`` of a model trained on a standardised target, in the target's own units.

    With z = (y - mean) / std the model predicts z; this maps outputs and targets back,
    yhat = mean + std * zhat and y = mean + std * z, before updating ``metric`` — so the
    MSE/MAE a user reads are in the units of the CSV column.  (R² is unchanged by the map.)
    """

    def __init__(self, metric: str | Metric, mean: float, std: float) -> None:
        self.metric = make_metric(metric)
        self.name = self.metric.name
        self.higher_is_better = self.metric.higher_is_better
        self.mean, self.std = float(mean), float(std)

    def reset(self) -> None:
        self.metric.reset()

    def update(self, output: Any, target: Any) -> None:
        self.metric.update(_np(output).astype(np.float64) * self.std + self.mean,
                           _np(target).astype(np.float64) * self.std + self.mean)

    def compute(self) -> float:
        return self.metric.compute()


class R2Score(Metric):
    """Running R^2 from sums: SST = sum y^2 - (sum y)^2 / n (per output column, pooled)."""

    name = "r2"
    sum_states = ("n", "sum_y", "sum_y2", "sse")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.sum_y: Any = 0.0
        self.sum_y2: Any = 0.0
        self.sse = 0.0

    def update(self, output: Any, target: Any) -> None:
        y = _np(target).astype(np.float64)
        out = _np(output).astype(np.float64).reshape(y.shape)
        y2 = y.reshape(y.shape[0], -1)
        self.n += y2.shape[0]
        self.sum_y = self.sum_y + y2.sum(axis=0)
        self.sum_y2 = self.sum_y2 + (y2**2).sum(axis=0)
        self.sse += float(((out - y) ** 2).sum())

    def compute(self) -> float:
        if self.n == 0:
            return float("nan")
        sst = float(np.sum(self.sum_y2 - self.sum_y**2 / self.n))
        return 1.0 - self.sse / sst if sst > 0 else float("nan")


METRICS = {"accuracy": Accuracy, "acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError, "r2": R2Score}


def make_metric(m: str | Metric) -> Metric:
    if isinstance(m, Metric):
        return m
    if isinstance(m, str) and m.lower() in METRICS:
        return METRICS[m.lower()]()
    raise ValueError(f"unknown metric {m!r}; use one of {sorted(METRICS)} or a Metric instance")


def default_metrics(loss_fn: Any) -> list[str]:
    """Metrics implied by the loss: accuracy for classification losses, MSE and R^2 for regression ones."""
    import types

    plain = isinstance(loss_fn, (types.FunctionType, types.BuiltinFunctionType, types.MethodType))
    name = (getattr(loss_fn, "__name__", "") if plain else type(loss_fn).__name__).lower()
    if any(k in name for k in ("crossentropy", "cross_entropy", "nll", "bce", "binary")):
        return ["accuracy"]
    if any(k in name for k in ("mse", "l1", "huber", "smoothl1", "mean_squared")):
        return ["mse", "r2"]
    return []
