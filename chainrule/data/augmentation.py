"""Image augmentation for training (the notes: "data augmentation (image translate)";
augment the training set, never the test set).

Each transform is a callable on one example image of shape (..., H, W) — e.g.
(C, H, W) — given as a Tensor or an array, returning the same type and shape,
so it plugs into ``TensorDataset(X, y, transform=...)``:

    train = TensorDataset(X, y, transform=Compose([RandomTranslate(1)]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.utils.data.sampler import _rng


def _unwrap(img: Any) -> tuple[np.ndarray, bool]:
    if isinstance(img, Tensor):
        return img._array, True
    return np.asarray(img), False


def _wrap(arr: np.ndarray, as_tensor: bool) -> Any:
    return Tensor._wrap(arr) if as_tensor else arr


def translate(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift the last two axes by (dy, dx) pixels (down, right positive); vacated pixels are 0.

    out[..., i, j] = img[..., i - dy, j - dx] where that index is inside the image, else 0.
    """
    if img.ndim < 2:
        raise ValueError(f"translate: expected an image of shape (..., H, W), got shape {tuple(img.shape)}")
    h, w = img.shape[-2:]
    out = np.zeros_like(img)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y = slice(max(0, -dy), h - max(0, dy))
    dst_y = slice(max(0, dy), h - max(0, -dy))
    src_x = slice(max(0, -dx), w - max(0, dx))
    dst_x = slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = img[..., src_y, src_x]
    return out


class RandomTranslate:
    """Shift the image by (dy, dx), each uniform on {-max_shift, ..., max_shift}, filling with zeros.

    ``max_shift`` may be an int or a pair (max_dy, max_dx).  Each call draws a new shift from
    ``generator`` (default: chainrule's default generator).
    """

    def __init__(self, max_shift: int | Sequence[int] = 1, generator: Any = None) -> None:
        my, mx = (max_shift, max_shift) if isinstance(max_shift, (int, np.integer)) else tuple(max_shift)
        if my < 0 or mx < 0:
            raise ValueError(f"RandomTranslate: max_shift must be >= 0, got {max_shift!r}")
        self.max_shift = (int(my), int(mx))
        self.generator = generator

    def __call__(self, img: Any) -> Any:
        arr, t = _unwrap(img)
        rng = _rng(self.generator)
        dy = int(rng.integers(-self.max_shift[0], self.max_shift[0] + 1))
        dx = int(rng.integers(-self.max_shift[1], self.max_shift[1] + 1))
        return _wrap(translate(arr, dy, dx), t)

    def __repr__(self) -> str:
        return f"RandomTranslate(max_shift={self.max_shift})"


class RandomHorizontalFlip:
    """Mirror the image left-right (last axis) with probability p.

    Not for digits or text (a mirrored 2 is not a 2), so it is off in the digits demo.
    """

    def __init__(self, p: float = 0.5, generator: Any = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator = generator

    def __call__(self, img: Any) -> Any:
        arr, t = _unwrap(img)
        if _rng(self.generator).random() < self.p:
            arr = np.ascontiguousarray(arr[..., ::-1])
        return _wrap(arr, t)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms in order: Compose([f, g])(x) = g(f(x))."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for f in self.transforms:
            img = f(img)
        return img

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(f) for f in self.transforms) + "])"
