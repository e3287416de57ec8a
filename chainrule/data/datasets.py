"""Data sets that need no download.

Generated (NumPy only, seeded with ``seed=``):

* ``make_xor``: the notes' XOR table, optionally resampled with noise;
* ``make_spirals``, ``make_moons``, ``make_circles``: 2-D classification toys;
* ``make_linear_regression``, ``make_polynomial_regression``: y = f(x) + noise.

Shipped with scikit-learn (``load_dataset(name)``): digits (8x8 images, 10
classes), iris, wine, breast_cancer (classification) and diabetes (regression),
split into named, stratified train/val/test parts, with the features scaled
using statistics of the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from chainrule.data.preprocessing import MinMaxScaler, StandardScaler, train_val_test_split


def _rng(seed: Any) -> np.random.Generator:
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    return getattr(seed, "rng", seed)


def _check_n(n: int, name: str, minimum: int = 1) -> None:
    if not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: n_samples must be an int >= {minimum}, got {n!r}")


def make_xor(n_samples: int = 4, noise: float = 0.0, seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """XOR: x in {0, 1}^2, y = x1 xor x2.

    ``make_xor()`` is the four-row truth table (X (4, 2) float32, y (4,) int64, y = [0, 1, 1, 0]).
    With more samples, the corners repeat in order and Gaussian noise of std ``noise`` is added to X.
    """
    _check_n(n_samples, "make_xor")
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    idx = np.arange(n_samples) % 4
    X = corners[idx] + (noise * _rng(seed).standard_normal((n_samples, 2)) if noise > 0 else 0.0)
    y = (corners[idx, 0] != corners[idx, 1]).astype(np.int64)
    return X.astype(np.float32), y


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, turns: float = 1.0, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (not linearly separable).

    Arm k, point t in [0, 1]: radius r = t, angle = 2 pi (turns t + k / n_classes) + noise * N(0, 1);
    x = r (sin angle, cos angle).  Returns X (n_samples, 2) float32, y (n_samples,) int64.
    """
    _check_n(n_samples, "make_spirals", n_classes)
    rng = _rng(seed)
    y = np.arange(n_samples) % n_classes
    t = np.empty(n_samples)
    for k in range(n_classes):
        m = int((y == k).sum())
        t[y == k] = np.linspace(0.0, 1.0, m)
    angle = 2 * np.pi * (turns * t + y / n_classes) + noise * rng.standard_normal(n_samples)
    X = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def make_moons(n_samples: int = 200, noise: float = 0.1, seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: class 0 is (cos s, sin s), class 1 is (1 - cos s, 1/2 - sin s), s in [0, pi]."""
    _check_n(n_samples, "make_moons", 2)
    rng = _rng(seed)
    n0 = n_samples // 2 + n_samples % 2
    n1 = n_samples // 2
    s0, s1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.stack([np.cos(s0), np.sin(s0)], 1), np.stack([1 - np.cos(s1), 0.5 - np.sin(s1)], 1)])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return X.astype(np.float32), y


def make_circles(
    n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor`` (0 < factor < 1)."""
    _check_n(n_samples, "make_circles", 2)
    if not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor}")
    rng = _rng(seed)
    n0 = n_samples // 2 + n_samples % 2
    n1 = n_samples // 2
    s0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    s1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.stack([np.cos(s0), np.sin(s0)], 1), factor * np.stack([np.cos(s1), np.sin(s1)], 1)])
    X = X + noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return X.astype(np.float32), y


def make_linear_regression(
    n_samples: int = 100, n_features: int = 1, noise: float = 0.1, seed: Any = None, return_coef: bool = False
) -> tuple:
    """y = X w + b + noise * N(0, 1), X ~ U[-1, 1]^{n_features}, w ~ N(0, 1), b ~ N(0, 1).

    Returns (X (N, D) float32, y (N,) float32), plus (w (D,), b) when ``return_coef``.
    """
    _check_n(n_samples, "make_linear_regression")
    rng = _rng(seed)
    X = rng.uniform(-1, 1, (n_samples, n_features))
    w = rng.standard_normal(n_features)
    b = float(rng.standard_normal())
    y = X @ w + b + noise * rng.standard_normal(n_samples)
    out = (X.astype(np.float32), y.astype(np.float32))
    return out + (w, b) if return_coef else out


def make_polynomial_regression(
    degree: int = 3,
    n_samples: int = 100,
    noise: float = 0.1,
    seed: Any = None,
    coef: Any = None,
    return_coef: bool = False,
) -> tuple:
    """y = sum_{k=0}^{degree} c_k x^k + noise * N(0, 1), x ~ U[-1, 1] (the notes' polynomial regression).

    The coefficients default to c_k ~ N(0, 1) with |c_degree| >= 1 so that the true degree
    is visible in the data.  Returns (x (N,) float32, y (N,) float32) and the coefficients
    (lowest power first) when ``return_coef``.
    """
    _check_n(n_samples, "make_polynomial_regression")
    if not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"make_polynomial_regression: degree must be an int >= 0, got {degree!r}")
    rng = _rng(seed)
    if coef is None:
        c = rng.standard_normal(degree + 1)
        c[-1] = np.sign(c[-1] or 1.0) * (1.0 + abs(c[-1]))
    else:
        c = np.asarray(coef, dtype=np.float64)
        if c.shape != (degree + 1,):
            raise ValueError(f"make_polynomial_regression: coef must have shape ({degree + 1},), got {tuple(c.shape)}")
    x = rng.uniform(-1, 1, n_samples)
    y = np.polynomial.polynomial.polyval(x, c) + noise * rng.standard_normal(n_samples)
    out = (x.astype(np.float32), y.astype(np.float32))
    return out + (c,) if return_coef else out


