"""DataLoader: mini-batches from a data set (PyTorch's ``torch.utils.data.DataLoader``).

The notes' mini-batch SGD: shuffle the training set every epoch and walk it in
batches of m examples (m = 64 in the notes).  A loader is

    indices  --sampler-->  i0, i1, ...  --batch_sampler-->  [i0..i_{m-1}], ...
    batch    = collate_fn([dataset[i] for i in batch_indices])

``default_collate`` stacks Tensors/arrays along a new first dimension
(shape (m, *example_shape)), turns Python numbers into a 1-D tensor of
length m, and recurses into tuples, lists and dicts.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.utils.data.dataset import Subset, TensorDataset
from chainrule.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler


def default_collate(batch: list) -> Any:
    """Merge a list of m examples into one batch.

    Tensor / ndarray of shape S      -> Tensor of shape (m, *S)
    int / float / bool               -> Tensor of shape (m,) (int64 / float64 / bool, as PyTorch)
    str                              -> list of m strings
    dict                             -> dict of collated values (same keys)
    tuple / list of k fields         -> list of k collated fields (namedtuples keep their type)
    """
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) != 1:
            raise RuntimeError(
                f"default_collate: stack expects each tensor to be equal size, got shapes {sorted(shapes)}"
            )
        return Tensor._wrap(np.stack([b.data for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(f"default_collate: arrays of dtype {elem.dtype} can't be batched into a tensor")
        return Tensor._wrap(np.stack(batch))
    if isinstance(elem, np.generic):
        return Tensor._wrap(np.asarray(batch))
    if isinstance(elem, bool):
        return Tensor._wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor._wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        lengths = {len(e) for e in batch}
        if len(lengths) != 1:
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def default_convert(data: Any) -> Any:
    """Turn arrays in one (unbatched) example into Tensors, leaving the structure alone."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USO":
        return Tensor._wrap(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple):
        return tuple(default_convert(d) for d in data)
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


def _fast_source(dataset: Any) -> tuple[TensorDataset, np.ndarray | None] | None:
    """(TensorDataset, index map) when a batch can be gathered with one fancy index, else None."""
    index_map = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    if type(dataset) is TensorDataset and dataset.transform is None:
        return dataset, index_map
    return None


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Args (PyTorch's meanings):
        batch_size: examples per batch (None: yield single examples, unbatched).
        shuffle: a new random order every epoch (a ``RandomSampler`` using ``generator``).
        sampler / batch_sampler: custom index order / custom batches (exclusive with shuffle etc.).
        num_workers: only 0 is supported (loading happens in the main process).
        collate_fn: merges a list of examples into a batch (default: ``default_collate``).
        drop_last: drop the last, incomplete batch.
        generator: seeds the shuffling (a ``chainrule.Generator``); None uses the default generator.

    A ``TensorDataset`` (or a ``Subset`` of one) without a transform is batched with a
    single fancy index instead of m ``__getitem__`` calls; the result is the same.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable | None = None,
        generator: Any = None,
    ) -> None:
        if num_workers != 0:
            raise ValueError(
                f"DataLoader: num_workers={num_workers} is not supported; chainrule loads data in the "
                "main process (use num_workers=0)"
            )
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        bad_size = not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
        if batch_size is not None and bad_size:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")

        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = 0
        self.generator = generator
        self._custom_collate = collate_fn is not None
        if collate_fn is None:
            collate_fn = default_collate if self.batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:  # no auto-batching
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
            return
        fast = None if self._custom_collate else _fast_source(self.dataset)
        for indices in self.batch_sampler:
            if fast is not None:
                ds, index_map = fast
                idx = np.asarray(indices, dtype=np.int64)
                if index_map is not None:
                    idx = index_map[idx]
                yield [Tensor._wrap(t.data[idx]) for t in ds.tensors]
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)
