"""Loading a table like the notes' Heart data: numeric and categorical columns, a Yes/No target.

    Age  Sex  ChestPain     RestBP ... Thal        AHD
    63   1    typical       145        fixed       No
    67   1    asymptomatic  160        normal      Yes

``load_csv(path, target="AHD")`` returns ``Tabular(X, y, feature_names, classes)``:
X (N, F) float32 with each categorical column replaced by its one-hot columns,
y (N,) int64 class indices into ``classes`` (sorted: No -> 0, Yes -> 1).
Bad files fail loudly, naming the column and the line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.data.preprocessing import OneHotEncoder

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class Tabular(NamedTuple):
    X: np.ndarray  # (N, F) float32
    y: np.ndarray  # (N,) int64 class indices (or float64 for a regression target)
    feature_names: list[str]
    classes: list[Any]  # y == k means classes[k]; empty for regression

    def dataset(self) -> Any:
        from chainrule.utils.data import TensorDataset

        return TensorDataset(self.X, self.y)


def _number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v


def _is_missing(s: str) -> bool:
    return s.strip().lower() in MISSING


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def load_csv(
    path: str | Path,
    target: str,
    categorical: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    delimiter: str | None = None,
    task: str = "classification",
    classes: Sequence[Any] | None = None,
    dropna: bool = False,
) -> Tabular:
    """Read a CSV (or TSV) with a header row into features, labels and feature names.

    Args:
        target: the label column's name.
        categorical: columns to one-hot encode.  None: detect them — a column whose
            values are all non-numeric is categorical; a column mixing numbers and
            words is an error (a typo in a numeric column), naming column and line.
        drop: columns to ignore (e.g. an index column).
        delimiter: ',', '\\t' or ';' (None: guess from the header line).
        task: 'classification' (labels -> int indices into ``classes``) or 'regression'
            (target parsed as float).
        classes: the label values in index order (default: sorted distinct values);
            a label not in it is an error naming the line.
        dropna: drop rows with missing values instead of raising.
    """
    path = Path(path)
    if task not in ("classification", "regression"):
        raise ValueError(f"load_csv: task must be 'classification' or 'regression', got {task!r}")
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"load_csv: {path} is empty (expected a header row)")
    delim = delimiter or _sniff_delimiter(lines[0])
    rows = list(csv.reader(lines, delimiter=delim))
    header = [h.strip() for h in rows[0]]
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]  # (line number, fields)

    if target not in header:
        raise ValueError(f"load_csv: target column {target!r} not found in {path}; columns are {header}")
    for name in list(drop) + list(categorical or []):
        if name not in header:
            raise ValueError(f"load_csv: column {name!r} not found in {path}; columns are {header}")
    for line, r in body:
        if len(r) != len(header):
            raise ValueError(
                f"load_csv: line {line} of {path} has {len(r)} fields but the header has {len(header)} "
                f"({header})"
            )
    if not body:
        raise ValueError(f"load_csv: {path} has a header but no data rows")

    # missing values: raise (naming column and line) or drop the row
    keep = []
    for line, r in body:
        bad = [header[j] for j, c in enumerate(r) if header[j] not in drop and _is_missing(c)]
        if bad and not dropna:
            raise ValueError(
                f"load_csv: missing value (empty/NA/NaN) in column {bad[0]!r} at line {line} of {path}; "
                "fix the file or pass dropna=True"
            )
        if not bad:
            keep.append((line, r))
    body = keep
    if not body:
        raise ValueError(f"load_csv: no rows of {path} are left after dropping rows with missing values")

    features = [h for h in header if h != target and h not in drop]
    col = {h: j for j, h in enumerate(header)}
    cat = list(categorical) if categorical is not None else []
    if categorical is None:  # detect: all values non-numeric -> categorical
        for h in features:
            if all(_number(r[col[h]]) is None for _, r in body):
                cat.append(h)

    columns: list[np.ndarray] = []
    names: list[str] = []
    for h in features:
        j = col[h]
        if h in cat:
            enc = OneHotEncoder(handle_unknown="error").fit(np.array([[r[j].strip()] for _, r in body], dtype=object))
            columns.append(enc.transform(np.array([[r[j].strip()] for _, r in body], dtype=object)))
            names.extend(enc.get_feature_names_out([h]))
            continue
        vals = np.empty(len(body), dtype=np.float64)
        for i, (line, r) in enumerate(body):
            v = _number(r[j])
            if v is None or not math.isfinite(v):
                raise ValueError(
                    f"load_csv: non-numeric value {r[j]!r} in numeric column {h!r} at line {line} of {path}"
                    + ("; list it in categorical=[...] if it is a category" if v is None else "")
                )
            vals[i] = v
        columns.append(vals[:, None])
        names.append(h)
    X = np.concatenate(columns, axis=1).astype(np.float32) if columns else np.zeros((len(body), 0), np.float32)

    raw = [r[col[target]].strip() for _, r in body]
    lines_no = [line for line, _ in body]
    if task == "regression":
        yv = np.empty(len(raw), dtype=np.float64)
        for i, s in enumerate(raw):
            v = _number(s)
            if v is None or not math.isfinite(v):
                raise ValueError(
                    f"load_csv: non-numeric target {s!r} in column {target!r} at line {lines_no[i]} of {path}"
                )
            yv[i] = v
        return Tabular(X, yv, names, [])
    y, cls = encode_labels(raw, classes, where=lambda i: f"line {lines_no[i]} of {path} (column {target!r})")
    return Tabular(X, y, names, cls)


def encode_labels(
    values: Sequence[Any], classes: Sequence[Any] | None = None, where: Any = None
) -> tuple[np.ndarray, list]:
    """Map label values to indices 0..K-1; classes default to the sorted distinct values.

    Numeric strings are compared as numbers when every label is numeric ("1" == "1.0").
    """
    where = where or (lambda i: f"row {i}")
    vals = list(values)
    nums = [n for n in (_number(str(v)) for v in vals) if n is not None]
    if len(nums) == len(vals):  # every label is numeric
        vals = [int(n) if float(n).is_integer() else n for n in nums]
    if classes is None:
        cls = sorted(set(vals), key=lambda v: (isinstance(v, str), v))
    else:
        cls = list(classes)
    index = {c: k for k, c in enumerate(cls)}
    y = np.empty(len(vals), dtype=np.int64)
    for i, v in enumerate(vals):
        k = index.get(v)
        if k is None:
            raise ValueError(f"label {v!r} at {where(i)} is not one of the classes {cls}")
        y[i] = k
    return y, cls


def check_classification_data(X: Any, y: Any, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a feature matrix and integer labels before training; returns (X, y) as arrays.

    Raises ValueError naming the problem: different numbers of rows in X and y,
    NaN/inf features (first bad row and column), non-integer labels, or labels outside
    [0, num_classes) (first bad row).
    """
    X = np.asarray(X.data if isinstance(X, Tensor) else X)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if X.ndim < 1 or y.ndim != 1:
        raise ValueError(
            "check_classification_data: expected X of shape (N, ...) and y of shape (N,), "
            f"got {X.shape} and {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"check_classification_data: features and labels have different counts: X has {X.shape[0]} rows "
            f"(shape {X.shape}) but y has {y.shape[0]} labels"
        )
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X.reshape(X.shape[0], -1)))[0]
        raise ValueError(f"check_classification_data: non-finite feature (NaN/inf) at row {bad[0]}, column {bad[1]}")
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            bad = int(np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0])
            raise ValueError(f"check_classification_data: label {y[bad]} at row {bad} is not an integer class index")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise ValueError(f"check_classification_data: labels must be integer class indices, got dtype {y.dtype}")
    hi = num_classes if num_classes is not None else None
    out = (y < 0) if hi is None else (y < 0) | (y >= hi)
    if out.any():
        bad = int(np.flatnonzero(out)[0])
        rng = "[0, inf)" if hi is None else f"[0, {hi})"
        raise ValueError(f"check_classification_data: label {int(y[bad])} at row {bad} is out of range {rng}")
    return X, y.astype(np.int64)
