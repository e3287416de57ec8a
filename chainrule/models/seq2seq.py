"""Sequence to sequence with additive (Bahdanau) attention (notes 004): a GRU encoder-decoder.

Encoder (optionally bidirectional): the source x_1 .. x_S is embedded and read by a GRU; its
outputs are the *annotations* h_j (N, S, D·H), D = 2 when bidirectional (h_j = [h→_j; h←_j]).
The decoder starts from s_0 = tanh(W_s [h→_S; h←_1] + b_s) and, at output step i,

    e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j)            (the notes' additive attention score)
    a_ij = exp(e_ij) / Σ_j exp(e_ij)                  (padded source positions get a_ij = 0)
    c_i  = Σ_j a_ij h_j                                (the context)
    s_i  = GRU([E y_{i-1}; c_i], s_{i-1})              (decoder input = [embedding; context])
    P(y_i | y_<i, x) = softmax(W_o [s_i; c_i; E y_{i-1}] + b_o)

Training uses teacher forcing: y_{i-1} is the true previous target token (``<bos>`` at i = 1),
never the model's own guess, and the loss is the mean cross-entropy over the target tokens
(``<eos>`` included, padding ignored).

Efficiency (the decoder recursion through c_i and s_i is sequential, the rest is not):

* U_a h_j, the encoder side of every score, is computed once per source sequence;
* the embedding half of the GRU's input projection, W_ie E y_{i-1} + b_ih, is computed for all
  teacher-forced steps in one product before the loop, and the read-out W_o [s_i; c_i; E y_{i-1}]
  for all steps in one product after it; inside the loop there are three small matrix products
  (W_a s, W_ic c, W_hh s) and the attention.

``reverse_input=True`` is the notes' reversed-input trick (ABC -> CBA: the first source tokens end
up next to the first target tokens, shortening the path between them).  Attention weights are
always returned in the *original* source order.

Decoding: :meth:`Seq2Seq.greedy_decode` (batched argmax) and :meth:`Seq2Seq.beam_search`
(``chainrule.text.sampling.beam_search`` with a step function that advances all beams of a
sentence in one batched step) both return token ids and attention weights.

The generated task: :func:`date_vocabs`, :func:`encode_texts` and the dates of
``chainrule.text.tasks.dates_dataset`` ("twenty-third of march 1997" -> "1997-03-23").
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.autograd.tensor import Tensor
from chainrule.nn.utils import clip_grad_norm_
from chainrule.text import sampling
from chainrule.text.vocab import CharVocab

__all__ = [
    "Seq2Seq",
    "Translation",
    "date_vocabs",
    "encode_texts",
    "exact_match",
    "train_seq2seq",
    "translate",
]

PAD, BOS = "<pad>", "<bos>"


# ---------------------------------------------------------------------------- vocabularies
def char_vocab(chars: str) -> CharVocab:
    """A character vocabulary with ``<unk>`` = 0, ``<eos>`` = 1, ``<pad>`` = 2, ``<bos>`` = 3, then ``chars``."""
    return CharVocab([PAD, BOS, *chars])


def date_vocabs() -> tuple[CharVocab, CharVocab]:
    """(source, target) vocabularies of the dates task: letters, digits, " ,/-" and digits, "-"."""
    return char_vocab(string.ascii_lowercase + string.digits + " ,/-"), char_vocab(string.digits + "-")


def encode_texts(texts: Sequence[str], vocab: CharVocab, eos: bool = False) -> np.ndarray:
    """Strings -> (N, L) int64 ids padded at the end with ``<pad>`` (``<eos>`` appended if ``eos``)."""
    seqs = [vocab.encode(t) for t in texts]
    if eos:
        seqs = [np.append(s, vocab.eos_id) for s in seqs]
    return pad_sequences(seqs, vocab.stoi[PAD])


def pad_sequences(seqs: Sequence[Sequence[int] | np.ndarray], pad_id: int) -> np.ndarray:
    """Lists of ids -> (N, max length) int64 array padded at the end with ``pad_id``."""
    L = max((len(s) for s in seqs), default=0)
    out = np.full((len(seqs), max(L, 1)), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def _ids(x: Any, who: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x)  # ids are prepared on the host
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{who}: expected integer token ids of shape (N, L) or (L,), got {a.dtype} {tuple(a.shape)}")
    return a.astype(np.int64, copy=False)


def _reverse_valid(src: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Reverse the first ``lengths[i]`` ids of every row, leaving the padding at the end: ABC__ -> CBA__."""
    S = src.shape[1]
    j = np.arange(S)[None, :]
    idx = np.where(j < lengths[:, None], lengths[:, None] - 1 - j, j)
    return np.take_along_axis(src, idx, 1)


