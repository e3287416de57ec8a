"""Loading a table like the notes' Heart data: numeric and categorical columns, a Yes/No target.

    Age  Sex  ChestPain     RestBP ... Thal        AHD
    63   1    typical       145        fixed       No
    67   1    asymptomatic  160        normal      Yes

``load_csv(path, target="AHD")`` returns ``Tabular(X, y, feature_names, classes)``:
X (N, F) float32 with each categorical column replaced by its one-hot columns,
y (N,) int64 class indices into ``classes`` (sorted: No -> 0, Yes -> 1).
Bad files fail loudly, naming the column and the line.

``task="auto"`` decides between classification and regression from the target's values
(:func:`infer_task`); ``return_schema=True`` also returns the :class:`CSVSchema` (columns,
categories, classes) and ``schema=`` reads new rows the same way, e.g. to predict.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from chainrule.autograd.tensor import Tensor

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class Tabular(NamedTuple):
    X: np.ndarray  # (N, F) float32
    y: np.ndarray  # (N,) int64 class indices (float64 for a regression target; None: no target column)
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


MAX_CLASSES = 20  # an integer target with more distinct values than this is taken as a quantity


def infer_task(values: Sequence[str], column: str = "target") -> tuple[str, str]:
    """Guess the task from a target column's values (strings as read): ``(task, reason)``.

    Classification when a value is not a number, or when every value is an integer and there
    are few distinct ones: at most ``MAX_CLASSES`` (20) and at most half the number of rows
    (each class seen twice on average).  Anything else is regression — a real-valued target,
    or an integer one with many distinct values (scikit-learn's diabetes target is integer-
    valued with 214 distinct values: a quantity, not 214 classes).  ``reason`` says which rule
    decided, in words for the user.
    """
    vals = [str(v).strip() for v in values]
    maybe = [_number(v) for v in vals]
    words = [v for v, n in zip(vals, maybe) if n is None]
    if words:
        return "classification", f"{column!r} has non-numeric values (e.g. {words[0]!r})"
    nums = [n for n in maybe if n is not None]
    distinct = set(nums)
    k = len(distinct)
    if not all(math.isfinite(n) and float(n).is_integer() for n in distinct):
        frac = next(n for n in nums if not (math.isfinite(n) and float(n).is_integer()))
        return "regression", f"{column!r} has non-integer values (e.g. {frac:g}), {k} distinct"
    limit = max(2, min(MAX_CLASSES, len(vals) // 2))
    if k <= limit:
        return "classification", f"{column!r} is integer-valued with {k} distinct values (at most {limit})"
    return "regression", (f"{column!r} is integer-valued with {k} distinct values (more than {limit}, "
                          "too many for class labels)")


@dataclass
class CSVSchema:
    """What ``load_csv`` learnt from a training file, to read new rows exactly the same way.

    ``columns`` are the feature columns in order (raw names), ``categories`` the one-hot
    categories of each categorical column (in the order of their indicator columns),
    ``feature_names`` the encoded columns of X, ``classes`` the label values (classification),
    ``task`` and ``task_reason`` what the target was taken to be and why.  ``to_dict`` /
    ``from_dict`` give a JSON-able form (saved in a checkpoint by ``chainrule train``).
    """

    target: str
    task: str
    columns: list
    categories: dict
    feature_names: list
    classes: list = field(default_factory=list)
    task_reason: str = ""
    rows: int = 0  # data rows used (after dropna)

    def to_dict(self) -> dict:
        return {"target": self.target, "task": self.task, "columns": list(self.columns),
                "categories": {k: list(v) for k, v in self.categories.items()},
                "feature_names": list(self.feature_names), "classes": list(self.classes),
                "task_reason": self.task_reason, "rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict) -> CSVSchema:
        keys = ("target", "task", "columns", "categories", "feature_names")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"CSVSchema.from_dict: missing {missing}")
        return cls(d["target"], d["task"], list(d["columns"]), {k: list(v) for k, v in d["categories"].items()},
                   list(d["feature_names"]), list(d.get("classes", [])), d.get("task_reason", ""),
                   int(d.get("rows", 0)))


def load_csv(
    path: str | Path,
    target: str | None = None,
    categorical: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    delimiter: str | None = None,
    task: str = "classification",
    classes: Sequence[Any] | None = None,
    dropna: bool = False,
    features: Sequence[str] | None = None,
    schema: CSVSchema | None = None,
    return_schema: bool = False,
) -> Any:
    """Read a CSV (or TSV) with a header row into features, labels and feature names.

    Args:
        target: the label column's name.
        categorical: columns to one-hot encode.  None: detect them — a column whose
            values are all non-numeric is categorical; a column mixing numbers and
            words is an error (a typo in a numeric column), naming column and line.
        drop: columns to ignore (e.g. an index column).
        delimiter: ',', '\\t' or ';' (None: guess from the header line).
        task: 'classification' (labels -> int indices into ``classes``), 'regression'
            (target parsed as float) or 'auto' (decided by :func:`infer_task`).
        classes: the label values in index order (default: sorted distinct values);
            a label not in it is an error naming the line.
        dropna: drop rows with missing values (in the columns used) instead of raising.
        features: the feature columns to use, in this order (default: every column but
            the target and ``drop``).
        schema: a :class:`CSVSchema` from an earlier ``load_csv(..., return_schema=True)``:
            read new rows the same way — its feature columns (matched by name, in any order
            in the file; others ignored), its categories (an unseen category is an error
            naming column, value and line), classes and task.  The target column may be
            absent: y is then None.  ``target``, ``categorical``, ``features``, ``task`` and
            ``classes`` are taken from the schema.
        return_schema: also return the :class:`CSVSchema`: ``(Tabular, CSVSchema)``.

    Returns ``Tabular(X, y, feature_names, classes)`` (and the schema if asked).
    """
    path = Path(path)
    if schema is not None:
        target, task, classes = schema.target, schema.task, schema.classes or None
        features, categorical = schema.columns, list(schema.categories)
    if not target:
        raise ValueError("load_csv: give the target column's name (target=...)")
    if task not in ("classification", "regression", "auto"):
        raise ValueError(f"load_csv: task must be 'classification', 'regression' or 'auto', got {task!r}")
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"load_csv: {path} is empty (expected a header row)")
    delim = delimiter or _sniff_delimiter(lines[0])
    rows = list(csv.reader(lines, delimiter=delim))
    header = [h.strip() for h in rows[0]]
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]  # (line number, fields)

    has_target = target in header
    if not has_target and schema is None:
        raise ValueError(f"load_csv: target column {target!r} not found in {path}; columns are {header}")
    for name in list(drop) + list(categorical or []) + list(features or []):
        if name not in header:
            what = "feature column" if schema is not None else "column"
            raise ValueError(f"load_csv: {what} {name!r} not found in {path}; columns are {header}")
    if features is not None:
        clash = [h for h in features if h == target or h in drop]
        if clash:
            raise ValueError(f"load_csv: column(s) {clash} are given as features and as the target or dropped")
    for line, r in body:
        if len(r) != len(header):
            raise ValueError(
                f"load_csv: line {line} of {path} has {len(r)} fields but the header has {len(header)} "
                f"({header})"
            )
    if not body:
        raise ValueError(f"load_csv: {path} has a header but no data rows")

    features = list(features) if features is not None else [h for h in header if h != target and h not in drop]
    used = features + ([target] if has_target else [])
    col = {h: j for j, h in enumerate(header)}
    # missing values in the columns used: raise (naming column and line) or drop the row
    keep = []
    for line, r in body:
        bad = [h for h in used if _is_missing(r[col[h]])]
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

    cat = list(categorical) if categorical is not None else []
    if categorical is None:  # detect: all values non-numeric -> categorical
        for h in features:
            if all(_number(r[col[h]]) is None for _, r in body):
                cat.append(h)

    columns: list[np.ndarray] = []
    names: list[str] = []
    categories: dict[str, list] = {}
    for h in features:
        j = col[h]
        if h in cat:
            values = [r[j].strip() for _, r in body]
            known = schema.categories[h] if schema is not None else sorted(set(values))
            index = {c: k for k, c in enumerate(known)}
            block = np.zeros((len(values), len(known)), dtype=np.float32)
            for i, v in enumerate(values):
                k = index.get(v)
                if k is None:
                    raise ValueError(f"load_csv: unknown category {v!r} in column {h!r} at line {body[i][0]} of "
                                     f"{path}; the model knows {known}")
                block[i, k] = 1
            columns.append(block)
            names.extend(f"{h}={c}" for c in known)
            categories[h] = list(known)
            continue
        vals = np.empty(len(body), dtype=np.float64)
        for i, (line, r) in enumerate(body):
            x = _number(r[j])
            if x is None or not math.isfinite(x):
                raise ValueError(
                    f"load_csv: non-numeric value {r[j]!r} in numeric column {h!r} at line {line} of {path}"
                    + ("; list it in categorical=[...] if it is a category" if x is None else "")
                )
            vals[i] = x
        columns.append(vals[:, None])
        names.append(h)
    X = np.concatenate(columns, axis=1).astype(np.float32) if columns else np.zeros((len(body), 0), np.float32)

    reason = schema.task_reason if schema is not None else f"task={task!r} given"
    y: Any = None
    cls: list = []
    if has_target:
        raw = [r[col[target]].strip() for _, r in body]
        lines_no = [line for line, _ in body]
        if task == "auto":
            task, reason = infer_task(raw, target)
        if task == "regression":
            y = np.empty(len(raw), dtype=np.float64)
            for i, s in enumerate(raw):
                x = _number(s)
                if x is None or not math.isfinite(x):
                    raise ValueError(
                        f"load_csv: non-numeric target {s!r} in column {target!r} at line {lines_no[i]} of {path}"
                    )
                y[i] = x
        else:
            y, cls = encode_labels(raw, classes, where=lambda i: f"line {lines_no[i]} of {path} (column {target!r})")
    elif schema is not None:
        cls = list(schema.classes)
    tab = Tabular(X, y, names, cls)
    if not return_schema:
        return tab
    return tab, CSVSchema(target, task, features, categories, names, cls, reason, len(body))


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
    X = np.asarray(X._array if isinstance(X, Tensor) else X)
    y = np.asarray(y._array if isinstance(y, Tensor) else y)
    if X.ndim < 1 or y.ndim != 1:
        raise ValueError(
            "check_classification_data: expected X of shape (N, ...) and y of shape (N,), "
            f"got {tuple(X.shape)} and {tuple(y.shape)}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"check_classification_data: features and labels have different counts: X has {X.shape[0]} rows "
            f"(shape {tuple(X.shape)}) but y has {y.shape[0]} labels"
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
