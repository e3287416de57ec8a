"""Example 6: GloVe weighting, cost, co-occurrence counts, and planted word groups."""

import numpy as np

from chainrule.examples import glove
from chainrule.models.glove import GloVe, cooccurrence_matrix, glove_weight, nearest_neighbours


def test_weighting_function():
    # f(x) = (x/x_max)^(3/4) below x_max = 100, 1 at and above it
    np.testing.assert_allclose(glove_weight([0.0, 50.0, 100.0, 1e4]), [0.0, 0.5**0.75, 1.0, 1.0])


def test_cooccurrence_counts_harmonic_window():
    X = cooccurrence_matrix([[0, 1, 2]], 3, window=2)
    want = np.array([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]])
    np.testing.assert_allclose(X, want)


def test_cost_matches_formula():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 300, (4, 4)).astype(float)
    m = GloVe(4, dim=3, seed=1)
    m.b.data[...] = rng.standard_normal(4)
    i, j = np.nonzero(X)
    W, Wt, b, bt = (p.data for p in m.parameters())
    want = sum(glove_weight(X[a, c]) * (W[a] @ Wt[c] + b[a] + bt[c] - np.log(X[a, c])) ** 2 for a, c in zip(i, j))
    np.testing.assert_allclose(m.cost(i, j, X[i, j]).item(), want)


def test_nearest_neighbours_by_cosine():
    v = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    assert [i for i, _ in nearest_neighbours(v, 0, 3)] == [1, 2, 3]


def test_planted_groups_rank_nearest():
    out = glove.planted_groups(seed=0, verbose=False)
    assert out["loss"][-1] < out["loss"][0] / 100
    assert out["precision"] >= 0.9
    assert out["precision_init"] < 0.5  # random vectors do not (chance: 5 of 41 = 0.12)
