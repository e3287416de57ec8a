"""``chainrule.compile`` on every model family: 50 compiled training steps equal 50 eager ones.

Each test builds the same model, optimiser and learning-rate scheduler twice from one seed
(``cr.manual_seed`` before each build, so the initial weights and the dropout draws are the
same), runs 50 steps of one training-step function eagerly and 50 through
``cr.compile(step)`` on the same batches, and asserts bit-identical (``np.array_equal``)
losses, parameters, buffers (batch norm's running statistics) and optimiser state — and that
the compiled run really replayed its plan (``stats['replays']``), so that a compiler that
silently ran everything eagerly could not pass.  Sizes are tiny: the file takes seconds.

Each family runs twice (the ``fusion`` fixture): with ``options={'fusion': False}``, the NumPy
plan, which must be bit-identical to eager; and with the default fused loops, which the issue
allows to differ by rounding (``FUSED_RTOL``; today they are bit-identical too where correct).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.autograd.tensor import Tensor

STEPS = 50
FUSED_RTOL, FUSED_ATOL = 1e-4, 1e-6  # fused loops: rounding, over 50 steps


@pytest.fixture(params=[False, True], ids=["numpy_plan", "fused"])
def fusion(request):
    """Whether the compiled runs fuse elementwise chains into C loops (the default) or keep the
    NumPy plan (``options={'fusion': False}``, bit-identical to eager)."""
    return request.param


# --------------------------------------------------------------------------- the harness
def _flat_state(obj):
    """Every array of an optimiser's state_dict (or any nest of dicts/lists), with its path."""
    out = {}

    def walk(x, path):
        if isinstance(x, Tensor):
            out[path] = x.detach().numpy().copy()
        elif isinstance(x, np.ndarray):
            out[path] = x.copy()
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}/{k}")
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{path}/{i}")
        elif isinstance(x, (int, float, bool, np.generic)) or x is None:
            out[path] = x

    walk(obj, "")
    return out


def _run(build, batches, compiled, **compile_kw):
    """Train from ``build()`` (after ``cr.manual_seed(0)``) on ``batches``; the step function is
    ``build``'s, compiled or not.  Returns (losses, parameters, buffers, optimiser state, fn)."""
    cr.manual_seed(0)
    model, opt, step = build()
    fn = cr.compile(step, **compile_kw) if compiled else step
    losses = []
    for batch in batches:
        loss = fn(*batch)
        assert isinstance(loss, Tensor)
        losses.append(loss.detach().numpy().copy())
    params = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    buffers = {k: v.detach().numpy().copy() for k, v in model.named_buffers()}
    for p in model.parameters():  # a replay must leave plain NumPy arrays behind
        assert type(p._array) is np.ndarray
        assert p.grad is None or type(p.grad._array) is np.ndarray
    return losses, params, buffers, _flat_state(opt.state_dict()), fn


def _equal(a, b, exact, what):
    if exact:
        assert np.array_equal(a, b), f"{what}: eager {a}, compiled {b}"
    else:
        np.testing.assert_allclose(b, a, rtol=FUSED_RTOL, atol=FUSED_ATOL, err_msg=what)


def _assert_same(eager, comp, exact=True):
    losses_e, params_e, buffers_e, state_e, _ = eager
    losses_c, params_c, buffers_c, state_c, _ = comp
    assert len(losses_e) == len(losses_c) == STEPS
    for i, (a, b) in enumerate(zip(losses_e, losses_c)):
        _equal(a, b, exact, f"loss of step {i}")
    assert params_e.keys() == params_c.keys()
    for k in params_e:
        _equal(params_e[k], params_c[k], exact, f"parameter {k}")
    assert buffers_e.keys() == buffers_c.keys()
    for k in buffers_e:
        _equal(buffers_e[k], buffers_c[k], exact, f"buffer {k}")
    assert state_e.keys() == state_c.keys()
    for k in state_e:
        a, b = state_e[k], state_c[k]
        if isinstance(a, np.ndarray):
            _equal(a, b, exact, f"optimiser state {k}")
        else:
            assert a == b, f"optimiser state {k}: eager {a}, compiled {b}"
    # the steps really changed the model (a step that did nothing would also be "identical")
    assert len({float(x) for x in losses_e}) > 1


def _check_family(build, batches, fusion, min_replays=45):
    eager = _run(build, batches, compiled=False)
    comp = _run(build, batches, compiled=True, options={"fusion": fusion})
    _assert_same(eager, comp, exact=not fusion)
    stats = comp[4].stats
    assert stats["replays"] >= min_replays, stats
    assert stats["captures"] + stats["replays"] + stats["eager"] + stats["diverged"] >= STEPS
    return eager, comp


def _batches(shape_x, n_classes, rng, dtype=np.float32, steps=STEPS):
    return [(cr.tensor(rng.standard_normal(shape_x).astype(dtype)),
             cr.tensor(rng.integers(0, n_classes, shape_x[0])))
            for _ in range(steps)]


