"""Data-parallel training (issue 15 items 3-4): DistributedSampler, the Trainer and the CLI under MPI.

The sampler tests need no MPI (num_replicas and rank are passed).  The tests marked
``mpi`` really launch 2 processes with ``mpiexec`` (from the venv or PATH) and skip when
mpi4py or mpiexec is missing (``pip install "chainrule[distributed]"``); deselect them with
``-m "not mpi"``.  Launches are few and short: each costs ~1-2 s of start-up per process.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from chainrule.utils.data import DataLoader, DistributedSampler, TensorDataset

ROOT = Path(__file__).resolve().parents[1]


# -- DistributedSampler, no MPI needed -----------------------------------------------------------
def _shares(n: int, world: int, **kw) -> list[list[int]]:
    return [list(DistributedSampler(range(n), num_replicas=world, rank=r, **kw)) for r in range(world)]


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5), (1, 1), (12, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_covers_the_data_set_once_per_epoch_padding_only_with_duplicates(n, world, shuffle):
    shares = _shares(n, world, shuffle=shuffle, seed=3)
    m = -(-n // world)  # ceil(n / N)
    assert [len(s) for s in shares] == [m] * world  # every rank the same number of indices
    assert all(len(DistributedSampler(range(n), num_replicas=world, rank=r)) == m for r in range(world))
    flat = list(itertools.chain(*shares))
    assert set(flat) == set(range(n))  # every example at least once
    counts = np.bincount(flat, minlength=n)
    assert counts.sum() - n == world * m - n  # exactly the padding is repeated
    assert counts.max() <= -(-world * m // n)  # repeats spread cyclically, never piled on one example


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (13, 5)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_drop_last_reads_distinct_examples_and_drops_fewer_than_world(n, world, shuffle):
    shares = _shares(n, world, shuffle=shuffle, drop_last=True)
    m = n // world
    assert [len(s) for s in shares] == [m] * world
    flat = list(itertools.chain(*shares))
    assert len(set(flat)) == len(flat) == world * m  # no duplicates
    assert n - len(flat) < world


def test_sampler_reshuffles_with_set_epoch_identically_on_every_rank():
    n, world = 50, 2
    samplers = [DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=True, seed=7) for r in range(world)]

    def epoch(e: int) -> list[list[int]]:
        for s in samplers:
            s.set_epoch(e)
        return [list(s) for s in samplers]

    e0, e0_again, e1 = epoch(0), epoch(0), epoch(1)
    assert e0 == e0_again  # the same epoch gives the same order (resumable, and ranks agree)
    assert e0 != e1  # a new epoch reshuffles
    for shares in (e0, e1):
        assert sorted(itertools.chain(*shares)) == list(range(n))
    assert list(itertools.chain(*e0)) != list(range(n))  # shuffled at all
    other_seed = DistributedSampler(range(n), num_replicas=world, rank=0, shuffle=True, seed=8)
    assert list(other_seed) != e0[0]


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5), (13, 5)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_without_shuffle(n, world, drop_last):
    """Unshuffled, the index lists are torch's exactly (padding and dropping included).

    Shuffled lists cannot be equal: torch draws the permutation with torch.randperm from its own
    generator, chainrule with NumPy's; the properties above check the shuffled case."""
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for r in range(world):
        ours = DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) == ours.num_samples and ours.total_size == theirs.total_size
    del torch


@pytest.mark.parametrize("n,world", [(10, 3), (11, 2)])
def test_sampler_shuffled_lengths_and_padding_pattern_match_torch(n, world):
    """Shuffled: the same number of indices per rank as torch, and the same padding rule (the
    first total_size - n positions of the permutation repeated)."""
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    ours = [DistributedSampler(range(n), num_replicas=world, rank=r, seed=1) for r in range(world)]
    theirs = [TorchSampler(range(n), num_replicas=world, rank=r, seed=1) for r in range(world)]
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    perm = np.empty(world * len(ours[0]), dtype=np.int64)
    for r, s in enumerate(ours):
        perm[r::world] = list(s)  # interleave the ranks back into the padded permutation
    assert sorted(perm[:n]) == list(range(n))
    assert list(perm[n:]) == list(perm[: perm.size - n])


def test_sampler_with_dataloader_gives_each_rank_its_batches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = TensorDataset(x, np.arange(10))
    rows = []
    for r in range(2):
        loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=2, rank=r, shuffle=False))
        batches = [b[1].numpy().tolist() for b in loader]
        assert batches == [[r, r + 2], [r + 4, r + 6], [r + 8]]
        rows += list(itertools.chain(*batches))
    assert sorted(rows) == list(range(10))


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 2.*\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        DistributedSampler(range(4), num_replicas=1, rank=0, seed=1.5)


def test_sampler_without_process_group_asks_for_rank_and_world_size():
    try:
        from chainrule import distributed as dist
    except ImportError:
        dist = None
    if dist is not None and dist.is_initialized():
        pytest.skip("a process group is initialised in this process")
    with pytest.raises(RuntimeError, match="no process group is initialised.*num_replicas= and rank="):
        DistributedSampler(range(4))


def test_sampler_refuses_a_data_set_that_changed_length():
    data = list(range(6))
    s = DistributedSampler(data, num_replicas=2, rank=0)
    data.append(6)
    with pytest.raises(RuntimeError, match="length changed from 6 to 7"):
        list(s)
