"""Seq2seq with additive attention (notes 004): the dates task, the model's invariants, decoding, training."""

from __future__ import annotations

import datetime
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd.gradcheck import gradcheck
from chainrule.examples import seq2seq as example
from chainrule.models.seq2seq import Seq2Seq, date_vocabs, encode_texts, exact_match, pad_sequences, train_seq2seq
from chainrule.text.tasks import (
    DATE_STYLES,
    NUMERIC_STYLES,
    WORD_STYLES,
    dates_dataset,
    ordinal_suffix,
    ordinal_words,
    parse_date,
)

SV, TV = date_vocabs()
SOURCES = ["twenty-third of march 1997", "23 mar 1997", "march 23rd, 1997", "1/2"]


# ------------------------------------------------------------------------------ the dates task
def test_ordinal_words_and_suffixes():
    assert [ordinal_words(d) for d in (1, 2, 3, 9, 10, 11, 12, 19, 20, 21, 23, 30, 31)] == [
        "first", "second", "third", "ninth", "tenth", "eleventh", "twelfth", "nineteenth", "twentieth",
        "twenty-first", "twenty-third", "thirtieth", "thirty-first",
    ]  # fmt: skip
    assert len({ordinal_words(d) for d in range(1, 32)}) == 31
    assert [ordinal_suffix(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 30, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "30th", "31st",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="ordinal_words"):
        ordinal_words(32)


def test_the_brief_s_examples_parse_to_the_same_iso_date():
    for s in ("twenty-third of march 1997", "march 23, 1997", "23 mar 1997", "the 23rd of march 1997",
              "march 23rd, 1997", "23/03/1997", "mar 23 1997", "23 march 1997"):  # fmt: skip
        assert parse_date(s) == "1997-03-23", s
    for bad in ("march 32, 1997", "thirtieth of february 2000", "smarch 3, 1997", "1997-03-23"):
        with pytest.raises(ValueError, match="parse_date"):
            parse_date(bad)


@pytest.mark.parametrize("style", sorted(DATE_STYLES))
def test_every_style_gives_valid_iso_dates_that_round_trip(style):
    pairs = dates_dataset(400, seed=3, styles=[style])
    for src, iso in pairs:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        d = datetime.date.fromisoformat(iso)  # a real calendar date
        assert 1950 <= d.year < 2030
        assert parse_date(src) == iso
        assert DATE_STYLES[style](d.day, d.month, d.year) == src
        assert set(src) <= set(SV.itos) and set(iso) <= set(TV.itos)  # the vocabularies cover the task


def test_dates_dataset_is_seeded_and_keeps_its_default_styles():
    assert dates_dataset(50, seed=1) == dates_dataset(50, seed=1) != dates_dataset(50, seed=2)
    default = {s for s, iso in dates_dataset(300, seed=0)}
    numeric = {DATE_STYLES[k](*(int(x) for x in reversed(iso.split("-")))) for k in NUMERIC_STYLES
               for _, iso in dates_dataset(300, seed=0)}  # fmt: skip
    assert default <= numeric
    words = dates_dataset(600, seed=0, styles=WORD_STYLES)
    assert any(" of " in s and not s.startswith("the") for s, _ in words)  # "twenty-third of march 1997"
    with pytest.raises(ValueError, match="unknown style"):
        dates_dataset(3, styles=["iso"])


def test_encoding_pads_at_the_end():
    x = encode_texts(["ab", "abcd"], SV, eos=True)
    assert x.shape == (2, 5)
    assert x[0, 2] == SV.eos_id and (x[0, 3:] == SV.stoi["<pad>"]).all()
    assert SV.decode(x[1, :4]) == "abcd"


# ------------------------------------------------------------------------------ the model
def _tiny(dtype=None, **kw):
    cr.manual_seed(0)
    m = Seq2Seq(len(SV), len(TV), embed_dim=4, hidden=5, attn_dim=3, **kw)
    # a non-zero padding row and large attention weights: invariance to padding is then not an accident
    m.src_embed.weight.data[m.pad_id] = 0.7
    m.attention.v_a.data *= 3.0
    return m.double() if dtype == np.float64 else m


def _tgt(n, T, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(4, len(TV), (n, T))


@pytest.mark.parametrize("kw", [{}, {"reverse_input": True}, {"bidirectional": False}])
def test_attention_weights_sum_to_one_and_skip_padding(kw):
    m = _tiny(np.float64, **kw)
    src = encode_texts(SOURCES, SV)
    lengths = np.array([len(s) for s in SOURCES])
    _, a = m(src, _tgt(len(SOURCES), 6), return_attention=True)
    a = a.data
    assert a.shape == (4, 6, src.shape[1])
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=0, atol=1e-12)  # Σ_j a_ij = 1
    for i, L in enumerate(lengths):
        assert (a[i, :, L:] == 0).all() and (a[i, :, :L] > 0).all()


@pytest.mark.parametrize("kw", [{}, {"reverse_input": True}, {"bidirectional": False}])
def test_a_source_translates_the_same_alone_and_padded_in_a_batch(kw):
    m = _tiny(np.float64, **kw)
    src = encode_texts(SOURCES, SV)
    tgt = _tgt(len(SOURCES), 5)
    batch = m(src, tgt).data
    for i, s in enumerate(SOURCES):
        alone = m(encode_texts([s], SV), tgt[i : i + 1]).data
        np.testing.assert_allclose(batch[i], alone[0], rtol=1e-12, atol=1e-12)


def test_reverse_input_is_the_reversed_source_and_reports_attention_in_source_order():
    rev = _tiny(np.float64, reverse_input=True)
    plain = _tiny(np.float64)
    plain.load_state_dict(rev.state_dict())
    src = encode_texts(SOURCES, SV)
    flipped = pad_sequences([SV.encode(s)[::-1] for s in SOURCES], rev.pad_id)  # ABC -> CBA
    tgt = _tgt(len(SOURCES), 4)
    np.testing.assert_allclose(rev(src, tgt).data, plain(flipped, tgt).data, rtol=1e-12, atol=1e-12)
    a_rev, a_plain = rev.attention_weights(src, tgt), plain.attention_weights(flipped, tgt)
    for i, s in enumerate(SOURCES):
        L = len(s)
        np.testing.assert_allclose(a_rev[i, :, :L], a_plain[i, :, :L][:, ::-1], rtol=1e-12, atol=1e-14)


def test_the_fast_decoder_step_is_the_attention_module_plus_a_gru_cell_on_embedding_and_context():
    m = _tiny(np.float64)
    src = encode_texts(SOURCES, SV)
    enc = m.encode(src)
    y = m.tgt_embed(np.array([4, 5, 6, 7]))
    s = cr.tensor(np.random.default_rng(1).standard_normal((4, m.hidden)))
    w = m._weights()
    s1, c, a = m._step(y @ w[0] + m.decoder.bias_ih, s, enc, w)
    c_ref, a_ref = m.attention(s, enc.keys, mask=src == m.pad_id)  # e_ij = v_aᵀ tanh(W_a s + U_a h_j)
    s_ref = m.decoder(cr.cat([y, c_ref], -1), s)  # s_i = GRU([E y; c_i], s_{i-1})
    for got, want in ((a, a_ref), (c, c_ref), (s1, s_ref)):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-12)


