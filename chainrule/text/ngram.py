"""n-gram language models (n = 1, 2, 3) with add-k smoothing, and linear interpolation of orders.

Under the Markov assumption P(w_t | w_1..w_{t-1}) ≈ P(w_t | w_{t-n+1}..w_{t-1}), and
with counts c(·) from the training text (V = vocabulary size, k > 0):

    P_k(w | u) = (c(u, w) + k) / (c(u) + k V)          (add-k smoothing; k = 1 is Laplace)

where u is the (n-1)-token context and c(u) = Σ_w c(u, w).  The "imaginary count" k
gives unseen n-grams a non-zero probability (the notes' fix for data sparsity).

Interpolation combines orders ("combine predictions from N-gram models with different N"):

    P(w | u, v) = λ_3 P_3(w | u, v) + λ_2 P_2(w | v) + λ_1 P_1(w),     Σ λ = 1,

with the λ fitted on held-out text by EM (each EM step sets λ_j to the average
posterior responsibility of order j for the held-out tokens).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from chainrule.text.perplexity import cross_entropy


class NGramLM:
    """An add-k smoothed n-gram model over ids 0..V-1.

    ``fit(ids)`` counts the n-grams of a training stream (T,); ``log_probs`` follows the
    protocol of :mod:`chainrule.text.perplexity` (state = the last n-1 ids).
    """

    def __init__(self, n: int, vocab_size: int, k: float = 1.0) -> None:
        if n < 1:
            raise ValueError(f"NGramLM: n must be >= 1, got {n}")
        if k <= 0:
            raise ValueError(f"NGramLM: k must be > 0 (add-k smoothing), got {k}")
        self.n = n
        self.vocab_size = vocab_size
        self.k = float(k)
        self.counts: dict[tuple, np.ndarray] = {}
        self.totals: dict[tuple, float] = {}

    def fit(self, ids: Any) -> NGramLM:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        V, n = self.vocab_size, self.n
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"NGramLM.fit: ids must lie in [0, {V})")
        # Group next tokens by context, then count each group with bincount.
        groups: dict[tuple, list[int]] = defaultdict(list)
        seq = ids.tolist()
        for t in range(n - 1, len(seq)):
            groups[tuple(seq[t - n + 1 : t])].append(seq[t])
        self.counts = {u: np.bincount(w, minlength=V).astype(np.float64) for u, w in groups.items()}
        self.totals = {u: float(c.sum()) for u, c in self.counts.items()}
        return self

    def dist(self, context: Sequence[int]) -> np.ndarray:
        """P_k(· | context) of shape (V,); ``context`` is the last n-1 ids (shorter at the start)."""
        V, k = self.vocab_size, self.k
        u = tuple(context)[-(self.n - 1) :] if self.n > 1 else ()
        c = self.counts.get(u)
        if c is None:
            return np.full(V, 1.0 / V)
        return (c + k) / (self.totals[u] + k * V)

    def log_probs(self, tokens: Any, state: Any = None) -> tuple[np.ndarray, Any]:
        ctx = list(state) if state is not None else []
        out = np.empty((len(tokens), self.vocab_size))
        for t, tok in enumerate(np.asarray(tokens).reshape(-1).tolist()):
            ctx = (ctx + [tok])[-(self.n - 1) :] if self.n > 1 else []
            out[t] = self.dist(ctx)
        return np.log(out), tuple(ctx)


class InterpolatedNGramLM:
    """λ-weighted mixture of add-k n-gram models of orders 1..n (see module doc)."""

    def __init__(self, n: int, vocab_size: int, k: float = 1.0, lambdas: Sequence[float] | None = None) -> None:
        self.models = [NGramLM(m, vocab_size, k) for m in range(1, n + 1)]
        self.n = n
        self.vocab_size = vocab_size
        self.lambdas = np.full(n, 1.0 / n) if lambdas is None else np.asarray(lambdas, dtype=np.float64)
        if self.lambdas.shape != (n,) or abs(self.lambdas.sum() - 1) > 1e-9 or (self.lambdas < 0).any():
            raise ValueError(f"InterpolatedNGramLM: need {n} non-negative λ summing to 1, got {self.lambdas}")

    def fit(self, ids: Any) -> InterpolatedNGramLM:
        for m in self.models:
            m.fit(ids)
        return self

    def _component_target_probs(self, ids: np.ndarray) -> np.ndarray:
        inputs, targets = ids[:-1], ids[1:]
        cols = []
        for m in self.models:
            logp, _ = m.log_probs(inputs)
            cols.append(np.exp(logp[np.arange(targets.size), targets]))
        return np.stack(cols, 1)  # (N, n)

    def fit_lambdas(self, held_out: Any, iters: int = 50) -> InterpolatedNGramLM:
        """EM on held-out ids: λ_j ← mean_t λ_j p_j(t) / Σ_i λ_i p_i(t)."""
        p = self._component_target_probs(np.asarray(held_out, dtype=np.int64).reshape(-1))
        lam = np.full(self.n, 1.0 / self.n)
        for _ in range(iters):
            r = lam * p
            r /= r.sum(1, keepdims=True)
            lam = r.mean(0)
        self.lambdas = lam
        return self

    def log_probs(self, tokens: Any, state: Any = None) -> tuple[np.ndarray, Any]:
        states = state if state is not None else [None] * self.n
        mix = np.zeros((len(tokens), self.vocab_size))
        new_states = []
        for lam, m, s in zip(self.lambdas, self.models, states):
            lp, s2 = m.log_probs(tokens, s)
            mix += lam * np.exp(lp)
            new_states.append(s2)
        return np.log(mix), new_states


def best_add_k(
    n: int, vocab_size: int, train: Any, valid: Any, ks: Sequence[float] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)
) -> tuple[NGramLM, float]:
    """Fit add-k n-gram models for each k and keep the one with the lowest validation cross-entropy."""
    best: tuple[NGramLM, float] | None = None
    for k in ks:
        m = NGramLM(n, vocab_size, k).fit(train)
        ce = cross_entropy(m, valid)
        if best is None or ce < best[1]:
            best = (m, ce)
    assert best is not None
    return best[0], best[1]
