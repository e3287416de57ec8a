"""Hyper-parameter search, choosing on the validation set (notes 004: "use a grid search on a log
scale (0.1, 0.01, 0.001)").

You write ``objective(**params)`` that trains a model with those hyper-parameters and returns
its validation score (a float) or a dict of validation numbers; the search calls it for each
setting and keeps the best by ``monitor``:

    result = grid_search(objective, {"lr": log_grid(0.1, 0.001), "hidden": [16, 64]})
    result.best_params, result.best_score; print(result.table())

``random_search`` draws ``n_iter`` settings from lists (uniform choice) or from
``LogUniform(low, high)`` / ``Uniform(low, high)`` distributions.  The test set is never
looked at here: evaluate ``best_params`` on it once, at the end.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def log_grid(high: float = 0.1, low: float = 0.001, per_decade: int = 1) -> list[float]:
    """Values evenly spaced on a log scale from ``high`` down to ``low``.

    ``log_grid(0.1, 0.001) == [0.1, 0.01, 0.001]`` (the notes' grid); ``per_decade=2`` adds
    the geometric midpoints (0.1, 0.0316, 0.01, ...).
    """
    if not (high > 0 and low > 0):
        raise ValueError(f"log_grid: bounds must be positive, got {high}, {low}")
    decades = math.log10(high) - math.log10(low)
    num = int(round(abs(decades) * per_decade)) + 1
    vals = np.logspace(math.log10(high), math.log10(low), num)
    return [float(f"{v:.6g}") for v in vals]


class LogUniform:
    """log x ~ U[log low, log high]: every decade between the bounds is equally likely."""

    def __init__(self, low: float, high: float) -> None:
        if not 0 < low < high:
            raise ValueError(f"LogUniform: need 0 < low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def __repr__(self) -> str:
        return f"LogUniform({self.low:g}, {self.high:g})"


class Uniform:
    """x ~ U[low, high]."""

    def __init__(self, low: float, high: float) -> None:
        if not low < high:
            raise ValueError(f"Uniform: need low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def __repr__(self) -> str:
        return f"Uniform({self.low:g}, {self.high:g})"


@dataclass
class SearchResult:
    """All trials (``results``: dicts of params and scores, in run order) and the best one.

    With ``tolerance`` t > 0 the chosen trial is the first one (in run order) whose score is
    within a factor (1 + t) of the best (mode 'min'; (1 - t) for 'max'): with a grid listed
    from simple to complex, that is the simplest model that is nearly as good (parsimony, in
    the spirit of the one-standard-error rule), which guards against picking an over-fitted
    setting that won by validation noise.
    """

    monitor: str
    mode: str
    param_names: list[str]
    results: list[dict] = field(default_factory=list)
    tolerance: float = 0.0

    @property
    def best(self) -> dict:
        vals = [(r, r.get(self.monitor)) for r in self.results]
        ok = [r for r, v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        if not ok:
            raise ValueError(f"SearchResult: no trial produced a finite {self.monitor!r}")
        pick = min if self.mode == "min" else max
        top = pick(ok, key=lambda r: r[self.monitor])
        if self.tolerance <= 0:
            return top
        b, t = top[self.monitor], self.tolerance
        if self.mode == "min":
            return next(r for r in ok if r[self.monitor] <= b + t * abs(b))
        return next(r for r in ok if r[self.monitor] >= b - t * abs(b))

    @property
    def best_params(self) -> dict:
        return {k: self.best[k] for k in self.param_names}

    @property
    def best_score(self) -> float:
        return float(self.best[self.monitor])

    def table(self) -> str:
        """A plain-text table of every trial, the best one marked with '*'."""
        score_keys = [k for k in dict.fromkeys(k for r in self.results for k in r) if k not in self.param_names]
        cols = self.param_names + score_keys
        rows = [[_cell(r.get(c, "")) for c in cols] for r in self.results]
        widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
        best = self.best if self.results else None
        lines = ["  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths))]
        for r, row in zip(self.results, rows):
            mark = "* " if r is best else "  "
            lines.append(mark + "  ".join(v.rjust(w) for v, w in zip(row, widths)))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _run(objective: Callable[..., Any], params: dict, monitor: str) -> dict:
    out = objective(**params)
    if isinstance(out, Mapping):
        if monitor not in out:
            raise KeyError(f"search: the objective returned {sorted(out)} but the monitor is {monitor!r}")
        scores = {k: float(v) if isinstance(v, (int, float, np.floating)) else v for k, v in out.items()}
    else:
        scores = {monitor: float(out)}
    return {**params, **scores}


def grid_search(
    objective: Callable[..., Any],
    param_grid: Mapping[str, Sequence[Any]],
    monitor: str = "val_loss",
    mode: str = "min",
    verbose: bool = True,
    tolerance: float = 0.0,
) -> SearchResult:
    """Try every combination of ``param_grid`` (a dict of lists), in order; returns a SearchResult.

    Ties keep the first setting in grid order, so list simpler settings first; ``tolerance``
    > 0 picks the first setting within that relative margin of the best (see SearchResult).
    """
    if mode not in ("min", "max"):
        raise ValueError(f"grid_search: mode must be 'min' or 'max', got {mode!r}")
    for k, v in param_grid.items():
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ValueError(f"grid_search: the grid for {k!r} must be a non-empty list, got {v!r}")
    names = list(param_grid)
    result = SearchResult(monitor, mode, names, tolerance=float(tolerance))
    for combo in itertools.product(*(param_grid[k] for k in names)):
        result.results.append(_run(objective, dict(zip(names, combo)), monitor))
    if verbose:
        print(result.table(), file=sys.stdout)
    return result


def random_search(
    objective: Callable[..., Any],
    param_distributions: Mapping[str, Any],
    n_iter: int = 10,
    seed: int | None = 0,
    monitor: str = "val_loss",
    mode: str = "min",
    verbose: bool = True,
) -> SearchResult:
    """Try ``n_iter`` settings drawn independently: lists are sampled uniformly, objects with
    ``sample(rng)`` (``LogUniform``, ``Uniform``) are sampled, and other values are fixed."""
    if mode not in ("min", "max"):
        raise ValueError(f"random_search: mode must be 'min' or 'max', got {mode!r}")
    rng = np.random.default_rng(seed)
    names = list(param_distributions)
    result = SearchResult(monitor, mode, names)
    for _ in range(int(n_iter)):
        params = {}
        for k in names:
            d = param_distributions[k]
            if hasattr(d, "sample"):
                params[k] = d.sample(rng)
            elif isinstance(d, Sequence) and not isinstance(d, (str, bytes)):
                params[k] = d[int(rng.integers(len(d)))]
            else:
                params[k] = d
        result.results.append(_run(objective, params, monitor))
    if verbose:
        print(result.table(), file=sys.stdout)
    return result
