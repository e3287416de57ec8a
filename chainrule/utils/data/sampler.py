"""Samplers: the order in which a DataLoader visits a data set (PyTorch's ``torch.utils.data.sampler``).

A sampler is an iterable of indices into the data set; a batch sampler is an
iterable of lists of indices (one list per mini-batch).  ``Generator`` is the
seedable random source that samplers, ``random_split`` and the random ops
(``cr.randn(..., generator=g)``) accept.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from chainrule.backend import default_generator
from chainrule.backend.device import check_device


class Generator:
    """A seedable random source, like ``torch.Generator``.

    ``g = Generator().manual_seed(0)``; ops that take ``generator=`` read its
    ``rng`` attribute (a ``numpy.random.Generator``).  ``get_state`` /
    ``set_state`` save and restore the exact position in the random stream
    (as a JSON string, so that it fits in a checkpoint).
    """

    def __init__(self, device: Any = None) -> None:
        check_device(device, "Generator")
        self._seed = _fresh_seed()
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        if not isinstance(seed, (int, np.integer)):
            raise TypeError(f"Generator.manual_seed: seed must be an int, got {type(seed).__name__}")
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Re-seed from fresh entropy; returns the new seed."""
        self.manual_seed(_fresh_seed())
        return self._seed

    def get_state(self) -> str:
        return rng_state(self.rng)

    def set_state(self, state: str) -> Generator:
        set_rng_state(self.rng, state)
        return self

    def __repr__(self) -> str:
        return f"Generator(initial_seed={self._seed})"


def rng_state(rng: np.random.Generator) -> str:
    """The exact state of a NumPy generator as a JSON string (big integers survive)."""
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: str) -> None:
    """Restore a state written by :func:`rng_state` into ``rng`` in place."""
    rng.bit_generator.state = json.loads(state) if isinstance(state, str) else state


def _rng(generator: Any) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (None: chainrule's default generator)."""
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    rng = getattr(generator, "rng", None)
    if rng is None:
        raise TypeError(f"generator must be a chainrule Generator or numpy Generator, got {type(generator).__name__}")
    return rng


def _fresh_seed() -> int:
    """A seed in [0, 2**63) from the operating system's entropy (what SeedSequence() draws too)."""
    return secrets.randbits(63)


class Sampler:
    """Base class: an iterable of indices; subclasses define ``__iter__`` (and ``__len__``)."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:  # indices (int), or lists of them (BatchSampler)
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1 in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices (or ``num_samples`` draws with replacement).

    Each ``__iter__`` draws from ``generator`` (default: chainrule's default
    generator), so successive epochs see different orders and a seeded
    generator gives the same sequence of orders.
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got {num_samples!r}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        rng = _rng(self.generator)
        n = len(self.data_source)
        if self.replacement:
            return self._with_replacement(rng, n)
        if self.num_samples <= n:  # one permutation, drawn now (as before: the order is fixed at iter())
            return iter(rng.permutation(n)[: self.num_samples].tolist())
        return self._permutations(rng, n)

    # Long streams are drawn lazily, a chunk at a time: num_samples=10**10 must not allocate
    # 10**10 indices up front.  NumPy's integers() gives the same numbers in chunks as in
    # one call, so the sequence does not depend on the chunk size.
    _CHUNK = 1024

    def _with_replacement(self, rng: np.random.Generator, n: int) -> Iterator[int]:
        left = self.num_samples
        while left > 0:
            k = min(left, self._CHUNK)
            yield from rng.integers(0, n, k).tolist()
            left -= k

    def _permutations(self, rng: np.random.Generator, n: int) -> Iterator[int]:
        """Whole permutations one after another (each drawn when reached), the last one cut short."""
        left = self.num_samples
        while left > 0:
            perm = rng.permutation(n)
            yield from perm[: min(left, n)].tolist()
            left -= n

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (without replacement)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = list(indices)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        perm = _rng(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in perm])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights[i]``."""

    def __init__(
        self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator: Any = None
    ) -> None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.size == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer, got {num_samples!r}")
        if not replacement and num_samples > int((w > 0).sum()):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                f"from {int((w > 0).sum())} non-zero weights"
            )
        self.weights = w
        self.num_samples = num_samples
        self.replacement = bool(replacement)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        idx = _rng(self.generator).choice(p.size, size=self.num_samples, replace=self.replacement, p=p)
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``; the last may be short unless ``drop_last``."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(int(idx))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
