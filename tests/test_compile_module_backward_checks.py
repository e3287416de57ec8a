"""A compiled Module whose backward pass reads the shape of an array the values shaped.

``x[mask]`` and a packed sequence's rows have shapes their values set. The vjp of indexing them
reads that shape (``zeros(x.shape)`` with the gradient added at the index). Recorded in the
backward pass, such a read is a check the replay could not act on (the forward has returned by
then), and the whole call ran eagerly every time. The forward's end already knows the shape, so
the check moves there (``plan._forward_checks``): the plan replays, and a call whose shapes
differ still runs eagerly, before anything is returned.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

import chainrule as cr
from chainrule import nn


class Positives(nn.Module):
    """The first three positive entries of w·x, summed (x[x > 0]: a value-shaped array)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(cr.tensor(np.linspace(0.5, 2.0, 8)))

    def forward(self, x):
        y = (self.w * x)[x > 0]
        return (y[:3] ** 2).sum()


class PackedBiLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, 1)

    def forward(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.fc(cr.cat((h[-2], h[-1]), dim=1)).squeeze(1)


def _run(model, *args):
    model.zero_grad()
    out = model(*args)
    out.sum().backward()
    return [out.detach().numpy().copy()] + [p.grad.numpy().copy() for p in model.parameters()]


def _stats(compiled):
    return compiled.__dict__["_compiled"].stats


def test_a_mask_selected_array_indexed_again_replays_with_eagers_gradients():
    cr.manual_seed(0)
    eager = Positives().double()
    compiled = cr.compile(copy.deepcopy(eager))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no fallback to eager, no warning)
        for call in range(6):
            x = rng.standard_normal(8)
            x[:5] = np.abs(x[:5]) + 0.1  # five positives, then the values of the rest:
            x[5:] = -np.abs(x[5:]) - 0.1 if call % 2 else np.abs(x[5:]) + 0.1  # five or eight of them
            t = cr.tensor(x)
            for a, b in zip(_run(eager, t), _run(compiled, t)):
                np.testing.assert_array_equal(a, b)
    stats = _stats(compiled)
    assert stats["replays"] >= 2, stats  # (before: the plan was refused, every call eager)
    assert stats["replays"] + stats["captures"] + stats["eager"] == 6


def test_a_packed_lstm_replays_and_new_lengths_run_eagerly_with_eagers_numbers():
    cr.manual_seed(0)
    eager = PackedBiLSTM()
    compiled = cr.compile(copy.deepcopy(eager))
    rng = np.random.default_rng(1)
    for call in range(6):
        x = cr.tensor(rng.integers(1, 20, (4, 6)))
        lengths = cr.tensor([6, 3, 5, 2] if call % 3 else [6, 6, 4, 1])
        for a, b in zip(_run(eager, x, lengths), _run(compiled, x, lengths)):
            np.testing.assert_array_equal(a, b)
    stats = _stats(compiled)
    assert stats["replays"] == 1, stats  # (call 3 has call 0's lengths; the others differ from the plan's)
    assert stats["diverged"] == 4, stats  # (their packed rows' shapes differ: eager, before returning)
