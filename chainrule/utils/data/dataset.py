"""Data sets: anything with ``__getitem__(i)`` and ``__len__`` (PyTorch's ``torch.utils.data.dataset``).

* ``TensorDataset(X, y)``: example ``i`` is ``(X[i], y[i])``, with an optional ``transform``
  applied to the first tensor (the place for data augmentation);
* ``Subset(ds, indices)``, ``ConcatDataset([ds1, ds2])``;
* ``IterableDataset``: a stream (define ``__iter__``); ``ChainDataset`` puts streams end to end;
* ``random_split(ds, [0.8, 0.2], generator)``: disjoint random subsets.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.utils.data.sampler import _rng


class Dataset:
    """Base class of map-style data sets: define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of stream data sets: define ``__iter__()`` (PyTorch's ``IterableDataset``).

    A DataLoader draws examples from ``iter(dataset)`` instead of indexing it.  With
    ``num_workers > 0`` every worker iterates its own copy, so a data set meant for
    several workers splits the stream itself, using ``get_worker_info()``::

        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, n, step))
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several stream data sets one after the other (PyTorch's ``ChainDataset``; ``a + b``)."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _as_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return Tensor._wrap(np.asarray(x))


class TensorDataset(Dataset):
    """Examples are slices along the first dimension of the given tensors.

    ``TensorDataset(X, y)[i] == (X[i], y[i])``.  All tensors must have the same
    first dimension N.  NumPy arrays are accepted and wrapped without a copy.
    ``transform``, if given, is applied to the first tensor of each example
    (e.g. ``RandomTranslate`` for images), so augmentation happens per draw.
    """

    def __init__(self, *tensors: Any, transform: Callable[[Tensor], Tensor] | None = None) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.tensors = tuple(_as_tensor(t) for t in tensors)
        n = self.tensors[0].shape[0] if self.tensors[0].ndim else None
        for k, t in enumerate(self.tensors):
            if t.ndim == 0 or t.shape[0] != n:
                shapes = [tuple(u.shape) for u in self.tensors]
                raise ValueError(
                    f"TensorDataset: size mismatch between tensors: tensor {k} has shape {tuple(t.shape)}; "
                    f"all first dimensions must agree (got shapes {shapes})"
                )
        self.transform = transform

    def __getitem__(self, index: int) -> tuple:
        items = tuple(Tensor._wrap(np.asarray(t._array[index])) for t in self.tensors)
        if self.transform is not None:
            items = (self.transform(items[0]),) + items[1:]
        return items

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class StackDataset(Dataset):
    """Several data sets of the same length side by side: example ``i`` is the tuple
    ``(d0[i], d1[i], ...)`` of ``StackDataset(d0, d1, ...)``, or the dict
    ``{"a": a[i], "b": b[i]}`` of ``StackDataset(a=a, b=b)`` (positional or keyword data sets,
    not both).  ``__getitems__(indices)`` gives a list of such examples (the DataLoader's batched
    fetch), calling a data set's own ``__getitems__`` when it has one."""

    datasets: tuple | dict

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("StackDataset: give the data sets as positional arguments (tuples) or as "
                             "keyword arguments (dicts), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: give at least one data set")
        named = list(kwargs.items()) if kwargs else [(k, d) for k, d in enumerate(args)]
        lengths = {k: len(d) for k, d in named}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"StackDataset: size mismatch between datasets: lengths {lengths}")
        self._length = next(iter(lengths.values()))
        self.datasets = dict(kwargs) if kwargs else tuple(args)

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list) -> list:
        def column(d: Any) -> list:
            if callable(getattr(d, "__getitems__", None)):
                items = d.__getitems__(indices)
                if len(items) != len(indices):
                    raise ValueError(f"StackDataset: a nested __getitems__ returned {len(items)} items "
                                     f"for {len(indices)} indices")
                return list(items)
            return [d[i] for i in indices]

        if isinstance(self.datasets, dict):
            cols = {k: column(d) for k, d in self.datasets.items()}
            return [{k: c[j] for k, c in cols.items()} for j in range(len(indices))]
        tcols = [column(d) for d in self.datasets]
        return [tuple(c[j] for c in tcols) for j in range(len(indices))]

    def __len__(self) -> int:
        return self._length


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, idx: int) -> Any:
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several data sets one after the other: index ``i`` runs through them in order."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes: list[int] = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer lengths from fractions (summing to 1) or from lengths (summing to n), PyTorch's rule.

    Lengths that sum to 1 (within ``math.isclose``) are fractions, even ``[1]``: each
    split gets floor(n * f), then the remainder goes one by one to the splits in order,
    so the lengths always sum to n; a split of length 0 is warned about.  Anything else
    must be non-negative integers summing to n.
    """
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        out = []
        for i, f in enumerate(lengths):
            if f < 0 or f > 1:
                raise ValueError(f"random_split: fraction at index {i} is {f}, not between 0 and 1")
            out.append(math.floor(n * f))
        for i in range(n - sum(out)):
            out[i % len(out)] += 1
        for i, length in enumerate(out):
            if length == 0:
                warnings.warn(
                    f"random_split: length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=3,
                )
        return out
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in lengths):
        raise ValueError(
            f"random_split: lengths {lengths} must be fractions that sum to 1 or non-negative integers "
            f"that sum to the length of the data set ({n})"
        )
    if total != n:
        raise ValueError(
            f"random_split: sum of input lengths {lengths} ({total}) does not equal the length "
            f"of the input dataset ({n})"
        )
    return [int(v) for v in lengths]


def random_split(dataset: Any, lengths: Sequence[float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random ``Subset``s of the given lengths (ints or fractions)."""
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    perm = _rng(generator).permutation(n).tolist()
    out, start = [], 0
    for s in sizes:
        out.append(Subset(dataset, perm[start : start + s]))
        start += s
    return out