# --------------------------------------------------------------------------- the families
def test_mlp_adam_steplr(fusion):
    rng = np.random.default_rng(1)
    batches = _batches((16, 6), 4, rng)

    def build():
        model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 4))
        opt = optim.Adam(model.parameters(), lr=1e-2)
        sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    eager, _ = _check_family(build, batches, fusion)
    assert eager[0][-1] < eager[0][0]  # it learned something


def test_lenet_batchnorm_dropout_sgd_momentum(fusion):
    rng = np.random.default_rng(2)
    batches = _batches((8, 1, 8, 8), 3, rng)

    def build():
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(6 * 2 * 2, 10), nn.ReLU(), nn.Linear(10, 3))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    eager, _ = _check_family(build, batches, fusion)
    # batch norm's running statistics moved away from their start (0 and 1)
    buffers = eager[2]
    assert not np.array_equal(buffers["1.running_mean"], np.zeros(4, np.float32))
    assert buffers["1.num_batches_tracked"] == STEPS


class LSTMLM(nn.Module):
    """Embedding -> LSTM (or another recurrent layer: ``cell``) -> Linear: next-token logits (N, L, V)."""

    def __init__(self, vocab, embed, hidden, cell=nn.LSTM):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = cell(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.lstm(self.embedding(x))
        return self.out(h)


VOCAB = 11


def _every_token(rng, n=4, length=7, vocab=VOCAB):
    """(n, length) ids in which every id 0 .. vocab-1 occurs.  The embedding's range check
    reads the ids' min and max, and the LSTM's input fold reads how many distinct ids there
    are (a shape that depends on values): value guards, which hold on such batches."""
    ids = np.concatenate([np.arange(vocab), rng.integers(0, vocab, n * length - vocab)])
    return cr.tensor(rng.permutation(ids).reshape(n, length))


def _lm_batches(rng, steps=STEPS):
    return [(_every_token(rng), cr.tensor(rng.integers(0, VOCAB, (4, 7)))) for _ in range(steps)]


def _lm_build(clip=False, cell=nn.LSTM, vocab=VOCAB):
    def build():
        model = LSTMLM(vocab, 5, 8, cell)
        opt = optim.Adam(model.parameters(), lr=5e-3)
        sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)

        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), 0.05)
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    return build


def test_lstm_language_model_adam(fusion):
    _check_family(_lm_build(), _lm_batches(np.random.default_rng(3)), fusion)


def test_gru_language_model_adam(fusion):
    """The same with a GRU (float32: on oneDNN's GRU where it is installed, else the own loop)."""
    _check_family(_lm_build(cell=nn.GRU), _lm_batches(np.random.default_rng(4)), fusion)


def test_lstm_language_model_fewer_distinct_tokens_is_not_a_stale_replay(fusion):
    """Batches in which only some ids occur: the LSTM's input fold has fewer distinct rows (a
    shape the plan must not keep from the capture).  Every call gives eager's numbers."""
    rng = np.random.default_rng(8)
    batches = []
    for i in range(STEPS):
        if i % 3:
            x = _every_token(rng)
        else:  # the same smallest and largest id (the embedding's range check reads them), 4 distinct ids
            few = rng.choice([0, 1, 2, VOCAB - 1], (4, 7))
            few[0, :2] = 0, VOCAB - 1
            x = cr.tensor(few)
        batches.append((x, cr.tensor(rng.integers(0, VOCAB, (4, 7)))))
    eager = _run(_lm_build(), batches, compiled=False)
    comp = _run(_lm_build(), batches, compiled=True, options={"fusion": fusion})
    _assert_same(eager, comp, exact=not fusion)
    assert comp[4].stats["replays"] >= 25, comp[4].stats  # the full batches (2 of 3) still replay


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU], ids=["lstm", "gru"])
def test_word_language_model_replays_batches_with_any_count_of_distinct_words(fusion, cell):
    """A vocabulary larger than a batch's positions (a word model: 40 words, 4 x 7 positions):
    the recurrent layer's input fold keeps one row per distinct word of the batch, a count that
    changes from batch to batch.  Nothing Python reads depends on that count, so the plan
    replays every batch (before, each replay diverged and ran eagerly), with eager's numbers."""
    rng = np.random.default_rng(9)
    words = 40
    batches = [(cr.tensor(rng.integers(0, words, (4, 7))), cr.tensor(rng.integers(0, words, (4, 7))))
               for _ in range(STEPS)]
    assert len({len(np.unique(x.numpy())) for x, _ in batches}) > 3  # the count really varies
    eager = _run(_lm_build(cell=cell, vocab=words), batches, compiled=False)
    comp = _run(_lm_build(cell=cell, vocab=words), batches, compiled=True, options={"fusion": fusion})
    _assert_same(eager, comp, exact=not fusion)
    assert comp[4].stats["replays"] >= STEPS - 2, comp[4].stats


