"""Data loading as PyTorch does it (issue 12 item 5).

Worker processes (order, seeding, init functions, IterableDataset sharding, errors,
shutdown, timeouts, persistent workers), a lazy ``RandomSampler``, ``random_split``
with fractions, ``default_collate``/``default_convert`` against PyTorch's.  Tests that
use PyTorch as the oracle skip when it is not installed.
"""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (
    ChainDataset,
    DataLoader,
    Dataset,
    Generator,
    IterableDataset,
    RandomSampler,
    TensorDataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tensor_ds(n=37, transform=None):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(X, y, transform=transform)


def _negate(x):
    return -x


def _worker_ds(n=37):
    """A TensorDataset with a transform: user code per example, so workers build its batches."""
    return _tensor_ds(n, transform=_negate)


class DictDataset(Dataset):
    """A map-style data set that is not a TensorDataset (so each example goes through __getitem__)."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float64), "i": i, "name": f"e{i}"}


class WorkerProbe(Dataset):
    """Example i reports who built it and the worker's first random numbers after seeding."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {
            "i": i,
            "id": info.id,
            "num_workers": info.num_workers,
            "seed": info.seed,
            "random": random.random(),
            "np": float(np.random.random()),
            "cr": float(cr.rand(1).item()),
            "init": getattr(info.dataset, "init_id", -1),
        }


def _walk(batches):
    out = []
    for b in batches:
        if isinstance(b, dict):
            out.append({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in b.items()})
        else:
            out.append([t.tolist() for t in b])
    return out