# -- scikit-learn's bundled data sets --------------------------------------------------------------

_SKLEARN = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}
DATASETS = tuple(_SKLEARN)


class Split(NamedTuple):
    """One part of a data set: X (n, ...) float32 and y (n,) (int64 labels or float32 targets)."""

    X: np.ndarray
    y: np.ndarray

    def dataset(self, transform: Any = None) -> Any:
        """The part as a ``TensorDataset`` (``transform`` applies to X, e.g. augmentation)."""
        from chainrule.utils.data import TensorDataset

        return TensorDataset(self.X, self.y, transform=transform)

    @property
    def n(self) -> int:
        """Number of examples."""
        return len(self.y)


@dataclass
class DataSplits:
    """A data set split into ``train``, ``val`` and ``test`` parts, with what a model needs to know."""

    name: str
    task: str  # "classification" or "regression"
    train: Split
    val: Split
    test: Split
    num_classes: int  # 0 for regression
    input_shape: tuple  # shape of one example, e.g. (1, 8, 8) or (30,)
    feature_names: list = field(default_factory=list)
    target_names: list = field(default_factory=list)
    scaler: Any = None  # the transformer fitted on the training part (None for digits: pixels / 16)
    target_scaler: Any = None  # regression trained on a standardised target: (mean, std) of the training part
    schema: Any = None  # a CSV data set's CSVSchema (columns, categories, classes), to read new rows

    def __getitem__(self, split: str) -> Split:
        if split not in ("train", "val", "test"):
            raise KeyError(f"DataSplits: no split {split!r}; use 'train', 'val' or 'test'")
        return getattr(self, split)

    def __repr__(self) -> str:
        return (
            f"DataSplits({self.name!r}, task={self.task}, train={self.train.n}, val={self.val.n}, "
            f"test={self.test.n}, input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets
    except ImportError as e:
        raise ImportError(
            "load_dataset needs scikit-learn for its bundled data sets: pip install scikit-learn "
            "(or pip install 'chainrule[data]')"
        ) from e
    return datasets


def load_dataset(
    name: str,
    val_size: float = 0.15,
    test_size: float = 0.2,
    seed: int = 0,
    scale: str | None = "standard",
    flatten: bool = False,
) -> DataSplits:
    """Load one of scikit-learn's bundled data sets as stratified train/val/test splits.

    Args:
        name: 'digits', 'iris', 'wine', 'breast_cancer' or 'diabetes'.
        val_size: the fraction of all examples for validation.
        test_size: the fraction of all examples for test.
        seed: the shuffle of the split (the same seed gives the same split).
        scale: 'standard' (zero mean, unit variance), 'minmax' ([0, 1]) or None; fitted on
            the training part only.  Digits are always scaled by the known pixel range
            (x / 16, so in [0, 1]) and ``scale`` is ignored for them.
        flatten: digits as (N, 64) vectors instead of (N, 1, 8, 8) images.

    Returns a ``DataSplits`` with ``.train``, ``.val``, ``.test`` (each ``Split(X, y)``).
    """
    key = name.lower().replace("-", "_")
    if key not in _SKLEARN:
        raise ValueError(f"load_dataset: unknown data set {name!r}; available: {', '.join(DATASETS)}")
    loader, task = _SKLEARN[key]
    bunch = getattr(_sklearn_datasets(), loader)()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    y = y.astype(np.int64) if task == "classification" else y.astype(np.float32)
    parts = train_val_test_split(
        X, y, val_size=val_size, test_size=test_size, stratify=y if task == "classification" else None, seed=seed
    )
    (Xtr, Xva, Xte, ytr, yva, yte) = parts
    scaler = None
    if key == "digits":
        Xtr, Xva, Xte = (a / 16.0 for a in (Xtr, Xva, Xte))
    elif scale is not None:
        if scale not in ("standard", "minmax"):
            raise ValueError(f"load_dataset: scale must be 'standard', 'minmax' or None, got {scale!r}")
        scaler = (StandardScaler() if scale == "standard" else MinMaxScaler()).fit(Xtr)
        Xtr, Xva, Xte = (scaler.transform(a) for a in (Xtr, Xva, Xte))
    shape: tuple = (X.shape[1],)
    if key == "digits" and not flatten:
        shape = (1, 8, 8)
    Xtr, Xva, Xte = (a.reshape((-1,) + shape).astype(np.float32) for a in (Xtr, Xva, Xte))
    names = [str(n) for n in getattr(bunch, "feature_names", [])] if key != "digits" else []
    targets = [str(t) for t in getattr(bunch, "target_names", [])] if task == "classification" else []
    return DataSplits(
        name=key,
        task=task,
        train=Split(Xtr, ytr),
        val=Split(Xva, yva),
        test=Split(Xte, yte),
        num_classes=int(y.max()) + 1 if task == "classification" else 0,
        input_shape=shape,
        feature_names=names,
        target_names=targets,
        scaler=scaler,
    )
