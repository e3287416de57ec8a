"""DistributedSampler: each process of a data-parallel job reads its own share of the data set.

PyTorch's ``torch.utils.data.distributed.DistributedSampler``.  With N replicas (processes)
and a data set of n examples, one epoch is:

    order   = a permutation of 0..n-1 drawn from seed + epoch   (shuffle=True; else 0, 1, ..., n-1)
    m       = ceil(n / N)                  examples per replica (drop_last=False)
              ceil((n - N) / N)            (drop_last=True and N does not divide n)
    order   = order padded to N*m by repeating its start       (drop_last=False)
              order[:N*m]                                       (drop_last=True: the tail is dropped)
    replica r reads order[r], order[r + N], order[r + 2N], ...  (m indices)

So every replica gets the same number of indices (a collective step per batch never waits
for a replica that has run out), the replicas together read each example once per epoch
(plus at most N-1 repeated ones as padding, or minus at most N-1 dropped ones), and every
replica computes the same permutation without communicating, because they all draw it from
``seed + epoch``.  Call ``set_epoch(epoch)`` before each epoch (``Trainer`` does), or every
epoch repeats the same order.

The permutation comes from NumPy's generator, not torch's, so the shuffled index lists
differ from PyTorch's for the same seed (the unshuffled ones are identical).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import numpy as np

from chainrule.utils.data.sampler import Sampler

__all__ = ["DistributedSampler"]


def _process_group() -> Any:
    """``chainrule.distributed`` when it is importable and its process group is initialised, else None."""
    try:
        from chainrule import distributed as dist
    except ImportError:
        return None
    available = getattr(dist, "is_available", lambda: True)
    if not available() or not dist.is_initialized():
        return None
    return dist


class DistributedSampler(Sampler):
    """The indices of one replica's share of ``dataset`` (see the module docstring for the formula).

    Args:
        dataset: anything with ``len()``.
        num_replicas: number of processes N (default: the process group's world size).
        rank: this process's rank r in [0, N) (default: the process group's rank).
        shuffle: draw a new permutation each epoch from ``seed + epoch`` (default True).
        seed: the seed shared by all replicas (they must agree on it).
        drop_last: drop the tail so that N divides the examples used, instead of padding with repeats.

    ``len(sampler)`` is m, the number of indices this replica yields per epoch.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            dist = _process_group()
            if dist is None:
                raise RuntimeError(
                    "DistributedSampler: num_replicas and rank default to the process group's world size and "
                    "rank, but no process group is initialised; call chainrule.distributed.init_process_group() "
                    "first or pass num_replicas= and rank="
                )
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if not isinstance(num_replicas, (int, np.integer)) or isinstance(num_replicas, bool) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"DistributedSampler: seed must be an int, got {type(seed).__name__}")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        n = self._n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            # the largest multiple of N that is <= n, divided by N
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            # every replica draws the same permutation: same seed, same epoch, no communication
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:
            # pad by repeating the order from its start (several times over if N > n)
            order = np.resize(order, self.total_size)
        if n != self._n:
            raise RuntimeError(
                f"DistributedSampler: the data set's length changed from {self._n} to {n} after the sampler was "
                "built; build a new sampler"
            )
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Draw the next permutation from ``seed + epoch``; call it before each epoch, alike on every rank."""
        self.epoch = int(epoch)

    def __repr__(self) -> str:
        return (f"DistributedSampler(num_replicas={self.num_replicas}, rank={self.rank}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})")