# ----------------------------------------------------------------------------- workers


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("make", [_tensor_ds, _worker_ds, DictDataset])
def test_workers_give_the_batches_of_num_workers_0(shuffle, make):
    ds = make()
    ref = _walk(DataLoader(ds, batch_size=4, shuffle=shuffle, generator=Generator().manual_seed(5)))
    got = _walk(DataLoader(ds, batch_size=4, shuffle=shuffle, num_workers=2, generator=Generator().manual_seed(5)))
    assert got == ref
    assert len(ref) == -(-len(ds) // 4)


def test_workers_with_drop_last_prefetch_and_unbatched():
    ds = _worker_ds(10)
    dl = DataLoader(ds, batch_size=3, drop_last=True, num_workers=3, prefetch_factor=1)
    assert [b[1].tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    # batch_size=None: single examples through default_convert
    got = list(DataLoader(DictDataset(3), batch_size=None, num_workers=2))
    assert [g["i"] for g in got] == [0, 1, 2]
    assert isinstance(got[1]["x"], cr.Tensor) and got[1]["x"].tolist() == [1.0, 1.0]


def test_worker_seeding_and_info_as_pytorch():
    """worker k: seed = base_seed + k; random, chainrule's generator and np.random seeded from it."""

    def init(worker_id):
        get_worker_info().dataset.init_id = worker_id  # each worker's own copy of the data set

    def run(seed):
        dl = DataLoader(
            WorkerProbe(), batch_size=None, num_workers=2, worker_init_fn=init, generator=Generator().manual_seed(seed)
        )
        return list(dl)

    rows = run(11)
    assert [r["i"] for r in rows] == list(range(8))
    assert [r["id"] for r in rows] == [0, 1] * 4  # batch j goes to worker j mod 2
    assert all(r["num_workers"] == 2 for r in rows)
    assert all(r["init"] == r["id"] for r in rows)  # worker_init_fn ran in that worker with its id
    base = rows[0]["seed"]
    assert rows[1]["seed"] == base + 1 and all(r["seed"] - r["id"] == base for r in rows)
    assert 0 <= base < 2**63
    for w in (0, 1):
        first = next(r for r in rows if r["id"] == w)  # the worker's first draws after seeding
        assert first["random"] == random.Random(base + w).random()
        assert first["cr"] == float(cr.rand(1, generator=Generator().manual_seed(base + w)).item())
        state = np.random.SeedSequence([w, base]).generate_state(4)
        assert first["np"] == np.random.RandomState(state).random()
    assert rows[0]["np"] != rows[1]["np"]  # workers do not share NumPy's stream
    again = run(11)
    assert [r["seed"] for r in again] == [r["seed"] for r in rows]
    assert run(12)[0]["seed"] != base
    assert get_worker_info() is None  # in the main process


class BigExamples(Dataset):
    """Examples big enough (8 KiB arrays) for batches to travel through the workers' shared memory."""

    def __len__(self):
        return 21

    def __getitem__(self, i):
        x = np.arange(2048, dtype=np.float32) + i
        return {"x": x, "pair": (cr.tensor(x[:1024].astype(np.float64)), np.int16(i)), "small": np.full(3, i)}


@pytest.mark.parametrize("slot_bytes", [16 << 20, 40_000, 100])
def test_big_batches_through_shared_memory_or_the_pipe(monkeypatch, slot_bytes):
    """Same batches whether the arrays fit the shared-memory slots, fit partly, or not at all."""
    from chainrule.utils.data import _worker

    monkeypatch.setattr(_worker.Arena, "default_slot_bytes", slot_bytes)
    ref = list(DataLoader(BigExamples(), batch_size=4, shuffle=True, generator=Generator().manual_seed(2)))
    for ctx in ["fork", None]:
        got = list(
            DataLoader(
                BigExamples(),
                batch_size=4,
                shuffle=True,
                num_workers=2,
                prefetch_factor=3,
                generator=Generator().manual_seed(2),
                multiprocessing_context=ctx,
            )
        )
        assert len(got) == len(ref) == 6
        for g, r in zip(got, ref):
            assert isinstance(g["pair"], list) and isinstance(g["pair"][0], cr.Tensor)
            np.testing.assert_array_equal(g["x"].numpy(), r["x"].numpy())
            assert g["x"].dtype == np.float32 and g["pair"][0].dtype == np.float64
            np.testing.assert_array_equal(g["pair"][0].numpy(), r["pair"][0].numpy())
            assert g["pair"][1].dtype == np.int16 and g["pair"][1].tolist() == r["pair"][1].tolist()
            assert g["small"].tolist() == r["small"].tolist()


def test_base_seed_drawn_also_without_workers():
    """Shuffled orders agree for any num_workers because the base seed is drawn in both cases."""
    ds = _tensor_ds(12)
    g0, g2 = Generator().manual_seed(1), Generator().manual_seed(1)
    for _ in range(2):  # two epochs
        a = [b[1].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g0)]
        b = [b[1].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g2, num_workers=2)]
        assert a == b


class Range(IterableDataset):
    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("num_workers", [0, 2, 3])
def test_iterable_dataset_order_matches_pytorch(num_workers):
    torch = pytest.importorskip("torch")

    class TRange(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            if info is None:
                return iter(range(11))
            return iter(range(info.id, 11, info.num_workers))

    for bs, drop in [(2, False), (2, True), (None, False)]:
        tdl = torch.utils.data.DataLoader(TRange(), batch_size=bs, drop_last=drop, num_workers=num_workers)
        ref = [b.tolist() if bs else b for b in tdl]
        got = [
            b.tolist() if bs else b
            for b in DataLoader(Range(11), batch_size=bs, drop_last=drop, num_workers=num_workers)
        ]
        assert got == ref, (bs, drop)


def test_iterable_dataset_without_sharding_repeats_per_worker_and_len():
    got = sorted(x for b in DataLoader(Range(5, shard=False), batch_size=2, num_workers=2) for x in b.tolist())
    assert got == sorted(list(range(5)) * 2)  # each worker has a full copy, as in PyTorch
    assert len(DataLoader(Range(5), batch_size=2)) == 3
    assert len(DataLoader(Range(5), batch_size=2, drop_last=True)) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Range(5), shuffle=True)