def _loss_fn(m, src, tgt, names):
    owners = [(m.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) for n in names]

    def fn(*ws):
        saved = [mod._parameters[leaf] for mod, leaf in owners]
        try:
            for (mod, leaf), w in zip(owners, ws):
                mod._parameters[leaf] = w
            return m.loss(src, tgt)
        finally:
            for (mod, leaf), p in zip(owners, saved):
                mod._parameters[leaf] = p

    return fn


def test_gradcheck_the_teacher_forced_loss():
    m = _tiny(np.float64)
    src = encode_texts(["3 may 1990", "1/2"], SV)
    tgt = encode_texts(["1990-05", "12"], TV, eos=True)
    names = ["attention.W_a", "attention.U_a", "attention.v_a", "decoder.weight_ih", "decoder.weight_hh",
             "encoder.weight_hh_l0", "encoder_reverse.weight_ih_l0", "bridge.bias", "tgt_embed.weight",
             "out.weight"]  # fmt: skip
    params = dict(m.named_parameters())
    ws = tuple(cr.tensor(params[n].data, dtype=np.float64, requires_grad=True) for n in names)
    assert gradcheck(_loss_fn(m, src, tgt, names), ws, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_the_loss_is_the_mean_cross_entropy_of_the_target_tokens():
    m = _tiny(np.float64)
    src = encode_texts(SOURCES[:2], SV)
    tgt = encode_texts(["19", "1997-03"], TV, eos=True)
    tgt_in = np.concatenate([np.full((2, 1), m.bos_id), tgt[:, :-1]], 1)
    tgt_in[tgt_in == m.pad_id] = m.eos_id
    logits = m(src, tgt_in).data
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    keep = tgt != m.pad_id
    want = -np.take_along_axis(logp, tgt[..., None], -1)[..., 0][keep].mean()
    np.testing.assert_allclose(m.loss(src, tgt).item(), want, rtol=1e-12)


# ------------------------------------------------------------------------------ decoding
@pytest.mark.parametrize("kw", [{}, {"reverse_input": True}])
def test_beam_search_with_one_beam_is_greedy(kw):
    m = _tiny(**kw)
    m.out.bias.data[TV.eos_id] -= 1.0  # untrained: make <eos> less likely, so sequences run long
    src = encode_texts(SOURCES + ["5 jun 2001", "thirtieth of may 1960"], SV)
    greedy = m.greedy_decode(src, max_len=9)
    beam = m.beam_search(src, beam_size=1, max_len=9)
    assert any(len(g.ids) > 2 for g in greedy)
    for g, b in zip(greedy, beam):
        assert g.ids == b.ids
        np.testing.assert_allclose(b.score, g.score, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b.attention, g.attention, rtol=1e-4, atol=1e-6)


def test_greedy_attention_rows_are_distributions_over_the_source():
    m = _tiny()
    res = m.greedy_decode(encode_texts(SOURCES, SV), max_len=6)
    for r, s in zip(res, SOURCES):
        assert r.attention.shape == (len(r.ids), len(s))
        np.testing.assert_allclose(r.attention.sum(-1), 1.0, rtol=1e-5)


def test_bad_input_is_rejected():
    m = _tiny()
    with pytest.raises(ValueError, match="at least one token"):
        m.encode(np.full((1, 3), m.pad_id))
    with pytest.raises(ValueError, match="pad at the end"):
        m.encode(np.array([[m.pad_id, 5, 6]]))
    with pytest.raises(ValueError, match="rows"):
        m(encode_texts(SOURCES, SV), _tgt(2, 3))


def test_isinstance_module():
    m = _tiny()
    assert isinstance(m, nn.Module) and isinstance(m.attention, nn.AdditiveAttention)


# ------------------------------------------------------------------------------ training (the threshold)


@pytest.mark.slow
def test_attention_seq2seq_reaches_90_percent_exact_sequence_accuracy():
    """Issue 5 item 8: ≥ 90% of held-out dates translated exactly (greedy and beam search).

    Training stops once greedy decoding gets ≥ 95% of a validation set exactly right (checked every
    25 steps, at most 600 steps); the assertions are on a separate test set never seen in training
    nor used for stopping.
    """
    train, held_out = example._split(8000, 700, tuple(DATE_STYLES), seed=0)
    held_out = list(dict.fromkeys(held_out))  # distinct sources: validation and test share none
    val, test = held_out[:300], held_out[300:600]
    assert len(test) == 300
    src = [SV.encode(s) for s, _ in train]
    tgt = [np.append(TV.encode(t), TV.eos_id) for _, t in train]
    cr.manual_seed(0)
    m = Seq2Seq(len(SV), len(TV), embed_dim=16, hidden=32)
    train_seq2seq(m, src, tgt, steps=600, batch_size=64, lr=5e-3, seed=0, check_every=25,
                  stop_when=lambda model: exact_match(model, val, SV, TV) >= 0.95)  # fmt: skip
    assert exact_match(m, test, SV, TV) >= 0.9
    assert exact_match(m, test[:100], SV, TV, beam_size=3) >= 0.9


@pytest.mark.slow
def test_the_example_runs_and_draws_the_attention(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "att.png"
    r = example.main(["--quick", "--steps", "40", "--n-train", "500", "--n-test", "40", "--plot", str(out),
                      "--reverse-input"])  # fmt: skip
    assert out.exists() and out.stat().st_size > 1000
    assert 0.0 <= r["greedy"] <= 1.0 and 0.0 <= r["beam"] <= 1.0
    w = r["attention"]["weights"]
    assert w.shape == (len(r["attention"]["output"]), len(r["attention"]["source"]))