# ---------------------------------------------------------------------------------- model
@dataclass
class Encoded:
    """What the decoder needs from the encoder: annotations, their attention projection, the mask."""

    keys: Tensor  # h_j (N, S, D·H)
    uh: Tensor  # U_a h_j (N, S, A), computed once per source
    neg: Tensor  # (N, S): 0 at real positions, -inf at padding (added to the scores)
    s0: Tensor  # the decoder's initial state (N, H)
    lengths: np.ndarray  # source lengths (N,)


@dataclass
class Translation:
    """One decoded sequence: ids (no ``<bos>``/``<eos>``), attention (len(ids), source length), score."""

    ids: list
    attention: np.ndarray
    score: float = float("nan")


class Seq2Seq(nn.Module):
    """GRU encoder-decoder with additive attention (see the module docstring for the equations).

    ``Seq2Seq(src_vocab_size, tgt_vocab_size, embed_dim=32, hidden=64, attn_dim=None (= hidden),
    bidirectional=True, reverse_input=False, pad_id=2, bos_id=3, eos_id=1)`` — the id defaults are
    those of :func:`char_vocab`.  Sources are (N, S) ids padded at the end with ``pad_id``.

    Submodules: ``src_embed``, ``tgt_embed`` (Embedding), ``encoder`` and, when bidirectional,
    ``encoder_reverse`` (GRUs; the backward one reads each row's real tokens from its end, so a
    source's annotations do not depend on how much padding follows it), ``bridge`` (Linear, s_0),
    ``attention`` (AdditiveAttention: W_a, U_a, v_a), ``decoder`` (GRUCell, input E + D·H),
    ``out`` (Linear H + D·H + E -> V).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_dim: int = 32,
        hidden: int = 64,
        attn_dim: int | None = None,
        bidirectional: bool = True,
        reverse_input: bool = False,
        pad_id: int = 2,
        bos_id: int = 3,
        eos_id: int = 1,
    ) -> None:
        super().__init__()
        E, H = int(embed_dim), int(hidden)
        D = 2 if bidirectional else 1
        self.embed_dim, self.hidden = E, H
        self.bidirectional, self.reverse_input = bool(bidirectional), bool(reverse_input)
        self.src_vocab_size, self.tgt_vocab_size = int(src_vocab_size), int(tgt_vocab_size)
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        K = D * H  # annotation size
        self.src_embed = nn.Embedding(src_vocab_size, E, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, E)
        self.encoder = nn.GRU(E, H, batch_first=True)  # the forward direction
        self.encoder_reverse = nn.GRU(E, H, batch_first=True) if bidirectional else None
        self.bridge = nn.Linear(K, H)
        self.attention = nn.AdditiveAttention(H, K, attn_dim or H)
        self.decoder = nn.GRUCell(E + K, H)
        self.out = nn.Linear(H + K + E, tgt_vocab_size)

    def extra_repr(self) -> str:
        return f"bidirectional={self.bidirectional}, reverse_input={self.reverse_input}"

    # ---------------------------------------------------------------------------- encoder
    def encode(self, src: Any) -> Encoded:
        """Source ids (N, S), padded at the end -> annotations, U_a h, the padding mask and s_0."""
        src = _ids(src, "Seq2Seq.encode")
        pad = src == self.pad_id
        lengths = src.shape[1] - pad.sum(1)
        if np.any(lengths == 0):
            raise ValueError("Seq2Seq.encode: every source needs at least one token that is not padding")
        if np.any(pad[:, :-1] & ~pad[:, 1:]):
            raise ValueError("Seq2Seq.encode: padding must come after the tokens (pad at the end)")
        if self.reverse_input:
            src = _reverse_valid(src, lengths)
        N = src.shape[0]
        dev = self.src_embed.weight.device  # the host-prepared ids go to the model's device
        h, _ = self.encoder(self.src_embed(cr.as_tensor(src).to(dev)))  # (N, S, H): h→_j
        last = h[np.arange(N), lengths - 1]  # h→ after the last real token
        if self.bidirectional:
            # the backward direction reads each row's real tokens from its own end (as a packed
            # sequence would), so the padding never leaks into the annotations
            j = np.arange(src.shape[1])[None, :]
            rev = np.where(j < lengths[:, None], lengths[:, None] - 1 - j, j)
            assert self.encoder_reverse is not None  # made in __init__ when bidirectional
            hb, _ = self.encoder_reverse(self.src_embed(cr.as_tensor(np.take_along_axis(src, rev, 1)).to(dev)))
            hb = hb[np.arange(N)[:, None], rev]  # h←_j back in source order
            init = cr.cat([last, hb[:, 0]], -1)  # [h→_S; h←_1]
            h = cr.cat([h, hb], -1)  # (N, S, 2H)
        else:
            init = last
        s0 = cr.tanh(self.bridge(init))
        uh = h @ self.attention.U_a.T  # (N, S, A): the encoder side of e_ij, once per source
        neg = Tensor(np.where(pad, -np.inf, 0.0).astype(h.dtype)).to(dev)
        return Encoded(h, uh, neg, s0, lengths)

    # ---------------------------------------------------------------------------- decoder
    def _weights(self) -> tuple:
        """Per-call views of the decoder's parameters: W_ie (embedding part), W_ic (context part), ..."""
        E = self.embed_dim
        w_ih = self.decoder.weight_ih
        return w_ih[:, :E].T, w_ih[:, E:].T, self.decoder.weight_hh.T, self.attention.W_a.T

    def _step(self, gi_y: Tensor, s: Tensor, enc: Encoded, w: tuple) -> tuple:
        """One decoder step from s_{i-1}: attention, context c_i, GRU state s_i.

        ``gi_y`` = W_ie E y_{i-1} + b_ih (N, 3H), precomputed.  Returns (s_i, c_i, a_i (N, S)).
        """
        _, w_icT, w_hhT, w_aT = w
        H = self.hidden
        att = self.attention
        e = cr.tanh(enc.uh + (s @ w_aT).unsqueeze(1)) @ att.v_a  # (N, S): v_aᵀ tanh(W_a s + U_a h_j)
        a = cr.softmax(e + enc.neg, -1)
        c = (a.unsqueeze(1) @ enc.keys).squeeze(1)  # (N, D·H): Σ_j a_ij h_j
        gi = gi_y + c @ w_icT  # the input projection of [E y; c]
        gh = s @ w_hhT + self.decoder.bias_hh
        rz = cr.sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])
        n = cr.tanh(gi[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
        return n + rz[:, H:] * (s - n), c, a

    def forward(self, src: Any, tgt_in: Any, return_attention: bool = False) -> Any:
        """Teacher-forced logits: src (N, S), tgt_in (N, T) = [<bos>, y_1, ..., y_{T-1}] -> (N, T, V).

        With ``return_attention`` also the weights (N, T, S) in the model's source order (reversed
        when ``reverse_input``; :meth:`attention_weights` gives them in the original order).
        """
        enc = self.encode(src)
        tgt_in = _ids(tgt_in, "Seq2Seq.forward")
        if tgt_in.shape[0] != enc.keys.shape[0]:
            raise ValueError(
                f"Seq2Seq.forward: src has {enc.keys.shape[0]} rows but tgt_in has {tgt_in.shape[0]}"
            )
        w = self._weights()
        y = self.tgt_embed(cr.as_tensor(tgt_in).to(self.tgt_embed.weight.device))  # (N, T, E)
        gi_all = y @ w[0] + self.decoder.bias_ih  # (N, T, 3H): all steps in one product
        s, states, contexts, weights = enc.s0, [], [], []
        for gi_y in gi_all.unbind(1):
            s, c, a = self._step(gi_y, s, enc, w)
            states.append(s)
            contexts.append(c)
            weights.append(a)
        feats = cr.cat([cr.stack(states, 1), cr.stack(contexts, 1), y], -1)  # (N, T, H + D·H + E)
        logits = self.out(feats)
        return (logits, cr.stack(weights, 1)) if return_attention else logits

    def loss(self, src: Any, tgt: Any) -> Tensor:
        """Mean teacher-forced cross-entropy; tgt (N, T) = y_1 .. y_T with ``<eos>``, padded with ``pad_id``."""
        tgt = _ids(tgt, "Seq2Seq.loss")
        tgt_in = np.concatenate([np.full((tgt.shape[0], 1), self.bos_id), tgt[:, :-1]], 1)
        tgt_in[tgt_in == self.pad_id] = self.eos_id  # inputs after <eos> do not matter (their targets are ignored)
        logits = self(src, tgt_in)
        return F.cross_entropy(logits.reshape(-1, self.tgt_vocab_size), cr.as_tensor(tgt.reshape(-1)).to(logits.device),
                               ignore_index=self.pad_id)

    def _original_order(self, a: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Attention (N, T, S) in the model's source order -> the original order (undo ``reverse_input``)."""
        if not self.reverse_input:
            return a
        S = a.shape[-1]
        j = np.arange(S)[None, :]
        idx = np.where(j < lengths[:, None], lengths[:, None] - 1 - j, j)  # an involution
        return np.take_along_axis(a, np.broadcast_to(idx[:, None, :], a.shape), -1)

    def attention_weights(self, src: Any, tgt: Any) -> np.ndarray:
        """a_ij (N, T, S) while reading the target ``tgt`` (y_1 .. y_T) by teacher forcing, original source order."""
        src, tgt = _ids(src, "Seq2Seq.attention_weights"), _ids(tgt, "Seq2Seq.attention_weights")
        tgt_in = np.concatenate([np.full((tgt.shape[0], 1), self.bos_id), tgt[:, :-1]], 1)
        tgt_in[tgt_in == self.pad_id] = self.eos_id
        with cr.no_grad():
            _, a = self(src, tgt_in, return_attention=True)
        lengths = src.shape[1] - (src == self.pad_id).sum(1)
        return self._original_order(a.cpu().numpy(), lengths)

    # ---------------------------------------------------------------------------- decoding
    def _decode_step(self, tokens: np.ndarray, s: Tensor, enc: Encoded, w: tuple) -> tuple:
        """Free-running step: previous ids (B,) -> (log P (B, V), s_i, a_i)."""
        y = self.tgt_embed(cr.as_tensor(tokens).to(self.tgt_embed.weight.device))
        s, c, a = self._step(y @ w[0] + self.decoder.bias_ih, s, enc, w)
        logits = self.out(cr.cat([s, c, y], -1))
        return cr.log_softmax(logits, -1), s, a

    def _max_len(self, enc: Encoded, max_len: int | None) -> int:
        return int(max_len) if max_len is not None else int(2 * enc.keys.shape[1] + 10)

    def greedy_decode(self, src: Any, max_len: int | None = None) -> list[Translation]:
        """argmax decoding of every source row (batched): y_i = argmax P(y | y_<i, x) until ``<eos>``.

        Returns one :class:`Translation` per row: ids without ``<eos>``, attention (len(ids), length
        of the source) in the original source order, score = Σ log P of the ids and ``<eos>``.
        """
        was = self.training
        self.eval()
        try:
            with cr.no_grad():
                enc = self.encode(src)
                w = self._weights()
                N = enc.keys.shape[0]
                tok = np.full(N, self.bos_id, dtype=np.int64)
                s, done = enc.s0, np.zeros(N, dtype=bool)
                toks, atts, score = [], [], np.zeros(N)
                for _ in range(self._max_len(enc, max_len)):
                    logp, s, a = self._decode_step(tok, s, enc, w)
                    lp = logp.cpu().numpy()  # the choice of the next ids is made on the host
                    tok = lp.argmax(-1)
                    score += np.where(done, 0.0, lp[np.arange(N), tok])
                    toks.append(tok)
                    atts.append(a.cpu().numpy())
                    done |= tok == self.eos_id
                    if done.all():
                        break
        finally:
            self.train(was)
        T = np.stack(toks, 1)
        A = self._original_order(np.stack(atts, 1), enc.lengths)
        out = []
        for i in range(N):
            stop = np.flatnonzero(T[i] == self.eos_id)
            n = int(stop[0]) if stop.size else T.shape[1]
            out.append(Translation(T[i, :n].tolist(), A[i, :n, : enc.lengths[i]], float(score[i])))
        return out

    def beam_search(
        self, src: Any, beam_size: int = 4, max_len: int | None = None, length_penalty: float = 0.0
    ) -> list[Translation]:
        """Beam search for every source row (``chainrule.text.sampling.beam_search``).

        Keeps the ``beam_size`` best partial translations by Σ log P; all beams of a sentence move
        in one batched decoder step.  Returns the best finished sequence per row, with its score
        and its attention weights (recomputed by teacher-forcing the chosen ids).
        ``beam_size=1`` is greedy decoding.
        """
        src = _ids(src, "Seq2Seq.beam_search")
        was = self.training
        self.eval()
        results = []
        try:
            with cr.no_grad():
                w = self._weights()
                for row in src:
                    enc = self.encode(row[row != self.pad_id][None])  # (1, S): broadcasts over the beams

                    def step(tokens: np.ndarray, states: list, enc: Encoded = enc) -> tuple:
                        s = Tensor(np.stack(states)).to(enc.s0.device)  # beam states live on the host
                        logp, s, _ = self._decode_step(np.asarray(tokens, dtype=np.int64), s, enc, w)
                        return logp.cpu().numpy().astype(np.float64), list(s.cpu().numpy())

                    best = sampling.beam_search(step, enc.s0.cpu().numpy()[0], self.bos_id, self.eos_id,
                                                self._max_len(enc, max_len), beam_size, length_penalty)
                    results.append((row, best[0]))
        finally:
            self.train(was)
        out = []
        for row, (ids, score) in results:
            L = int((row != self.pad_id).sum())
            if ids:
                att = self.attention_weights(row[:L][None], np.array([ids]))[0]
            else:
                att = np.zeros((0, L))
            out.append(Translation(list(ids), att[:, :L], float(score)))
        return out


# ---------------------------------------------------------------------------- training
def _batches(n: int, batch_size: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(n)
        for k in range(0, n - batch_size + 1, batch_size):
            yield order[k : k + batch_size]


def train_seq2seq(
    model: Seq2Seq,
    src: Sequence[np.ndarray] | np.ndarray,
    tgt: Sequence[np.ndarray] | np.ndarray,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float = 1.0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    log_every: int = 200,
    time_limit: float | None = None,
    lr_decay: float = 0.1,
    stop_when: Callable[[Seq2Seq], bool] | None = None,
    check_every: int = 50,
) -> dict[str, Any]:
    """Teacher-forced training with Adam and clipped gradients (‖g‖ ≤ ``clip``).

    ``src``/``tgt``: id sequences (ragged lists or padded arrays; targets end with ``<eos>``).
    Each step draws ``batch_size`` pairs (reshuffled every pass), pads them to the batch's
    longest, and minimises the mean cross-entropy of the target tokens.  The learning rate
    decays linearly to ``lr * lr_decay`` over the steps.  Stops early after ``time_limit``
    seconds, or at the first multiple of ``check_every`` steps where ``stop_when(model)`` is true
    (e.g. a held-out accuracy has reached a target; the learning-rate schedule is still the one
    for ``steps``).  The model is left in eval mode.  Returns {"loss": [...], "steps", "seconds"}.
    """
    rng = np.random.default_rng(seed)
    cr.manual_seed(seed)
    src_l = [np.asarray(s)[np.asarray(s) != model.pad_id] for s in src]
    tgt_l = [np.asarray(t)[np.asarray(t) != model.pad_id] for t in tgt]
    if len(src_l) != len(tgt_l) or len(src_l) < batch_size:
        raise ValueError(f"train_seq2seq: need as many targets as sources and at least {batch_size} pairs, "
                         f"got {len(src_l)} and {len(tgt_l)}")
    opt = optim.Adam(model.parameters(), lr=lr)
    batches = _batches(len(src_l), batch_size, rng)
    hist: dict[str, Any] = {"loss": []}
    model.train()
    t0 = time.perf_counter()
    done = 0
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr * (1.0 - (1.0 - lr_decay) * (step - 1) / max(steps - 1, 1))
        idx = next(batches)
        loss = model.loss(pad_sequences([src_l[i] for i in idx], model.pad_id),
                          pad_sequences([tgt_l[i] for i in idx], model.pad_id))
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), clip)
        opt.step()
        hist["loss"].append(loss.item())
        done = step
        if log and (step % log_every == 0 or step == steps):
            log(f"  step {step:5d}  loss {np.mean(hist['loss'][-log_every:]):.4f}  "
                f"{time.perf_counter() - t0:6.1f} s")
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            break
        if stop_when is not None and step % check_every == 0 and step < steps:
            stopped = stop_when(model)
            model.train()
            if stopped:
                break
    model.eval()
    hist["steps"], hist["seconds"] = done, time.perf_counter() - t0
    return hist


# --------------------------------------------------------------------------- translating
def translate(
    model: Seq2Seq,
    texts: Sequence[str],
    src_vocab: CharVocab,
    tgt_vocab: CharVocab,
    beam_size: int | None = None,
    batch_size: int = 256,
) -> list[tuple[str, Translation]]:
    """Translate strings: greedy (``beam_size`` None) or beam search -> [(output text, Translation)]."""
    out: list[tuple[str, Translation]] = []
    for k in range(0, len(texts), batch_size):
        src = encode_texts(texts[k : k + batch_size], src_vocab)
        res = model.greedy_decode(src) if beam_size is None else model.beam_search(src, beam_size)
        out.extend((tgt_vocab.decode(r.ids), r) for r in res)
    return out


def exact_match(
    model: Seq2Seq,
    pairs: Sequence[tuple[str, str]],
    src_vocab: CharVocab,
    tgt_vocab: CharVocab,
    beam_size: int | None = None,
) -> float:
    """Exact-sequence accuracy: the fraction of pairs whose whole output string equals the target."""
    outs = translate(model, [s for s, _ in pairs], src_vocab, tgt_vocab, beam_size)
    return float(np.mean([o == t for (o, _), (_, t) in zip(outs, pairs)]))