def test_chain_dataset_as_pytorch():
    torch = pytest.importorskip("torch")

    class TStream(torch.utils.data.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    ref = torch.utils.data.ChainDataset([TStream(3), TStream(2)])
    both = Range(3) + Range(2)  # IterableDataset + IterableDataset is a ChainDataset
    assert isinstance(both, ChainDataset) and type(TStream(3) + TStream(2)).__name__ == "ChainDataset"
    assert list(both) == list(ref) and len(both) == len(ref) == 5
    assert [b.tolist() for b in DataLoader(both, batch_size=2)] == [[0, 1], [2, 0], [1]]
    with pytest.raises(TypeError, match="ChainDataset"):
        list(ChainDataset([Range(2), _tensor_ds(2)]))


class Faulty(Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 5:
            raise self.exc
        return i


@pytest.mark.parametrize("exc", [ValueError("bad example 5"), KeyError("missing key")])
def test_worker_error_reraised_with_its_traceback(exc):
    dl = DataLoader(Faulty(exc), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(type(exc)) as info:
        for b in dl:
            got.append(b.tolist())
    msg = str(info.value)
    assert got == [[0, 1], [2, 3]]  # the batches before the failing one came through
    assert "in DataLoader worker process 0" in msg  # batch 2 = examples 4, 5 -> worker 0
    assert "Traceback" in msg and "__getitem__" in msg and "raise self.exc" in msg
    assert str(exc.args[0]) in msg


def test_worker_init_fn_error_is_reraised():
    def init(worker_id):
        raise RuntimeError(f"init failed in {worker_id}")

    with pytest.raises(RuntimeError, match=r"(?s)in DataLoader worker process.*init failed in"):
        list(DataLoader(_worker_ds(6), batch_size=2, num_workers=2, worker_init_fn=init))


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(5 if i == 2 else 0)
        return i


class SlowFirst(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        time.sleep(1.5 if i == 0 else 0)
        return i


def test_in_order_false_yields_batches_as_they_finish():
    got = [b.tolist() for b in DataLoader(SlowFirst(), batch_size=1, num_workers=2, in_order=False)]
    assert sorted(got) == [[i] for i in range(6)]
    assert got[0] != [0]  # worker 1's batches are ready while worker 0 sleeps on example 0
    assert [b.tolist() for b in DataLoader(SlowFirst(), batch_size=1, num_workers=2)] == [[i] for i in range(6)]


def test_timeout_raises():
    dl = DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5)
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"timed out after 0.5 seconds"):
        list(dl)
    assert time.perf_counter() - t0 < 4  # did not wait for the slow example


def _run_script(code, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_clean_shutdown_no_processes_left():
    """End of epoch, an epoch left early, an error, persistent workers at exit: no hanging process."""
    code = """
        import gc, multiprocessing as mp
        import numpy as np
        from chainrule.utils.data import DataLoader, TensorDataset
        ds = TensorDataset(np.zeros((40, 2)), np.arange(40), transform=abs)
        list(DataLoader(ds, batch_size=4, num_workers=2))
        assert mp.active_children() == [], mp.active_children()
        it = iter(DataLoader(ds, batch_size=4, num_workers=2)); next(it); del it; gc.collect()
        assert mp.active_children() == [], mp.active_children()
        dl = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
        for epoch in range(2):
            assert sum(len(b[1]) for b in dl) == 40
        assert len(mp.active_children()) == 2
        print("ok")
    """
    r = _run_script(code)  # a hang would raise subprocess.TimeoutExpired
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_workers_exit_when_the_main_process_dies():
    code = """
        import os, time
        import numpy as np
        from chainrule.utils.data import DataLoader, TensorDataset
        ds = TensorDataset(np.zeros((40, 2)), transform=abs)
        dl = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
        next(iter(dl))
        print(" ".join(str(w.pid) for w in dl._workers.workers), flush=True)
        os._exit(0)  # no clean-up at all: the workers must notice on their own
    """
    _assert_workers_exit(code)


def test_a_worker_that_starts_after_the_main_process_died_exits():
    """The main process can die between forking a worker and the worker's first line.

    Under load that happens: the first batch needs only worker 0, so the main process may be
    gone before worker 1 runs at all. Such a worker is born an orphan, so ``getppid()`` read at
    its start is already the new parent and never changes again: it must know the main process
    by a pid handed to it, not by asking at its start.
    """
    code = """
        import os, time
        import numpy as np
        from chainrule.utils.data import DataLoader, TensorDataset, _worker
        real_loop = _worker.worker_loop
        def late_loop(*args, **kwargs):
            if args[7] == 1:  # worker_id: this worker starts after the main process has gone
                time.sleep(1.5)
            return real_loop(*args, **kwargs)
        _worker.worker_loop = late_loop
        ds = TensorDataset(np.zeros((40, 2)), transform=abs)
        dl = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
        next(iter(dl))
        print(" ".join(str(w.pid) for w in dl._workers.workers), flush=True)
        os._exit(0)
    """
    _assert_workers_exit(code)


def _assert_workers_exit(code):
    """Run ``code``, which prints its two workers' pids and dies; both must be gone within 15 s."""
    r = _run_script(code)
    pids = [int(p) for p in r.stdout.split()]
    assert len(pids) == 2, r.stderr
    deadline = time.time() + 15
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _alive(p)]
    assert alive == []


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back on a signal 0
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def test_persistent_workers_keep_processes_and_survive_an_epoch_left_early():
    ds = _worker_ds(20)
    dl = DataLoader(ds, batch_size=3, num_workers=2, persistent_workers=True, shuffle=True)
    first = iter(dl)
    pids = [w.pid for w in first.workers]
    next(first)  # leave this epoch after one batch; its prefetched batches must not leak into the next
    for _ in range(2):
        labels = [b[1].tolist() for b in dl]
        assert sorted(sum(labels, [])) == list(range(20))
        assert [len(x) for x in labels] == [3] * 6 + [2]
    assert [w.pid for w in dl._workers.workers] == pids
    it = iter(DataLoader(Range(7), batch_size=2, num_workers=2, persistent_workers=True))
    assert sorted(sum((b.tolist() for b in it), [])) == list(range(7))


def test_multiprocessing_context_spawn():
    # spawn pickles the data set and imports chainrule in the child: the loader must not rely on fork
    got = [
        b[1].tolist() for b in DataLoader(_worker_ds(6), batch_size=4, num_workers=1, multiprocessing_context="spawn")
    ]
    assert got == [[0, 1, 2, 3], [4, 5]]


def test_plain_tensor_dataset_is_gathered_in_the_main_process():
    """No user code per example: batches come from one fancy index, without starting workers."""
    import multiprocessing as mp

    ds = _tensor_ds(30)
    dl = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2)
    ref = DataLoader(ds, batch_size=4, shuffle=True)
    cr.manual_seed(0)
    got = [[t.tolist() for t in b] for b in dl]
    assert mp.active_children() == []
    cr.manual_seed(0)
    assert got == [[t.tolist() for t in b] for b in ref]
    # a worker_init_fn is user code that expects workers: then they are started and it runs in each
    dl = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, worker_init_fn=lambda i: None)
    cr.manual_seed(0)
    it = iter(dl)
    first = [t.tolist() for t in next(it)]
    assert len(mp.active_children()) == 2
    assert [first] + [[t.tolist() for t in b] for b in it] == got
    # a custom collate_fn is user code: then the workers do build the batches
    ids = list(DataLoader(ds, batch_size=4, num_workers=2, collate_fn=lambda b: get_worker_info().id))
    assert ids == [0, 1] * 3 + [0, 1]


