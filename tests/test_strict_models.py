"""Issue 11, item 5: one training loop of each model family on the strict back end.

The strict back end's arrays are refused by every NumPy function (tests/strict_backend.py), so a
layer, loss or optimiser that computes with NumPy instead of its device's table fails here.  Each
test trains the same float64 model for a few steps on the CPU and on the strict device, from the
same initial parameters and the same seed (dropout masks are drawn on the host, so they agree),
and asserts equal losses and parameters.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from strict_backend import DEVICE
from strict_backend import host as _host

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.models.cnn import cnn
from chainrule.models.mlp import mlp
from chainrule.models.seq2seq import Seq2Seq

STEPS = 3




def _train_both(model: nn.Module, make_opt, batches, loss_fn, sched=None, clip=None):
    """Train a copy of ``model`` on each device from the same state and seed; compare."""
    runs = {}
    for dev in ("cpu", "strict"):
        net = copy.deepcopy(model).to(dev)
        opt = make_opt(net.parameters())
        lr_sched = sched(opt) if sched else None
        cr.manual_seed(7)
        losses = []
        for batch in batches:
            batch = [b.to(dev) for b in batch]
            opt.zero_grad()
            loss = loss_fn(net, *batch)
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            if lr_sched:
                lr_sched.step()
            assert loss.device == (DEVICE if dev == "strict" else "cpu")
            losses.append(float(loss.item()))
        runs[dev] = (losses, net)
    np.testing.assert_allclose(runs["strict"][0], runs["cpu"][0], rtol=1e-10)
    for (name, p), (_, q) in zip(runs["cpu"][1].named_parameters(), runs["strict"][1].named_parameters()):
        assert q.device == DEVICE, name
        np.testing.assert_allclose(_host(q), _host(p), rtol=1e-9, atol=1e-12, err_msg=name)
    for (name, b), (_, c) in zip(runs["cpu"][1].named_buffers(), runs["strict"][1].named_buffers()):
        np.testing.assert_allclose(_host(c), _host(b), rtol=1e-9, atol=1e-12, err_msg=name)
    return runs["cpu"][0]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_mlp_with_adam(strict):
    cr.manual_seed(0)
    model = mlp(6, 3, hidden=[16, 16], dropout=0.2, batch_norm=True).double()
    r = _rng()
    batches = [(cr.tensor(r.standard_normal((8, 6))), cr.tensor(r.integers(0, 3, 8))) for _ in range(STEPS)]
    losses = _train_both(
        model, lambda ps: cr.optim.Adam(ps, lr=1e-2), batches, lambda n, x, y: F.cross_entropy(n(x), y)
    )
    assert losses[-1] < losses[0]


def test_cnn_with_batch_norm_dropout_and_momentum(strict):
    cr.manual_seed(0)
    model = cnn(1, 4, image_size=8, channels=(4, 6), batch_norm=True, dropout=0.3, hidden=8).double()
    r = _rng(1)
    batches = [(cr.tensor(r.standard_normal((4, 1, 8, 8))), cr.tensor(r.integers(0, 4, 4))) for _ in range(STEPS)]
    _train_both(
        model,
        lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-4),
        batches,
        lambda n, x, y: F.cross_entropy(n(x), y),
        sched=lambda o: cr.optim.lr_scheduler.StepLR(o, 2, 0.5),
    )


class _LSTMLM(nn.Module):
    """Embedding -> 2-layer LSTM (dropout between layers) -> linear read-out."""

    def __init__(self, V: int = 11, E: int = 5, H: int = 7) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.LSTM(E, H, num_layers=2, batch_first=True, dropout=0.2)
        self.out = nn.Linear(H, V)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        h, _ = self.rnn(self.emb(x))
        return self.out(h)


def test_lstm_language_model_with_clipping(strict):
    cr.manual_seed(0)
    model = _LSTMLM().double()
    r = _rng(2)
    batches = []
    for _ in range(STEPS):
        ids = r.integers(0, 11, (3, 6))
        batches.append((cr.tensor(ids[:, :-1]), cr.tensor(ids[:, 1:])))
    _train_both(
        model,
        lambda ps: cr.optim.Adam(ps, lr=1e-2),
        batches,
        lambda n, x, y: F.cross_entropy(n(x).reshape(-1, 11), y.reshape(-1)),
        clip=0.5,
    )


def test_seq2seq_with_attention(strict):
    cr.manual_seed(0)
    model = Seq2Seq(9, 8, embed_dim=4, hidden=5, pad_id=2, bos_id=3, eos_id=1).double()
    r = _rng(3)
    batches = []
    for _ in range(STEPS):
        src = r.integers(4, 9, (3, 5))
        src[0, 3:] = 2  # padding at the end of one source
        tgt = r.integers(4, 8, (3, 4))
        tgt_in = np.concatenate([np.full((3, 1), 3), tgt[:, :-1]], 1)
        batches.append((cr.tensor(src), cr.tensor(tgt_in), cr.tensor(tgt)))
    _train_both(
        model,
        lambda ps: cr.optim.RMSprop(ps, lr=1e-2),
        batches,
        lambda n, s, ti, t: F.cross_entropy(n(s, ti).reshape(-1, 8), t.reshape(-1)),
    )


class _TinyTransformer(nn.Module):
    """Embedding + learned positions -> pre-norm TransformerEncoder (causal mask) -> read-out."""

    def __init__(self, V: int = 10, d: int = 8, T: int = 6) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Parameter(cr.randn(T, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, 2, dim_feedforward=16, dropout=0.1, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(d, V)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        T = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=self.pos.dtype)
        return self.out(self.enc(self.emb(x) + self.pos[:T], mask=mask, is_causal=True))


def test_transformer_with_adamw_and_schedule(strict):
    cr.manual_seed(0)
    model = _TinyTransformer().double()
    r = _rng(4)
    batches = []
    for _ in range(STEPS):
        ids = r.integers(0, 10, (2, 7))
        batches.append((cr.tensor(ids[:, :-1]), cr.tensor(ids[:, 1:])))
    _train_both(
        model,
        lambda ps: cr.optim.AdamW(ps, lr=1e-2, weight_decay=0.01),
        batches,
        lambda n, x, y: F.cross_entropy(n(x).reshape(-1, 10), y.reshape(-1)),
        sched=lambda o: cr.optim.lr_scheduler.CosineAnnealingLR(o, 10),
    )


def test_all_families_really_ran_on_the_strict_device(strict):
    """The comparison above is not vacuous: a strict parameter is not a NumPy array."""
    net = mlp(2, 1, hidden=[3]).to("strict")
    p = next(net.parameters())
    assert p.device == DEVICE and type(p._array) is not np.ndarray
    with pytest.raises(TypeError):
        np.asarray(p._array)
