"""GloVe: word vectors from the global co-occurrence matrix (notes 004).

X (V, V) holds co-occurrence counts: X_ij = Σ over occurrences of word i of 1/d for
each word j at distance d ≤ window (the harmonic weighting of the GloVe paper).
The cost, over the non-zero entries, is

    J = Σ_ij f(X_ij) (w_iᵀ w̃_j + b_i + b̃_j - log X_ij)²

with the weighting function

    f(x) = (x / x_max)^α  if x < x_max,   1 otherwise,   α = 3/4, x_max = 100.

(The OCR'd notes print a garbled exponent, "(x/x_max)^2"; this is the standard form
from Pennington et al., 2014.)  f damps rare, noisy counts and caps very frequent ones;
the log count compresses the range of counts.  The word vector is w_i + w̃_i.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule import optim
from chainrule.autograd.tensor import Tensor


def cooccurrence_matrix(
    sentences: Sequence[Sequence[int] | np.ndarray], vocab_size: int, window: int = 5
) -> np.ndarray:
    """Symmetric co-occurrence counts X (V, V) with weight 1/d for words d ≤ window apart."""
    X = np.zeros((vocab_size, vocab_size))
    for s in sentences:
        ids = np.asarray(s, dtype=np.int64)
        for d in range(1, window + 1):
            if ids.size <= d:
                break
            np.add.at(X, (ids[:-d], ids[d:]), 1.0 / d)
            np.add.at(X, (ids[d:], ids[:-d]), 1.0 / d)
    return X


def glove_weight(x: Any, x_max: float = 100.0, alpha: float = 0.75) -> np.ndarray:
    """f(x) = (x/x_max)^α for x < x_max, else 1."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < x_max, (x / x_max) ** alpha, 1.0)


class GloVe:
    """GloVe model: W, W̃ (V, d) and biases b, b̃ (V,), fitted to a co-occurrence matrix.

    ``fit(X, epochs, lr)`` minimises J (module doc) by full-batch Adagrad over the
    non-zero entries (the optimiser of the GloVe paper).  ``vectors()`` = W + W̃ (V, d).
    """

    def __init__(self, vocab_size: int, dim: int = 16, seed: int = 0, x_max: float = 100.0, alpha: float = 0.75):
        rng = np.random.default_rng(seed)
        scale = 0.5 / dim
        self.W = cr.tensor(rng.uniform(-scale, scale, (vocab_size, dim)), dtype=np.float64, requires_grad=True)
        self.W_tilde = cr.tensor(rng.uniform(-scale, scale, (vocab_size, dim)), dtype=np.float64, requires_grad=True)
        self.b = cr.zeros(vocab_size, dtype=np.float64, requires_grad=True)
        self.b_tilde = cr.zeros(vocab_size, dtype=np.float64, requires_grad=True)
        self.x_max, self.alpha = x_max, alpha

    def parameters(self) -> list[Tensor]:
        return [self.W, self.W_tilde, self.b, self.b_tilde]

    def cost(self, i: np.ndarray, j: np.ndarray, x: np.ndarray) -> Tensor:
        """J restricted to the entries (i_n, j_n) with counts x_n > 0."""
        f = cr.tensor(glove_weight(x, self.x_max, self.alpha))
        logx = cr.tensor(np.log(x))
        dot = (self.W[i] * self.W_tilde[j]).sum(-1)
        r = dot + self.b[i] + self.b_tilde[j] - logx
        return (f * r * r).sum()

    def fit(self, X: Any, epochs: int = 300, lr: float = 0.1) -> list[float]:
        X = np.asarray(X, dtype=np.float64)
        i, j = np.nonzero(X)
        x = X[i, j]
        opt = optim.Adagrad(self.parameters(), lr=lr)
        history = []
        for _ in range(epochs):
            opt.zero_grad()
            loss = self.cost(i, j, x)
            loss.backward()
            opt.step()
            history.append(loss.item())
        return history

    def vectors(self) -> np.ndarray:
        return self.W._array + self.W_tilde._array


def cosine_similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """S_ij = v_iᵀ v_j / (|v_i| |v_j|) for rows of ``vectors`` (V, d)."""
    v = _unit_rows(vectors)
    return v @ v.T


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm (float64; an all-zero row stays zero)."""
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(vectors: np.ndarray, query: int, k: int = 5) -> list[tuple[int, float]]:
    """The k rows most cosine-similar to row ``query`` (itself excluded): [(index, similarity)]."""
    v = _unit_rows(vectors)
    s = v @ v[query]  # one row of the cosine-similarity matrix
    s[query] = -np.inf
    order = np.argsort(-s, kind="stable")[:k]
    return [(int(o), float(s[o])) for o in order]
