"""ONE held-out perplexity for every language model, and the protocol they share.

A language model (n-gram, Bengio's neural LM, RNN/LSTM/GRU, causal-conv) exposes

    model.vocab_size : int
    model.log_probs(tokens, state=None) -> (logp, state)

``tokens`` is a 1-D int array (T,) of ids that *continue* the text seen so far
(summarised by ``state``; None at the start of a text).  Row t of ``logp`` (T, V)
is log P(x_{t+1} = · | x_1 .. x_t): the next-token log-probabilities after reading
token t.  The returned state continues the text, so a long text can be fed in
chunks, and the same call drives sampling and beam search (:mod:`sampling`).

Perplexity of a held-out token stream x_1 .. x_N (x_1 is given, e.g. ``<eos>``):

    PPL = exp( -1/(N-1) Σ_{t=2..N} log P(x_t | x_1 .. x_{t-1}) )

i.e. the exponential of the average cross-entropy in nats per token.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class LanguageModel(Protocol):
    vocab_size: int

    def log_probs(self, tokens: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]: ...


def cross_entropy(model: LanguageModel, tokens: Any, chunk_size: int = 1024) -> float:
    """Average negative log-likelihood (nats per predicted token) of ``tokens[1:]``."""
    ids = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if ids.size < 2:
        raise ValueError(f"perplexity: need at least 2 tokens, got {ids.size}")
    if ids.min() < 0 or ids.max() >= model.vocab_size:
        raise ValueError(f"perplexity: token ids must lie in [0, {model.vocab_size}), got [{ids.min()}, {ids.max()}]")
    inputs, targets = ids[:-1], ids[1:]
    state = None
    total = 0.0
    for s in range(0, inputs.size, chunk_size):
        logp, state = model.log_probs(inputs[s : s + chunk_size], state)
        logp = np.asarray(logp)
        tgt = targets[s : s + chunk_size]
        if logp.shape != (tgt.size, model.vocab_size):
            raise ValueError(
                f"perplexity: log_probs must return ({tgt.size}, {model.vocab_size}), got {tuple(logp.shape)}"
            )
        total -= float(logp[np.arange(tgt.size), tgt].astype(np.float64).sum())
    return total / targets.size


def perplexity(model: LanguageModel, tokens: Any, chunk_size: int = 1024) -> float:
    """Held-out perplexity exp(mean NLL) of ``tokens[1:]`` under ``model`` (see module doc)."""
    return float(np.exp(cross_entropy(model, tokens, chunk_size)))


def perplexity_table(rows: list[tuple[str, float]], title: str = "held-out perplexity") -> str:
    """Format (model name, perplexity) pairs as a plain-text table, best first."""
    width = max(len(title), *(len(n) for n, _ in rows))
    lines = [f"{title:<{width}}  {'PPL':>9}", "-" * (width + 11)]
    for name, ppl in sorted(rows, key=lambda r: r[1]):
        lines.append(f"{name:<{width}}  {ppl:>9.2f}")
    return "\n".join(lines)
