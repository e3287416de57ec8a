"""Preprocessing transformers, fitted on the training split only, then applied to every split.

Each has ``fit(X)``, ``transform(X)``, ``fit_transform(X)`` and, where it is
invertible, ``inverse_transform(Z)``.  X is an (N, D) array (N examples, D
features); Tensors are accepted and a Tensor comes back.

* ``StandardScaler``: z = (x - mu) / sigma per column (zero mean, unit variance);
* ``MinMaxScaler``: z = (x - min) / (max - min), the notes' feature scaling to [0, 1];
* ``PCA``: z = (x - mu) V_k (decorrelated; ``whiten=True`` also divides by sqrt(lambda_k),
  so the covariance of z is the identity);
* ``PolynomialFeatures(degree)``: all monomials of total degree <= degree;
* ``OneHotEncoder``: category -> indicator columns;
* ``train_val_test_split``: shuffled (optionally stratified) three-way split.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.utils.data.sampler import _rng


def _to_array(X: Any, name: str, ndim: int | None = 2) -> tuple[np.ndarray, bool]:
    """(float array, was_tensor)."""
    was_tensor = isinstance(X, Tensor)
    arr = np.asarray(X._array if was_tensor else X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array of shape (N, D), got shape {tuple(arr.shape)}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr, was_tensor


def _out(arr: np.ndarray, as_tensor: bool) -> Any:
    return Tensor._wrap(arr) if as_tensor else arr


class _Transformer:
    """fit_transform = fit then transform; ``_check`` verifies fitted state and column count."""

    n_features_in_: int

    def fit(self, X: Any, y: Any = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define fit")

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X).transform(X)

    def _check(self, arr: np.ndarray, what: str = "transform") -> None:
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"{type(self).__name__}.{what}: call fit() first (on the training split)")
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{type(self).__name__}.{what}: X has {arr.shape[1]} features (shape {tuple(arr.shape)}), "
                f"but the transformer was fitted on {self.n_features_in_}"
            )


class StandardScaler(_Transformer):
    """z_j = (x_j - mean_j) / std_j, with the population std (ddof = 0); constant columns get std 1."""

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X: Any, y: Any = None) -> StandardScaler:
        arr, _ = _to_array(X, "StandardScaler.fit")
        self.n_features_in_ = arr.shape[1]
        self.mean_ = arr.mean(axis=0) if self.with_mean else np.zeros(arr.shape[1], arr.dtype)
        std = arr.std(axis=0) if self.with_std else np.ones(arr.shape[1], arr.dtype)
        self.scale_ = np.where(std > 0, std, 1.0).astype(arr.dtype)
        return self

    def transform(self, X: Any) -> Any:
        arr, t = _to_array(X, "StandardScaler.transform")
        self._check(arr)
        return _out(((arr - self.mean_) / self.scale_).astype(arr.dtype), t)

    def inverse_transform(self, Z: Any) -> Any:
        arr, t = _to_array(Z, "StandardScaler.inverse_transform")
        self._check(arr, "inverse_transform")
        return _out((arr * self.scale_ + self.mean_).astype(arr.dtype), t)


class MinMaxScaler(_Transformer):
    """z_j = (x_j - min_j) / (max_j - min_j) * (b - a) + a, with feature_range (a, b) = (0, 1) by default.

    Constant columns (max = min) map to a.  Values of later splits outside the
    training range fall outside [a, b] unless ``clip=True``.
    """

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0), clip: bool = False) -> None:
        a, b = feature_range
        if not a < b:
            raise ValueError(f"MinMaxScaler: feature_range must be (min, max) with min < max, got {feature_range}")
        self.feature_range = (float(a), float(b))
        self.clip = clip

    def fit(self, X: Any, y: Any = None) -> MinMaxScaler:
        arr, _ = _to_array(X, "MinMaxScaler.fit")
        self.n_features_in_ = arr.shape[1]
        self.data_min_ = arr.min(axis=0)
        self.data_max_ = arr.max(axis=0)
        rng = self.data_max_ - self.data_min_
        self.data_range_ = np.where(rng > 0, rng, 1.0)
        return self

    def transform(self, X: Any) -> Any:
        arr, t = _to_array(X, "MinMaxScaler.transform")
        self._check(arr)
        a, b = self.feature_range
        z = (arr - self.data_min_) / self.data_range_ * (b - a) + a
        if self.clip:
            z = np.clip(z, a, b)
        return _out(z.astype(arr.dtype), t)

    def inverse_transform(self, Z: Any) -> Any:
        arr, t = _to_array(Z, "MinMaxScaler.inverse_transform")
        self._check(arr, "inverse_transform")
        a, b = self.feature_range
        return _out(((arr - a) / (b - a) * self.data_range_ + self.data_min_).astype(arr.dtype), t)


class PCA(_Transformer):
    """Principal component analysis: project centred data on the top-k eigenvectors of its covariance.

    With C = (X - mu)^T (X - mu) / (N - 1) = V diag(lambda) V^T (eigenvalues descending),
    ``transform`` gives z = (x - mu) V_k, whose covariance is diag(lambda_1..k): the
    components are decorrelated.  ``whiten=True`` divides by sqrt(lambda), so the
    covariance of z is the identity.  Computed with an SVD of the centred data;
    each component's sign is fixed so that its largest-magnitude entry is positive.

    Attributes: components_ (k, D), explained_variance_ (k,), explained_variance_ratio_ (k,), mean_ (D,).
    """

    def __init__(self, n_components: int | None = None, whiten: bool = False) -> None:
        self.n_components = n_components
        self.whiten = whiten

    def fit(self, X: Any, y: Any = None) -> PCA:
        arr, _ = _to_array(X, "PCA.fit")
        n, d = arr.shape
        if n < 2:
            raise ValueError(f"PCA.fit: need at least 2 examples, got shape {tuple(arr.shape)}")
        k = min(n, d) if self.n_components is None else int(self.n_components)
        if not 1 <= k <= min(n, d):
            raise ValueError(f"PCA: n_components={self.n_components} must be between 1 and min(N, D) = {min(n, d)}")
        self.n_features_in_ = d
        self.mean_ = arr.mean(axis=0)
        xc = (arr - self.mean_).astype(np.float64)
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
        vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
        var = s**2 / (n - 1)
        self.components_ = vt[:k]
        self.explained_variance_ = var[:k]
        total = var.sum()
        self.explained_variance_ratio_ = var[:k] / total if total > 0 else np.zeros(k)
        self.singular_values_ = s[:k]
        return self

    def _scale(self) -> np.ndarray:
        ev = self.explained_variance_
        return np.sqrt(np.where(ev > 0, ev, 1.0)) if self.whiten else np.ones_like(ev)

    def transform(self, X: Any) -> Any:
        arr, t = _to_array(X, "PCA.transform")
        self._check(arr)
        z = (arr - self.mean_) @ self.components_.T / self._scale()
        return _out(z.astype(arr.dtype), t)

    def inverse_transform(self, Z: Any) -> Any:
        arr, t = _to_array(Z, "PCA.inverse_transform")
        if not hasattr(self, "components_"):
            raise RuntimeError("PCA.inverse_transform: call fit() first")
        k = self.components_.shape[0]
        if arr.shape[1] != k:
            raise ValueError(f"PCA.inverse_transform: Z has {arr.shape[1]} columns, expected {k} components")
        x = (arr * self._scale()) @ self.components_ + self.mean_
        return _out(x.astype(arr.dtype), t)


class PolynomialFeatures(_Transformer):
    """All monomials x_1^{p_1} ... x_D^{p_D} with total degree 1 <= sum p <= degree (and 1 if include_bias).

    1-D input (N,) is treated as one feature: [1, x, x^2, ..., x^degree] — the notes'
    polynomial regression.  Columns are ordered by degree, then lexicographically
    (for D = 2, degree 2: 1, x1, x2, x1^2, x1 x2, x2^2).
    """

    def __init__(self, degree: int = 2, include_bias: bool = True) -> None:
        if not isinstance(degree, int) or degree < 0:
            raise ValueError(f"PolynomialFeatures: degree must be a non-negative int, got {degree!r}")
        self.degree = degree
        self.include_bias = include_bias

    def fit(self, X: Any, y: Any = None) -> PolynomialFeatures:
        arr, _ = _to_array(X, "PolynomialFeatures.fit", ndim=None)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
        if arr.ndim != 2:
            raise ValueError(f"PolynomialFeatures: expected shape (N,) or (N, D), got {tuple(arr.shape)}")
        self.n_features_in_ = arr.shape[1]
        start = 0 if self.include_bias else 1
        self.powers_ = [
            combo
            for deg in range(start, self.degree + 1)
            for combo in itertools.combinations_with_replacement(range(self.n_features_in_), deg)
        ]
        return self

    @property
    def n_output_features_(self) -> int:
        return len(self.powers_)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> list[str]:
        names = list(input_features) if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)]
        out = []
        for combo in self.powers_:
            if not combo:
                out.append("1")
                continue
            parts = []
            for j in sorted(set(combo)):
                p = combo.count(j)
                parts.append(names[j] if p == 1 else f"{names[j]}^{p}")
            out.append(" ".join(parts))
        return out

    def transform(self, X: Any) -> Any:
        arr, t = _to_array(X, "PolynomialFeatures.transform", ndim=None)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
        self._check(arr)
        cols = [np.prod(arr[:, list(c)], axis=1) if c else np.ones(arr.shape[0], arr.dtype) for c in self.powers_]
        return _out(np.stack(cols, axis=1).astype(arr.dtype), t)


class OneHotEncoder(_Transformer):
    """Each categorical column with categories c_1..c_K becomes K indicator columns.

    X is an (N, D) array of any values (strings, ints); categories are learnt per
    column in sorted order.  ``handle_unknown='error'`` (default) raises naming the
    column and value; ``'ignore'`` gives an all-zero row block.
    """

    def __init__(self, handle_unknown: str = "error", dtype: Any = np.float32) -> None:
        if handle_unknown not in ("error", "ignore"):
            raise ValueError(f"OneHotEncoder: handle_unknown must be 'error' or 'ignore', got {handle_unknown!r}")
        self.handle_unknown = handle_unknown
        self.dtype = dtype

    @staticmethod
    def _obj(X: Any) -> np.ndarray:
        arr = np.asarray(X._array if isinstance(X, Tensor) else X, dtype=object)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"OneHotEncoder: expected shape (N, D), got {tuple(arr.shape)}")
        return arr

    def fit(self, X: Any, y: Any = None) -> OneHotEncoder:
        arr = self._obj(X)
        self.n_features_in_ = arr.shape[1]
        self.categories_ = [np.array(sorted(set(arr[:, j].tolist())), dtype=object) for j in range(arr.shape[1])]
        return self

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> list[str]:
        names = list(input_features) if input_features is not None else [f"x{i}" for i in range(self.n_features_in_)]
        return [f"{names[j]}={c}" for j, cats in enumerate(self.categories_) for c in cats]

    def transform(self, X: Any) -> np.ndarray:
        arr = self._obj(X)
        self._check(arr)
        blocks = []
        for j, cats in enumerate(self.categories_):
            lookup = {c: k for k, c in enumerate(cats.tolist())}
            block = np.zeros((arr.shape[0], len(cats)), dtype=self.dtype)
            for i, v in enumerate(arr[:, j].tolist()):
                k = lookup.get(v)
                if k is None:
                    if self.handle_unknown == "error":
                        raise ValueError(
                            f"OneHotEncoder: unknown category {v!r} in column {j} (row {i}); "
                            f"known: {cats.tolist()}"
                        )
                    continue
                block[i, k] = 1
            blocks.append(block)
        return np.concatenate(blocks, axis=1)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        z = np.asarray(Z._array if isinstance(Z, Tensor) else Z)
        widths = [len(c) for c in self.categories_]
        if z.ndim != 2 or z.shape[1] != sum(widths):
            raise ValueError(f"OneHotEncoder.inverse_transform: expected shape (N, {sum(widths)}), got"
                             f" {tuple(z.shape)}")
        out = np.empty((z.shape[0], len(widths)), dtype=object)
        start = 0
        for j, w in enumerate(widths):
            out[:, j] = self.categories_[j][np.argmax(z[:, start : start + w], axis=1)]
            start += w
        return out


def train_val_test_split(
    *arrays: Any,
    val_size: float = 0.15,
    test_size: float = 0.15,
    stratify: Any = None,
    shuffle: bool = True,
    generator: Any = None,
    seed: int | None = None,
) -> list:
    """Split arrays (same first dimension N) into train, validation and test parts.

    Returns ``[a_train, a_val, a_test, b_train, b_val, b_test, ...]`` (sklearn's order).
    Sizes: n_test = round(N * test_size), n_val = round(N * val_size), the rest is training.
    ``stratify=labels`` splits each class separately with the same fractions, so every part
    keeps the class proportions (the counts per class are rounded so that totals match).
    ``seed`` (or a ``generator``) makes the shuffle reproducible.
    """
    if not arrays:
        raise ValueError("train_val_test_split: give at least one array")
    n = len(arrays[0])
    for k, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(
                f"train_val_test_split: array {k} has {len(a)} rows but array 0 has {n}; "
                "features and labels must have the same number of rows"
            )
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise ValueError(
            "train_val_test_split: need 0 <= val_size, test_size and val_size + test_size < 1, "
            f"got {val_size}, {test_size}"
        )
    rng = np.random.default_rng(seed) if seed is not None else _rng(generator)
    n_test, n_val = int(round(n * test_size)), int(round(n * val_size))
    if stratify is None:
        order = rng.permutation(n) if shuffle else np.arange(n)
        parts = [order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]]
    else:
        labels = np.asarray(stratify._array if isinstance(stratify, Tensor) else stratify)
        if len(labels) != n:
            raise ValueError(f"train_val_test_split: stratify has {len(labels)} labels for {n} rows")
        classes, y = np.unique(labels, return_inverse=True)
        counts = np.bincount(y)
        # largest-remainder rounding of the per-class test and validation counts
        t_cls = _apportion(counts, n_test)
        v_cls = _apportion(counts - t_cls, n_val, total=counts)
        tr, va, te = [], [], []
        for c in range(len(classes)):
            idx = np.flatnonzero(y == c)
            if shuffle:
                idx = rng.permutation(idx)
            te.append(idx[: t_cls[c]])
            va.append(idx[t_cls[c] : t_cls[c] + v_cls[c]])
            tr.append(idx[t_cls[c] + v_cls[c] :])
        parts = [np.concatenate(p) for p in (tr, va, te)]
        if shuffle:
            parts = [rng.permutation(p) for p in parts]
    out: list[Any] = []
    for a in arrays:
        for p in parts:
            if isinstance(a, Tensor):
                out.append(Tensor._wrap(a._array[p]))
            elif isinstance(a, np.ndarray):
                out.append(a[p])
            else:
                out.append([a[i] for i in p])
    return out


def _apportion(avail: np.ndarray, k: int, total: np.ndarray | None = None) -> np.ndarray:
    """Split k among classes in proportion to ``total`` (default avail), never exceeding avail."""
    total = avail if total is None else total
    share = total / total.sum() * k
    base = np.minimum(np.floor(share).astype(int), avail)
    rem = k - base.sum()
    for c in np.argsort(-(share - base), kind="stable"):
        if rem <= 0:
            break
        if base[c] < avail[c]:
            base[c] += 1
            rem -= 1
    return base