def test_lstm_language_model_with_clip_grad_norm_replays():
    """clip_grad_norm_ computes the total norm as a 0-d array (one table entry) and scales by
    min(1, factor) without reading it on the host: the clipped step replays, with eager's
    numbers."""
    batches = _lm_batches(np.random.default_rng(3))
    eager = _run(_lm_build(clip=True), batches, compiled=False)
    comp = _run(_lm_build(clip=True), batches, compiled=True, options={"fusion": False})
    _assert_same(eager, comp)
    assert comp[4].stats["replays"] >= STEPS - 2, comp[4].stats
    # clipping really happened: without it the parameters come out different
    unclipped = _run(_lm_build(clip=False), batches, compiled=False)
    assert not all(np.array_equal(unclipped[1][k], eager[1][k]) for k in eager[1])


def test_rnnlm_from_models_language_gives_eager_numbers():
    """chainrule.models.language.RNNLM (LSTM, dropout): its forward reads the ids on the host
    (np.asarray), so its capture cannot be replayed; whatever path the compiled step takes,
    the numbers are eager's."""
    from chainrule.models.language import RNNLM

    batches = _lm_batches(np.random.default_rng(4))

    def build():
        model = RNNLM(VOCAB, embed_dim=4, hidden=6, kind="lstm", dropout=0.2)
        opt = optim.Adam(model.parameters(), lr=5e-3)
        sched = optim.lr_scheduler.StepLR(opt, 5, 0.9)

        def step(x, y):
            opt.zero_grad()
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    eager = _run(build, batches, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the fallback's warning)
        comp = _run(build, batches, compiled=True)
    _assert_same(eager, comp)


# ---------------------------------------------------------------- seq2seq with attention
def _seq2seq_build():
    from chainrule.models.seq2seq import Seq2Seq

    def build():
        model = Seq2Seq(8, 9, embed_dim=4, hidden=5, attn_dim=4)
        opt = optim.Adam(model.parameters(), lr=5e-3)
        sched = optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.2, total_iters=STEPS)

        def step(src, tgt):
            opt.zero_grad()
            loss = model.loss(src, tgt)  # as train_seq2seq: ids padded on the host
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    return build


def _seq2seq_batch(rng, n=3, s=5, t=4):
    """Sources (n, s) and targets (n, t) as NumPy ids padded at the end with pad_id 2, as
    train_seq2seq's pad_sequences makes them (ids drawn from 0, 1, 4, 5, ...)."""

    def ids(vocab, length):
        out = np.full((n, length), 2, np.int64)
        for i in range(n):
            k = int(rng.integers(1, length + 1)) if i else length  # one full row fixes the width
            out[i, :k] = rng.choice([0, 1, *range(4, vocab)], k)
        return out

    return ids(8, s), ids(9, t)


@pytest.mark.parametrize("fusion", [False, True], ids=["numpy_plan", "fused"])
def test_seq2seq_attention_one_batch(fusion):
    """Seq2Seq.loss prepares its masks and lengths from the ids on the host, as
    train_seq2seq calls it with NumPy arrays: the plan holds what it computed from them, and
    replays while the call gets the same batch (trained on 50 times)."""
    batch = _seq2seq_batch(np.random.default_rng(5))
    _check_family(_seq2seq_build(), [batch] * STEPS, fusion)


def test_seq2seq_attention_new_batches_give_eager_numbers():
    """A new batch every step (new NumPy arrays): never the plan of another batch — each call
    gives eager's numbers (new captures until cache_size_limit, then eager, with a warning)."""
    rng = np.random.default_rng(6)
    batches = [_seq2seq_batch(rng) for _ in range(STEPS)]
    eager = _run(_seq2seq_build(), batches, compiled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = _run(_seq2seq_build(), batches, compiled=True, options={"fusion": False})  # (8 captures: no
    _assert_same(eager, comp)  # C compiler runs for the fused loops of each)


def test_seq2seq_attention_ids_as_tensors(fusion):
    rng = np.random.default_rng(5)
    src, tgt = _seq2seq_batch(rng)
    _check_family(_seq2seq_build(), [(cr.tensor(src), cr.tensor(tgt))] * STEPS, fusion)


# ------------------------------------------------------------------------ transformer
def test_transformer_encoder_dropout_adamw(fusion):
    rng = np.random.default_rng(7)
    vocab, d = 7, 8

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(vocab, d)  # one-hot inputs: no host-side range check on the ids
            layer = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=16, dropout=0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2)
            self.head = nn.Linear(d, 3)

        def forward(self, x):
            return self.head(self.encoder(self.embed(x)).mean(1))

    batches = [(cr.tensor(np.eye(vocab, dtype=np.float32)[rng.integers(0, vocab, (4, 6))]),
                cr.tensor(rng.integers(0, 3, 4))) for _ in range(STEPS)]

    def build():
        model = Tiny()
        opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
        sched = optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1 + 0.1 * k))

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        return model, opt, step

    _check_family(build, batches, fusion)