def test_argument_errors_as_pytorch():
    ds = _tensor_ds(4)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="multiprocessing_context"):
        DataLoader(ds, multiprocessing_context="fork")  # only with num_workers > 0
    with pytest.raises(ValueError, match="valid start method"):
        DataLoader(ds, num_workers=1, multiprocessing_context="teleport")
    assert DataLoader(ds, num_workers=2).prefetch_factor == 2


def test_pin_memory_accepted_and_warns_as_pytorch_without_accelerator():
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings(record=True) as ref:
        warnings.simplefilter("always")
        list(torch.utils.data.DataLoader(range(4), pin_memory=True))
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        batches = [[t.tolist() for t in b] for b in DataLoader(_tensor_ds(4), batch_size=2, pin_memory=True)]
    assert batches == [[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [0, 1]], [[[6.0, 7.0, 8.0], [9.0, 10.0, 11.0]], [2, 3]]]
    assert [w.category for w in got] == [w.category for w in ref] == [UserWarning]
    assert "pin_memory" in str(got[0].message) and "no accelerator" in str(got[0].message)


# ----------------------------------------------------------------------------- RandomSampler


def test_random_sampler_huge_num_samples_draws_lazily():
    """replacement=True, num_samples=10**10 used to allocate 74.5 GiB before the first index."""
    code = """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GiB of address space
        import itertools
        from chainrule.utils.data import Generator, RandomSampler
        s = RandomSampler(range(10), replacement=True, num_samples=10**10, generator=Generator().manual_seed(0))
        first = list(itertools.islice(iter(s), 100))
        assert len(s) == 10**10 and len(first) == 100 and all(0 <= i < 10 for i in first), first
        s = RandomSampler(range(10), replacement=False, num_samples=10**10, generator=Generator().manual_seed(0))
        first = list(itertools.islice(iter(s), 20))
        assert sorted(first[:10]) == list(range(10)) and sorted(first[10:]) == list(range(10)), first
        print("ok")
    """
    r = _run_script(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize("num_samples", [1, 7, 100, 5000])
def test_random_sampler_small_sequences_unchanged(num_samples):
    """Same draws as one call of the generator (what the sampler did before it became lazy)."""
    n = 13
    s = RandomSampler(range(n), replacement=True, num_samples=num_samples, generator=Generator().manual_seed(4))
    assert list(s) == np.random.default_rng(4).integers(0, n, num_samples).tolist()
    s = RandomSampler(range(n), num_samples=num_samples, generator=Generator().manual_seed(4))
    rng = np.random.default_rng(4)
    expect = np.concatenate([rng.permutation(n) for _ in range(-(-num_samples // n))])[:num_samples]
    assert list(s) == expect.tolist()


# ----------------------------------------------------------------------------- random_split


@pytest.mark.parametrize(
    ("n", "lengths"),
    [
        (10, [0.5, 0.5]),
        (11, [0.3, 0.3, 0.4]),
        (7, [0.1, 0.2, 0.7]),
        (100, [0.333, 0.333, 0.334]),
        (5, [0.5, 0.5, 0.0]),
        (3, [1]),  # PyTorch: sums to 1 -> fractions, so the one split takes all 3
        (3, [1, 2]),
        (9, [2, 3, 4]),
    ],
)
def test_random_split_lengths_as_pytorch(n, lengths):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings(record=True) as ref_w:
        warnings.simplefilter("always")
        ref = [len(s) for s in torch.utils.data.random_split(range(n), lengths)]
    with warnings.catch_warnings(record=True) as got_w:
        warnings.simplefilter("always")
        parts = random_split(range(n), lengths, generator=Generator().manual_seed(0))
    assert [len(s) for s in parts] == ref
    assert sorted(i for p in parts for i in p.indices) == list(range(n))
    assert len(got_w) == len(ref_w)  # PyTorch warns once per empty split


def test_random_split_errors_and_generator():
    with pytest.raises(ValueError, match="random_split"):
        random_split(range(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="random_split"):
        random_split(range(10), [3, 3])
    a = random_split(range(20), [0.25, 0.75], generator=Generator().manual_seed(3))
    b = random_split(range(20), [0.25, 0.75], generator=Generator().manual_seed(3))
    assert [p.indices for p in a] == [p.indices for p in b]


# ----------------------------------------------------------------------------- collate


def _same(got, ref, torch):
    """got (chainrule) has ref's (PyTorch's) structure, container types, dtypes and values."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(got, cr.Tensor), (type(got), ref)
        assert str(got.dtype) == str(ref.dtype).replace("torch.", ""), (got.dtype, ref.dtype)
        assert tuple(got.shape) == tuple(ref.shape)
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
    elif isinstance(ref, dict):
        assert type(got) is type(ref) and list(got) == list(ref)
        for k in ref:
            _same(got[k], ref[k], torch)
    elif isinstance(ref, (list, tuple)):
        assert type(got) is type(ref) and len(got) == len(ref), (type(got), type(ref))
        for g, r in zip(got, ref):
            _same(g, r, torch)
    else:
        assert type(got) is type(ref) and got == ref


Point = collections.namedtuple("Point", "x y")


def _examples():
    rng = np.random.default_rng(0)
    return [
        [1, 2, 3],
        [1.5, 2.5],
        [True, False],
        [1, 2.5],  # int first, then a float: PyTorch infers the default float dtype
        [True, 2],
        ["a", "b"],
        [b"x", b"y"],
        [np.float32(1.5), np.float32(2.0)],
        [np.int16(3), np.int16(4)],
        [np.array(3.0), np.array(4.0)],
        [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))],
        [np.array([1, 2], dtype=np.int32), np.array([3, 4], dtype=np.int32)],
        [(1, 2.0), (3, 4.0)],
        [[1, "a"], [2, "b"]],
        [Point(1, 2.0), Point(3, 4.0)],
        [{"a": 1, "b": {"c": np.zeros(2), "d": [1.0, True]}}, {"a": 2, "b": {"c": np.ones(2), "d": [2.0, False]}}],
        [collections.OrderedDict(z=1, a=2.0), collections.OrderedDict(z=3, a=4.0)],
    ]


@pytest.mark.parametrize("k", range(len(_examples())))
def test_default_collate_as_pytorch(k):
    torch = pytest.importorskip("torch")
    batch = _examples()[k]
    _same(default_collate(batch), torch.utils.data.default_collate(batch), torch)


def test_default_collate_of_tensors_and_errors():
    torch = pytest.importorskip("torch")
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    _same(
        default_collate([cr.tensor(a), cr.tensor(b)]),
        torch.utils.data.default_collate([torch.tensor(a), torch.tensor(b)]),
        torch,
    )
    for bad in ([np.array(["a"]), np.array(["b"])], [object(), object()]):
        with pytest.raises(TypeError, match="default_collate"):
            default_collate(bad)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])


@pytest.mark.parametrize(
    "data",
    [
        (np.float64(1.5), np.int32(2), [np.zeros(2)], "a", 3),
        {"x": np.arange(3), "y": (np.float32(1.0), "s")},
        [np.ones((2, 2)), (1, 2)],
        Point(np.zeros(2), 1),
        np.array(["a", "b"]),
        np.float64(2.5),
        "text",
    ],
)
def test_default_convert_as_pytorch(data):
    torch = pytest.importorskip("torch")
    ref = torch.utils.data.default_convert(data)
    got = default_convert(data)
    if isinstance(ref, np.ndarray):  # string arrays are left alone
        assert got is data
    else:
        _same(got, ref, torch)


def test_batch_size_none_uses_default_convert():
    torch = pytest.importorskip("torch")

    class TupleDS:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return (np.full(2, i, dtype=np.float32), np.int64(i), i)

    ref = list(torch.utils.data.DataLoader(TupleDS(), batch_size=None))
    got = list(DataLoader(TupleDS(), batch_size=None))
    for g, r in zip(got, ref):
        _same(g, r, torch)


# ----------------------------------------------------------------------------- SummaryWriter


def _accumulator(path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    ea.Reload()
    return ea


def test_summary_writer_scalars_read_back_with_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from chainrule.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=tmp_path / "run1")
    losses = [2.5, 1.25, 0.625]
    for step, loss in enumerate(losses):
        w.add_scalar("loss/train", cr.tensor(loss), step)  # a 0-d Tensor, as in `loss` of a training loop
    w.add_scalar("lr", 0.1, global_step=7, walltime=1234.5)
    w.add_scalar("acc", np.float32(0.75), 3)
    w.add_scalars("curves", {"a": 1.0, "b": cr.tensor([2.0])}, 5)
    w.close()
    ea = _accumulator(tmp_path / "run1")
    got = ea.Scalars("loss/train")
    assert [e.step for e in got] == [0, 1, 2]
    assert [e.value for e in got] == losses  # exact in float32
    (lr,) = ea.Scalars("lr")
    assert (lr.step, lr.wall_time) == (7, 1234.5) and lr.value == pytest.approx(0.1, rel=1e-7)
    assert ea.Scalars("acc")[0].value == 0.75
    for sub, value in [("curves_a", 1.0), ("curves_b", 2.0)]:  # PyTorch's layout: one run per curve
        (e,) = _accumulator(tmp_path / "run1" / sub).Scalars("curves")
        assert (e.step, e.value) == (5, value)
    with pytest.raises(ValueError, match="add_scalar"):
        SummaryWriter(log_dir=tmp_path / "run2").add_scalar("bad", np.zeros(3))


def test_summary_writer_histogram_and_text_as_pytorch(tmp_path):
    pytest.importorskip("tensorboard")
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    from chainrule.utils.tensorboard import SummaryWriter

    x = np.random.default_rng(0).standard_normal(1000)
    for name, writer, values in [("cr", SummaryWriter, cr.tensor(x)), ("pt", TorchWriter, torch.tensor(x))]:
        w = writer(log_dir=str(tmp_path / name))
        w.add_histogram("w", values, 3)
        w.add_histogram("w_auto", values, 4, bins="auto")
        w.add_histogram("w_max", values, 5, bins=100, max_bins=30)
        w.add_text("note", "**hello** world", 2)
        w.close()
    got, ref = _accumulator(tmp_path / "cr"), _accumulator(tmp_path / "pt")
    for tag in ["w", "w_auto", "w_max"]:
        (g,), (r,) = got.Histograms(tag), ref.Histograms(tag)
        assert g.step == r.step
        gh, rh = g.histogram_value, r.histogram_value
        assert (gh.min, gh.max, gh.num) == (rh.min, rh.max, rh.num) == (x.min(), x.max(), 1000)
        assert gh.sum == pytest.approx(rh.sum, rel=1e-12) and gh.sum_squares == pytest.approx(rh.sum_squares)
        np.testing.assert_allclose(gh.bucket_limit, rh.bucket_limit, rtol=1e-9)
        assert list(gh.bucket) == list(rh.bucket) and sum(gh.bucket) == 1000
    (g,), (r,) = got.Tensors("note/text_summary"), ref.Tensors("note/text_summary")
    assert g.step == r.step == 2 and g.tensor_proto.string_val == r.tensor_proto.string_val == [b"**hello** world"]
    assert (
        got.summary_metadata["note/text_summary"].plugin_data.plugin_name
        == ref.summary_metadata["note/text_summary"].plugin_data.plugin_name
        == "text"
    )


def test_summary_writer_default_log_dir_and_purge_step(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    import socket

    from chainrule.utils.tensorboard import SummaryWriter

    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    (run,) = os.listdir(tmp_path / "runs")  # runs/<Mon DD_HH-MM-SS>_<host><comment>, as PyTorch
    assert run.endswith(f"_{socket.gethostname()}_lr0.1") and w.get_logdir() == os.path.join("runs", run)
    assert any(f.startswith("events.out.tfevents.") for f in os.listdir(tmp_path / "runs" / run))
    with SummaryWriter(log_dir="resumed", purge_step=5) as w2:
        w2.add_scalar("x", 1.0, 5)
    assert [e.step for e in _accumulator(tmp_path / "resumed").Scalars("x")] == [5]


def test_summary_writer_without_tensorboard_names_the_extra():
    code = """
        import sys
        sys.modules["tensorboard"] = None  # as if it were not installed
        try:
            from chainrule.utils.tensorboard import SummaryWriter
        except ImportError as e:
            print(repr(str(e)))
    """
    r = _run_script(code)
    msg = r.stdout.strip()
    assert "chainrule[tensorboard]" in msg and "\\n" not in msg, (msg, r.stderr)
