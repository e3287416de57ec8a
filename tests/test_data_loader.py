"""DataLoader, samplers, random_split, Subset/ConcatDataset semantics (PyTorch's rules)."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    Generator,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)


def _ds(n=10):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(X, y)


def test_tensordataset_indexing_and_length():
    ds = _ds(5)
    x, y = ds[3]
    assert len(ds) == 5
    assert x.tolist() == [6.0, 7.0] and y.item() == 3
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


def test_sequential_batches_and_drop_last():
    ds = _ds(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2)
    assert len(DataLoader(ds, batch_size=4)) == 3
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [b[1].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_a_permutation_each_epoch_and_seeded():
    ds = _ds(10)
    dl = DataLoader(ds, batch_size=3, shuffle=True, generator=Generator().manual_seed(0))
    e1 = np.concatenate([b[1].numpy() for b in dl])
    e2 = np.concatenate([b[1].numpy() for b in dl])
    assert sorted(e1.tolist()) == list(range(10)) and sorted(e2.tolist()) == list(range(10))
    assert e1.tolist() != e2.tolist()  # a new order each epoch (10! orders: equal w.p. 2.8e-7)
    dl2 = DataLoader(ds, batch_size=3, shuffle=True, generator=Generator().manual_seed(0))
    assert np.concatenate([b[1].numpy() for b in dl2]).tolist() == e1.tolist()
    # X rows follow their labels
    for x, y in DataLoader(ds, batch_size=4, shuffle=True):
        np.testing.assert_array_equal(x.numpy(), np.stack([2 * y.numpy(), 2 * y.numpy() + 1], 1))


def test_fast_path_equals_generic_collate():
    ds = _ds(7)
    sub = Subset(ds, [6, 0, 3, 5])
    fast = list(DataLoader(sub, batch_size=3))
    slow = list(DataLoader(sub, batch_size=3, collate_fn=default_collate))
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert fast[0][1].tolist() == [6, 0, 3]


def test_default_collate_structures():
    out = default_collate([{"a": 1, "b": 2.5, "s": "x"}, {"a": 3, "b": 0.5, "s": "y"}])
    assert out["a"].dtype == np.int64 and out["a"].tolist() == [1, 3]
    assert out["b"].dtype == np.float64 and out["b"].tolist() == [2.5, 0.5]
    assert out["s"] == ["x", "y"]
    t = default_collate([(cr.tensor([1.0, 2.0]), 0), (cr.tensor([3.0, 4.0]), 1)])
    assert t[0].shape == (2, 2) and t[1].tolist() == [0, 1]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([cr.zeros(2), cr.zeros(3)])


def test_custom_dataset_and_batch_size_none():
    class Squares(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32)

    b = next(iter(DataLoader(Squares(), batch_size=4)))
    assert b.tolist() == [[0, 0], [1, 1], [2, 4], [3, 9]]
    single = list(DataLoader(Squares(), batch_size=None))
    assert len(single) == 4 and single[2].tolist() == [2, 4]


def test_loader_argument_errors():
    ds = _ds(4)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)


def test_samplers():
    ds = _ds(6)
    assert list(SequentialSampler(ds)) == [0, 1, 2, 3, 4, 5]
    g = Generator().manual_seed(1)
    assert sorted(RandomSampler(ds, generator=g)) == [0, 1, 2, 3, 4, 5]
    r = list(RandomSampler(ds, replacement=True, num_samples=20, generator=g))
    assert len(r) == 20 and all(0 <= i < 6 for i in r)
    assert sorted(SubsetRandomSampler([5, 1, 3], generator=g)) == [1, 3, 5]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    # zero weight is never drawn; weight 3 vs 1 gives about 3/4 of the draws
    w = list(WeightedRandomSampler([0.0, 3.0, 1.0], 4000, generator=g))
    assert 0 not in w
    assert abs(w.count(1) / 4000 - 0.75) < 0.03  # 4 standard errors (sqrt(.75*.25/4000) = .0068)
    dl = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))
    assert [b[1].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5]]


def test_random_split_lengths_disjoint_and_seeded():
    ds = _ds(10)
    a, b, c = random_split(ds, [5, 3, 2], generator=Generator().manual_seed(0))
    assert (len(a), len(b), len(c)) == (5, 3, 2)
    idx = a.indices + b.indices + c.indices
    assert sorted(idx) == list(range(10))
    # fractions: floor(10 * .33) = 3 each, the remaining 1 goes to the first split
    assert [len(s) for s in random_split(ds, [0.33, 0.33, 0.34])] == [4, 3, 3]
    a2, _, _ = random_split(ds, [5, 3, 2], generator=Generator().manual_seed(0))
    assert a2.indices == a.indices
    with pytest.raises(ValueError, match="does not equal"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.6])


def test_subset_and_concat():
    d1, d2 = _ds(3), _ds(2)
    cat = ConcatDataset([d1, d2])
    assert len(cat) == 5
    assert cat[3][1].item() == 0 and cat[-1][1].item() == 1 and cat[2][1].item() == 2
    with pytest.raises(IndexError):
        cat[5]
    assert (d1 + d2)[4][1].item() == 1
    s = Subset(d1, [2, 0])
    assert len(s) == 2 and s[0][1].item() == 2


def test_generator_state_roundtrip_and_ops_accept_it():
    g = Generator().manual_seed(7)
    s = g.get_state()
    a = cr.randn(3, generator=g).numpy().copy()
    g.set_state(s)
    np.testing.assert_array_equal(cr.randn(3, generator=g).numpy(), a)
    assert g.initial_seed() == 7
