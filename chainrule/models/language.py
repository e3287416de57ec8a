"""Neural language models (notes 004): Bengio's neural LM, RNN/LSTM/GRU LMs, a causal dilated-conv LM.

Every model here is an ``nn.Module`` that maps a batch of token ids to next-token logits,

    forward(x (N, L) int ids, state=None) -> (logits (N, L, V), state)

where row t of ``logits`` scores x_{t+1} given x_1 .. x_t, and ``state`` summarises the text
read so far, so a long stream can be fed in contiguous chunks (truncated backprop through
time for the RNN; the last few tokens for the window models).  ``state=None`` starts a text.

* :class:`BengioLM` — Bengio et al. (2003): the embeddings of the previous ``context``
  tokens are concatenated, e = [C(x_{t-c+1}); ...; C(x_t)] (c·E), then
  y = b + W e + U tanh(d + H e), P(x_{t+1} | ·) = softmax(y);  W e are the optional
  direct connections from the embeddings to the output.
* :class:`RNNLM` — embedding -> ``num_layers`` of LSTM / GRU / tanh RNN -> linear read-out
  (the notes' RNN language model; dropout on the embeddings and the RNN's output).
* :class:`CausalConvLM` — WaveNet-style: embedding -> 1x1 conv -> a stack of causal dilated
  convolutions with gated units z = tanh(a) ⊙ σ(b) and residual connections -> read-out.
  The prediction at t sees only x_{t-R+1} .. x_t, R = 1 + (k - 1) Σ_l δ_l (the receptive field).

All three follow the :mod:`chainrule.text.perplexity` protocol through :meth:`NeuralLM.log_probs`
(1-D ids -> (T, V) log-probabilities as a NumPy array, plus the state), so the same
``perplexity`` function scores them and n-gram models, and ``chainrule.text.sampling``
generates from them.

:func:`train_lm` trains any of them with teacher forcing (the inputs are the true previous
tokens, never the model's own samples) on contiguous chunks of ``batch_size`` parallel
streams, with Adam and gradient clipping ‖g‖ ≤ ``clip`` (:func:`clip_grad_norm_`).
:func:`generate` samples text with a temperature.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.autograd.tensor import Tensor
from chainrule.nn.utils import clip_grad_norm_
from chainrule.text.perplexity import cross_entropy
from chainrule.text.sampling import sample

__all__ = ["BengioLM", "CausalConvLM", "NeuralLM", "RNNLM", "batchify", "generate", "train_lm"]


def _ids(x: Any, who: str) -> np.ndarray:
    a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{who}: expected integer token ids of shape (N, L) or (L,), got {a.dtype} {tuple(a.shape)}")
    return a.astype(np.int64, copy=False)


class NeuralLM(nn.Module):
    """Shared part of the neural language models: the perplexity/sampling protocol.

    Subclasses define ``forward(x (N, L), state) -> (logits (N, L, V), state)`` and
    ``detach_state(state)`` (cut the graph between training chunks).
    """

    vocab_size: int

    def detach_state(self, state: Any) -> Any:
        return state

    def log_probs(self, tokens: Any, state: Any = None) -> tuple[np.ndarray, Any]:
        """1-D ids (T,) continuing the text summarised by ``state`` -> (log P (T, V) NumPy, new state).

        Runs in eval mode (no dropout) without building a graph; the training flag is restored.
        """
        was_training = self.training
        self.eval()
        try:
            with cr.no_grad():
                logits, state = self(np.asarray(tokens, dtype=np.int64).reshape(1, -1), state)
                logp = cr.log_softmax(logits[0], -1)
        finally:
            self.train(was_training)
        return logp._array.astype(np.float64), state


class BengioLM(NeuralLM):
    """Bengio's neural LM over a fixed window of the previous ``context`` tokens.

    e_t = [C(x_{t-c+1}); ...; C(x_t)] (c·E),  h_t = tanh(H e_t + d) (hidden),
    logits_t = U h_t + b (+ W e_t with ``direct=True``).  Before the start of a text the
    window is filled with ``pad_id`` (``<eos>`` = 1 by default, the id that ends a line).
    State: the last c - 1 ids (N, c - 1).
    """

    def __init__(
        self,
        vocab_size: int,
        context: int = 5,
        embed_dim: int = 32,
        hidden: int = 256,
        direct: bool = False,
        dropout: float = 0.0,
        pad_id: int = 1,
    ) -> None:
        super().__init__()
        if context < 1:
            raise ValueError(f"BengioLM: context must be >= 1, got {context}")
        self.vocab_size, self.context, self.pad_id = int(vocab_size), int(context), int(pad_id)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.hidden = nn.Linear(context * embed_dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)
        self.direct = nn.Linear(context * embed_dim, vocab_size, bias=False) if direct else None

    def forward(self, x: Any, state: Any = None) -> tuple[Tensor, np.ndarray]:
        x = _ids(x, "BengioLM")
        N, L = x.shape
        c = self.context
        prev = np.full((N, c - 1), self.pad_id, dtype=np.int64) if state is None else np.asarray(state)
        if prev.shape != (N, c - 1):
            raise ValueError(f"BengioLM: state must be the previous ids of shape ({N}, {c - 1}), got"
                             f" {tuple(prev.shape)}")
        full = np.concatenate([prev, x], 1)  # (N, c - 1 + L)
        windows = np.stack([full[:, j : j + L] for j in range(c)], -1)  # (N, L, c): x_{t-c+1} .. x_t
        e = self.embedding(windows).reshape(N, L, -1)  # (N, L, c·E)
        h = self.drop(cr.tanh(self.hidden(e)))
        logits = self.out(h)
        if self.direct is not None:
            logits = logits + self.direct(e)
        return logits, full[:, full.shape[1] - (c - 1) :]


class RNNLM(NeuralLM):
    """Embedding (E) -> ``num_layers`` recurrent layers (H) -> linear read-out to V logits.

    ``kind``: 'lstm', 'gru' or 'rnn' (tanh).  ``dropout`` is applied to the embeddings, between
    recurrent layers and to the last layer's output.  State: the hidden state (h, or (h, c)).
    """

    KINDS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 32,
        hidden: int = 256,
        kind: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"RNNLM: kind must be one of {sorted(self.KINDS)}, got {kind!r}")
        self.vocab_size, self.kind = int(vocab_size), kind
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.rnn = self.KINDS[kind](embed_dim, hidden, num_layers, batch_first=True,
                                    dropout=dropout if num_layers > 1 else 0.0)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x: Any, state: Any = None) -> tuple[Tensor, Any]:
        x = _ids(x, "RNNLM")
        h, state = self.rnn(self.drop(self.embedding(x)), state)
        return self.out(self.drop(h)), state

    def detach_state(self, state: Any) -> Any:
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()


class CausalConvLM(NeuralLM):
    """Stacked causal dilated convolutions (the notes' WaveNet-style autoregressive model).

    embedding (N, L, E) -> 1x1 conv to C channels -> for each dilation δ:
    [a; b] = CausalConv1d(C, 2C, k, δ)(h),  h <- h + Conv1x1(tanh(a) ⊙ σ(b)) -> ReLU -> linear to V.
    Receptive field R = 1 + (k - 1) Σ δ tokens; state: the last R - 1 ids (or fewer at the start),
    so feeding a text in chunks gives exactly the logits of feeding it whole.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 32,
        channels: int = 64,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size, self.kernel_size, self.dilations = int(vocab_size), int(kernel_size), tuple(dilations)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.inp = nn.Conv1d(embed_dim, channels, 1)
        self.convs = nn.ModuleList([nn.CausalConv1d(channels, 2 * channels, kernel_size, dilation=d)
                                    for d in self.dilations])
        self.mix = nn.ModuleList([nn.Conv1d(channels, channels, 1) for _ in self.dilations])
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(channels, vocab_size)

    @property
    def receptive_field(self) -> int:
        """R = 1 + (k - 1) Σ_l δ_l: how many tokens (the current one included) a prediction sees."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    def forward(self, x: Any, state: Any = None) -> tuple[Tensor, np.ndarray]:
        x = _ids(x, "CausalConvLM")
        N, L = x.shape
        full = x if state is None else np.concatenate([np.asarray(state, dtype=np.int64), x], 1)
        h = self.inp(self.embedding(full).transpose(1, 2))  # (N, C, P + L)
        C = h.shape[1]
        for conv, mix in zip(self.convs, self.mix):
            ab = conv(h)
            h = h + mix(cr.tanh(ab[:, :C]) * cr.sigmoid(ab[:, C:]))
        h = self.drop(cr.relu(h[:, :, full.shape[1] - L :])).transpose(1, 2)  # (N, L, C)
        keep = min(self.receptive_field - 1, full.shape[1])
        return self.out(h), full[:, full.shape[1] - keep :]


def batchify(ids: Any, batch_size: int) -> np.ndarray:
    """Cut a token stream (T,) into ``batch_size`` contiguous streams: (batch_size, T // batch_size)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    n = ids.size // batch_size
    if n < 2:
        raise ValueError(f"batchify: {ids.size} tokens are too few for {batch_size} streams")
    return ids[: n * batch_size].reshape(batch_size, n)


def train_lm(
    model: NeuralLM,
    train_ids: Any,
    steps: int = 500,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 3e-3,
    clip: float = 1.0,
    valid_ids: Any = None,
    eval_every: int = 0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """Teacher-forced training on contiguous chunks (truncated BPTT), Adam, clipped gradients.

    The training stream is cut into ``batch_size`` parallel streams (:func:`batchify`); step i
    reads the next ``seq_len`` tokens of every stream as inputs and the same tokens shifted by
    one as targets, minimising the mean cross-entropy -1/(N L) Σ log P(x_{t+1} | x_≤t).  The
    model's state is carried from chunk to chunk (detached), and reset when the streams wrap
    around.  ``seed`` fixes the random offset of each pass and dropout.  With ``valid_ids`` and
    ``eval_every`` > 0 the validation cross-entropy is recorded and the best weights are kept
    (restored at the end).  The model is left in eval mode.
    Returns {"loss": [...], "valid": [(step, nats), ...], "steps": done, "seconds": wall time}.
    """
    rng = np.random.default_rng(seed)
    cr.manual_seed(seed)
    streams = batchify(train_ids, batch_size)
    span = streams.shape[1] - 1
    opt = optim.Adam(model.parameters(), lr=lr)
    history: dict[str, Any] = {"loss": [], "valid": []}
    best: tuple[float, dict] | None = None
    state, pos = None, span
    t0 = time.perf_counter()
    model.train()
    done = 0
    for step in range(1, steps + 1):
        if pos + 2 > span:  # a new pass over the streams, from a random offset
            pos, state = int(rng.integers(0, min(seq_len, span - 1))), None
        L = min(seq_len, span - pos)
        x, y = streams[:, pos : pos + L], streams[:, pos + 1 : pos + L + 1]
        pos += L
        logits, state = model(x, state)
        state = model.detach_state(state)
        loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), cr.as_tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history["loss"].append(loss.item())
        done = step
        if valid_ids is not None and eval_every and (step % eval_every == 0 or step == steps):
            ce = cross_entropy(model, valid_ids)
            history["valid"].append((step, ce))
            if best is None or ce < best[0]:
                best = (ce, {k: v._array.copy() for k, v in model.state_dict().items()})
            model.train()
            if log:
                log(f"  step {step:5d}  train {np.mean(history['loss'][-eval_every:]):.3f}  valid {ce:.3f} nats")
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
    if best is not None:  # the weights with the lowest validation cross-entropy
        for k, v in model.state_dict().items():
            v._array[...] = best[1][k]
    model.eval()
    history["steps"], history["seconds"] = done, time.perf_counter() - t0
    return history


def generate(
    model: Any,
    prompt: Sequence[int],
    length: int,
    temperature: float = 1.0,
    seed: Any = None,
    stop_id: int | None = None,
) -> list[int]:
    """``length`` ids sampled from P_τ ∝ P^{1/τ} after ``prompt`` (``chainrule.text.sampling.sample``)."""
    return sample(model, prompt, length, temperature, np.random.default_rng(seed), stop_id)
