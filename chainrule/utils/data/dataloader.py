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

import collections
import collections.abc
import copy
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np

from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_default_dtype
from chainrule.utils.data import _worker
from chainrule.utils.data._worker import get_worker_info
from chainrule.utils.data.dataset import IterableDataset, Subset, TensorDataset
from chainrule.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler, _rng

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]


def _is_str_array(a: np.ndarray) -> bool:
    return a.dtype.kind in "USO"


def _rebuild(elem: Any, values: Any) -> Any:
    """A container like ``elem`` holding ``values`` (a dict or a list), as PyTorch rebuilds it.

    Mutable containers are copied and filled (a subclass keeps its extra state);
    immutable ones are built from the values; a type that allows neither gives a
    plain dict / list.
    """
    kind: Any = type(elem)
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            mapping = copy.copy(elem)
            mapping.update(values)
            return mapping
        if isinstance(elem, collections.abc.MutableSequence):
            seq = copy.copy(elem)
            for i, v in enumerate(values):
                seq[i] = v
            return seq
        return kind(values)
    except TypeError:
        return values


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a sequence of m examples into one batch, as ``torch.utils.data.default_collate``.

    Tensor / ndarray of shape S  -> Tensor of shape (m, *S) (same dtype)
    NumPy scalar                 -> Tensor of shape (m,) (same dtype)
    float                        -> Tensor of shape (m,), float64 (PyTorch's rule, not the default dtype)
    int / bool                   -> Tensor of shape (m,) with the dtype ``torch.tensor(batch)`` infers:
                                    bool if all are bools, int64 if all are ints, the default float dtype
                                    if a float follows the first int
    str / bytes                  -> the m values unchanged (a list at the top, a tuple inside a structure)
    dict (Mapping)               -> the same mapping type, each key's values collated
    namedtuple                   -> the same namedtuple, each field collated
    tuple                        -> list of collated fields
    list (other Sequence)        -> the same sequence type, each position collated
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
        return Tensor._wrap(np.stack([b._array for b in batch]))
    if isinstance(elem, np.ndarray):
        if _is_str_array(elem):
            raise TypeError(
                f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                f"found an array of dtype {elem.dtype}"
            )
        return Tensor._wrap(np.stack(batch))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return Tensor._wrap(np.asarray(batch))
    if isinstance(elem, float):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):  # bool too: dtype inferred from all values, as torch.tensor(batch)
        arr = np.asarray(batch)
        if arr.dtype.kind == "b":
            return Tensor._wrap(arr)
        if arr.dtype.kind in "iu":
            return Tensor._wrap(arr.astype(np.int64, copy=False))
        if arr.dtype.kind == "f":
            return Tensor._wrap(arr.astype(get_default_dtype()))
        raise TypeError(f"default_collate: a batch starting with an int holds non-numbers ({arr.dtype})")
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        lengths = {len(e) for e in batch}
        if len(lengths) != 1:
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        fields = [default_collate(s) for s in zip(*batch)]
        return fields if isinstance(elem, tuple) else _rebuild(elem, fields)
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def default_convert(data: Any) -> Any:
    """Turn the NumPy arrays and scalars of one (unbatched) example into Tensors, as PyTorch's.

    Used when ``batch_size=None``.  Containers are rebuilt like ``default_collate``'s
    (a mapping keeps its type, a namedtuple its fields, a tuple becomes a list -- PyTorch's
    rule); string arrays, numbers and strings are returned unchanged.
    """
    if isinstance(data, np.ndarray):
        return data if _is_str_array(data) else Tensor._wrap(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(data, {k: default_convert(data[k]) for k in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
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


class _MapFetcher:
    """Builds one batch of a map-style data set from its indices (or one example, without auto-batching)."""

    def __init__(self, auto_collation: bool, collate_fn: Callable, custom_collate: bool) -> None:
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.custom_collate = custom_collate

    def __call__(self, dataset: Any, indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(dataset[indices])
        fast = None if self.custom_collate else _fast_source(dataset)
        if fast is not None:  # one fancy index instead of m __getitem__ calls; same result
            ds, index_map = fast
            idx = np.asarray(indices, dtype=np.int64)
            if index_map is not None:
                idx = index_map[idx]
            return [Tensor._wrap(t._array[idx]) for t in ds.tensors]
        return self.collate_fn([dataset[i] for i in indices])


class _IterableFetcher:
    """Takes the next batch (``batch_size`` examples) from an iterator over an IterableDataset."""

    def __init__(self, auto_collation: bool, collate_fn: Callable, batch_size: int | None, drop_last: bool) -> None:
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __call__(self, it: Iterator[Any], _indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(next(it))
        batch = list(itertools.islice(it, self.batch_size))
        if not batch or (self.drop_last and len(batch) < (self.batch_size or 0)):
            raise StopIteration
        return self.collate_fn(batch)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches, in the main process or in worker processes.

    Args (PyTorch's meanings and defaults):
        dataset: a map-style data set (``__getitem__``/``__len__``) or an ``IterableDataset``.
        batch_size: examples per batch (None: yield single examples, unbatched).
        shuffle: a new random order every epoch (a ``RandomSampler`` using ``generator``).
        sampler: custom index order (exclusive with shuffle).
        batch_sampler: custom batches (exclusive with batch_size, shuffle, sampler, drop_last).
        num_workers: 0 loads in the main process; k > 0 starts k worker processes.
        collate_fn: merges a list of examples into a batch (default: ``default_collate``;
            ``default_convert`` when batch_size is None).
        pin_memory: accepted; without an accelerator it does nothing and warns, as PyTorch does.
        drop_last: drop the last, incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: forever); RuntimeError after.
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: a start method name ("fork", "spawn", "forkserver") or a context;
            None: Python's default for the platform (what PyTorch uses too).
        generator: seeds the shuffling and the workers' base seed (a ``chainrule.Generator``).
        prefetch_factor: batches loaded in advance per worker (default 2 when num_workers > 0).
        persistent_workers: keep the workers (and their data set copies) alive between epochs.
        pin_memory_device: accepted for compatibility (deprecated in PyTorch).
        in_order: False lets batches arrive in the order the workers finish them.

    Workers: batch ``j`` is built by worker ``j mod num_workers`` and the batches come back
    in the sampler's order, so with the same generator seed the batches equal those of
    ``num_workers=0``.  Each iterator draws a ``base_seed`` from ``generator`` (also with
    ``num_workers=0``, so that both consume the generator alike); worker ``k`` seeds
    ``random``, chainrule's default generator and ``np.random`` from ``base_seed + k``
    (see ``get_worker_info``).  An exception in a worker is raised again in the main
    process, of the same type, with the worker's traceback in its message.

    A ``TensorDataset`` (or a ``Subset`` of one) without a transform is batched with a
    single fancy index instead of m ``__getitem__`` calls; the result is the same.  With the
    default ``collate_fn`` and no ``worker_init_fn`` such a data set is gathered in the main
    process even when ``num_workers > 0`` (no worker is started): no user code runs per
    example, and the gather costs less than shipping the batch from a worker.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers option should be a non-negative int, got {num_workers!r}; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError(f"DataLoader: prefetch_factor option should be non-negative, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler}"
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

        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self.generator = generator
        self.multiprocessing_context = _mp_context(multiprocessing_context, num_workers)
        self._custom_collate = collate_fn is not None
        self._auto_collation = batch_size is not None or batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._workers: _MultiProcessIter | None = None  # persistent workers' iterator

    def _gathered_in_main_process(self) -> bool:
        """True when batches are one fancy index of a TensorDataset and no ``worker_init_fn``
        asks for workers: then workers are not started.

        No user code runs per example (no __getitem__, transform or collate_fn of the user's),
        so workers would have nothing to do in parallel, and shipping a batch from another
        process costs far more than the gather (64 x 784 float32: ~0.1 ms here against
        ~1 ms through a worker; bench/bench_data_loader.py).  The batches are the same.  A
        ``worker_init_fn`` is user code that expects to run in each worker, so with one the
        workers are started as asked.
        """
        return (
            not self._iterable
            and self._auto_collation
            and not self._custom_collate
            and self.worker_init_fn is None
            and (_fast_source(self.dataset) is not None)
        )

    def _fetcher(self) -> Callable[[Any, Any], Any]:
        if self._iterable:
            return _IterableFetcher(self._auto_collation, self.collate_fn, self.batch_size, self.drop_last)
        return _MapFetcher(self._auto_collation, self.collate_fn, self._custom_collate)

    def _index_iter(self) -> Iterator[Any]:
        """What the main process hands out per batch: indices (map-style) or a count (iterable)."""
        if self._iterable:
            return itertools.count()
        return iter(self.batch_sampler if self._auto_collation else self.sampler)

    def _base_seed(self) -> int:
        return int(_rng(self.generator).integers(0, 2**63 - 1))

    def __iter__(self) -> Iterator[Any]:
        if self.pin_memory:
            warnings.warn(
                "DataLoader: 'pin_memory' argument is set as true but no accelerator is found, "
                "then device pinned memory won't be used.",
                stacklevel=2,
            )
        base_seed = self._base_seed()  # drawn with or without workers, so both shuffle alike
        if self.num_workers == 0 or self._gathered_in_main_process():
            return self._single_process_iter()
        if self.persistent_workers:
            if self._workers is None or self._workers.closed:
                self._workers = _MultiProcessIter(self, base_seed)
            else:
                self._workers.reset(self)
            return self._workers
        return _MultiProcessIter(self, base_seed)

    def _single_process_iter(self) -> Iterator[Any]:
        fetch = self._fetcher()
        state = iter(self.dataset) if self._iterable else self.dataset
        for indices in self._index_iter():
            try:
                batch = fetch(state, indices)
            except StopIteration:
                return
            yield batch

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError if the stream has no length, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)


def _mp_context(context: Any, num_workers: int) -> Any:
    """The multiprocessing context for ``multiprocessing_context`` (a name, a context or None)."""
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError(
            "DataLoader: multiprocessing_context can only be used with multi-process loading "
            f"(num_workers > 0), but got num_workers={num_workers}"
        )
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(
                f"DataLoader: multiprocessing_context option should specify a valid start method in "
                f"{methods!r}, but got multiprocessing_context={context!r}"
            )
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(
            "DataLoader: multiprocessing_context option should be a valid context object or a string "
            f"specifying the start method, but got multiprocessing_context={context!r}"
        )
    return context


class _MultiProcessIter:
    """The main process's side of worker loading.

    Task ``j`` (the j-th batch of the sampler) goes to the next worker still running, in
    turn; at most ``prefetch_factor * num_workers`` tasks are outstanding.  Results arrive
    in any order on the workers' pipes and are held in ``pending`` until their turn, so batches
    leave in task order (``in_order=True``).
    """

    def __init__(self, loader: DataLoader, base_seed: int) -> None:
        self.closed = False
        self.num_workers = loader.num_workers
        self.iterable = loader._iterable
        self.timeout = loader.timeout
        self.in_order = loader.in_order
        self.persistent = loader.persistent_workers
        self.outstanding_limit = max(loader.prefetch_factor or 0, 1) * self.num_workers
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self.conns: list[Any] = []  # main process's end of each worker's pipe
        self.workers: list[Any] = []
        self.inbox: collections.deque = collections.deque()  # received, not yet looked at
        fetch = loader._fetcher()
        # shared memory for the batches' arrays needs the workers to inherit it: fork only
        forked = ctx.get_start_method() == "fork"
        self.arenas: list[_worker.Arena | None] = []
        self.freed: list[list[int]] = [[] for _ in range(self.num_workers)]  # slots to hand back
        try:
            for k in range(self.num_workers):
                mine, theirs = ctx.Pipe(duplex=True)
                arena = _worker.Arena(max(loader.prefetch_factor or 0, 1) + 2) if forked else None
                self.arenas.append(arena)
                self.conns.append(mine)
                # a forked worker inherits our ends of all pipes so far and must close them;
                # spawn and forkserver pass it only its own end
                inherited = tuple(self.conns) if forked else ()
                w = ctx.Process(
                    target=_worker.worker_loop,
                    args=(
                        loader.dataset,
                        self.iterable,
                        fetch,
                        theirs,
                        arena,
                        base_seed,
                        loader.worker_init_fn,
                        k,
                        self.num_workers,
                        inherited,
                    ),
                    daemon=True,
                )
                self.workers.append(w)
                w.start()
                theirs.close()  # the worker holds its end; ours must close so a dead worker reads as EOF
        except BaseException:
            self.shutdown()
            raise
        self._start_epoch(loader)

    def _start_epoch(self, loader: DataLoader) -> None:
        self.indices = loader._index_iter()
        self.active = [True] * self.num_workers  # False: its IterableDataset copy has ended
        self.next_worker = 0
        self.send_idx = 0  # next task id to send
        self.rcvd_idx = 0  # next task id to return
        self.task_worker: dict[int, int] = {}  # task id -> worker, for tasks not yet returned
        self.pending: dict[int, Any] = {}  # results that arrived before their turn
        self.sampler_done = False
        for _ in range(self.outstanding_limit):
            self._send_task()

    def reset(self, loader: DataLoader) -> None:
        """A new epoch on persistent workers.

        Each worker answers ``ResumeIteration`` after the tasks it already had, so the
        results of an epoch left early are read and dropped here, and an IterableDataset
        worker restarts its iterator.
        """
        for conn in self.conns:
            conn.send(_worker.ResumeIteration())
        self.freed = [[] for _ in range(self.num_workers)]  # each worker frees all its slots on resume
        acks = 0
        while acks < self.num_workers:
            tid, _ = self._get()
            if isinstance(tid, _worker.ResumeIteration):
                acks += 1
        self._start_epoch(loader)

    def _send_task(self) -> None:
        if self.sampler_done or len(self.task_worker) >= self.outstanding_limit:
            return
        for _ in range(self.num_workers):  # the next worker still running, in turn
            k = self.next_worker
            self.next_worker = (k + 1) % self.num_workers
            if self.active[k]:
                break
        else:
            return
        try:
            indices = next(self.indices)
        except StopIteration:
            self.sampler_done = True
            return
        self.conns[k].send((self.send_idx, indices, self.freed[k]))
        self.freed[k] = []
        self.task_worker[self.send_idx] = k
        self.send_idx += 1

    def _get(self) -> tuple[Any, Any]:
        """The next (task id, data) from any worker; checks for timeouts and dead workers."""
        waited = 0.0
        while not self.inbox:
            step = _worker.STATUS_CHECK_INTERVAL if self.timeout <= 0 else min(self.timeout - waited, 1.0)
            ready = multiprocessing.connection.wait(self.conns, timeout=max(step, 1e-3))
            for ready_conn in ready:
                conn = cast(Any, ready_conn)  # one of our Connections (PipeConnection on Windows)
                try:
                    tid, data, slot = conn.recv()
                except (EOFError, OSError):  # the worker's end closed: it died
                    continue
                if slot is not None:  # copy the arrays out now, so the slot can go back at once
                    k = self.conns.index(conn)
                    data = self.arenas[k].unpack(data)  # type: ignore[union-attr]
                    self.freed[k].append(slot)
                self.inbox.append((tid, data))
            if self.inbox:
                break
            waited += step
            dead = [w.pid for w in self.workers if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) exited unexpectedly")
            if self.timeout > 0 and waited >= self.timeout:
                self.shutdown()
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")
        return self.inbox.popleft()

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __next__(self) -> Any:
        if self.closed:
            raise StopIteration
        while True:
            # skip tasks of workers whose stream ended (their results will never come)
            while self.rcvd_idx < self.send_idx and self.rcvd_idx not in self.pending:
                k = self.task_worker.get(self.rcvd_idx)
                if k is not None and self.active[k]:
                    break
                self.task_worker.pop(self.rcvd_idx, None)
                self.rcvd_idx += 1
            if self.rcvd_idx >= self.send_idx and not self.pending:
                if not self.persistent:
                    self.shutdown()
                raise StopIteration
            if self.rcvd_idx in self.pending:
                return self._deliver(self.rcvd_idx, self.pending.pop(self.rcvd_idx))
            if not self.in_order and self.pending:
                tid = next(iter(self.pending))
                return self._deliver(tid, self.pending.pop(tid))
            tid, data = self._get()
            if isinstance(tid, _worker.ResumeIteration):
                continue
            if isinstance(data, _worker.IterableEnd):
                self.active[data.worker_id] = False
                self.task_worker.pop(tid, None)
                self._send_task()
                continue
            if tid == self.rcvd_idx or not self.in_order:
                return self._deliver(tid, data)
            self.pending[tid] = data

    def _deliver(self, tid: int, data: Any) -> Any:
        self.task_worker.pop(tid, None)
        if tid == self.rcvd_idx:
            self.rcvd_idx += 1
        self._send_task()
        if isinstance(data, _worker.ExceptionWrapper):
            self.shutdown()
            data.reraise()
        return data

    def shutdown(self) -> None:
        """Stop the workers: ask nicely, wait a little, then terminate; never leave a process behind."""
        if self.closed:
            return
        self.closed = True
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:  # the worker has gone already
                pass
        for w in self.workers:
            w.join(timeout=_worker.STATUS_CHECK_INTERVAL * 2)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        for conn in self.conns:
            conn.close()

    def __del__(self) -> None:
        self.shutdown()
