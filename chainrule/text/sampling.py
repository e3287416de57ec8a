"""Generating from a model: temperature sampling, greedy decoding and beam search.

Temperature τ rescales the next-token log-probabilities before sampling:

    P_τ(w) = exp(log P(w) / τ) / Σ_w' exp(log P(w') / τ)

τ → 0 approaches greedy (argmax) decoding, τ = 1 samples from the model, τ > 1
flattens the distribution.

Two interfaces:

* language models (:mod:`chainrule.text.perplexity` protocol ``log_probs(tokens,
  state)``): :func:`sample` and :func:`generate_greedy` continue a prompt;
  :func:`lm_step` turns such a model into a step function for :func:`beam_search`.
* any decoder given as a *step function*
  ``step(tokens: (B,) ids, states: list of B states) -> (log_probs (B, V), new states)``:
  :func:`greedy_decode` and :func:`beam_search` (used by seq2seq).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

StepFn = Callable[[np.ndarray, list], tuple[np.ndarray, list]]


def apply_temperature(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Normalised probabilities P_τ ∝ exp(log P / τ) along the last axis."""
    if temperature <= 0:
        raise ValueError(f"apply_temperature: temperature must be > 0, got {temperature}")
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)


def _read(model: Any, prompt: Sequence[int]) -> tuple[np.ndarray, Any]:
    ids = np.asarray(prompt, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("sample: the prompt must contain at least one token (e.g. <eos>)")
    logp, state = model.log_probs(ids, None)
    return np.asarray(logp)[-1], state


def sample(
    model: Any,
    prompt: Sequence[int],
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | int | None = None,
    stop_id: int | None = None,
) -> list[int]:
    """Continue ``prompt`` by ``length`` ids sampled from P_τ (stops early at ``stop_id``)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    last, state = _read(model, prompt)
    out: list[int] = []
    for _ in range(length):
        p = apply_temperature(last, temperature)
        tok = int(rng.choice(p.size, p=p))
        out.append(tok)
        if tok == stop_id:
            break
        logp, state = model.log_probs(np.array([tok]), state)
        last = np.asarray(logp)[-1]
    return out


def generate_greedy(model: Any, prompt: Sequence[int], length: int, stop_id: int | None = None) -> list[int]:
    """Continue ``prompt`` by taking the most probable next id each step."""
    last, state = _read(model, prompt)
    out: list[int] = []
    for _ in range(length):
        tok = int(np.argmax(last))
        out.append(tok)
        if tok == stop_id:
            break
        logp, state = model.log_probs(np.array([tok]), state)
        last = np.asarray(logp)[-1]
    return out


def lm_step(model: Any) -> StepFn:
    """Wrap a protocol language model as a batched step function (one call per beam)."""

    def step(tokens: np.ndarray, states: list) -> tuple[np.ndarray, list]:
        rows, new = [], []
        for tok, st in zip(np.asarray(tokens).tolist(), states):
            lp, st2 = model.log_probs(np.array([tok]), st)
            rows.append(np.asarray(lp)[-1])
            new.append(st2)
        return np.stack(rows), new

    return step


def greedy_decode(step: StepFn, state: Any, bos: int, eos: int, max_len: int) -> list[int]:
    """argmax decoding from ``bos`` until ``eos`` (not included) or ``max_len`` tokens."""
    tok, states, out = bos, [state], []
    for _ in range(max_len):
        logp, states = step(np.array([tok]), states)
        tok = int(np.argmax(logp[0]))
        if tok == eos:
            break
        out.append(tok)
    return out


def beam_search(
    step: StepFn,
    state: Any,
    bos: int,
    eos: int,
    max_len: int,
    beam_width: int = 4,
    length_penalty: float = 0.0,
) -> list[tuple[list[int], float]]:
    """Beam search: keep the ``beam_width`` best partial sequences by total log-probability.

    Each step extends every live beam by every token, scores s(y_1..y_t) = Σ log P(y_i | y_<i),
    and keeps the best ``beam_width`` extensions; a beam that emits ``eos`` is finished.
    Finished sequences are ranked by s / |y|^length_penalty (0: raw log-probability).
    Returns [(tokens without bos/eos, score)], best first.  ``beam_width = 1`` is greedy.
    """
    if beam_width < 1:
        raise ValueError(f"beam_search: beam_width must be >= 1, got {beam_width}")
    beams: list[tuple[list[int], float, Any]] = [([], 0.0, state)]
    finished: list[tuple[list[int], float]] = []

    def norm(seq: list[int], score: float) -> float:
        return score / max(len(seq) + 1, 1) ** length_penalty

    for _ in range(max_len):
        last = np.array([b[0][-1] if b[0] else bos for b in beams])
        logp, new_states = step(last, [b[2] for b in beams])
        V = logp.shape[1]
        total = np.array([b[1] for b in beams])[:, None] + logp  # (B, V)
        flat = total.reshape(-1)
        order = np.argsort(-flat, kind="stable")[: 2 * beam_width]
        nxt: list[tuple[list[int], float, Any]] = []
        for idx in order:
            b, tok = divmod(int(idx), V)
            seq, score = beams[b][0], float(flat[idx])
            if tok == eos:
                finished.append((seq, score))
            else:
                nxt.append((seq + [tok], score, new_states[b]))
            if len(nxt) == beam_width:
                break
        beams = nxt
        if not beams:
            break
        best_done = max((norm(s, sc) for s, sc in finished), default=-np.inf)
        # scores only fall as sequences grow (log P <= 0), so stop when no live beam can win
        if length_penalty == 0.0 and len(finished) >= beam_width and best_done >= beams[0][1]:
            break
    finished.extend((s, sc) for s, sc, _ in beams if not finished or len(finished) < beam_width)
    return sorted(((s, sc) for s, sc in finished), key=lambda r: -norm(*r))
