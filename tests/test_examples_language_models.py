"""Example 5: neural language models (Bengio NLM, RNN/GRU/LSTM, causal dilated conv) vs n-grams."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck
from chainrule.examples import language_models
from chainrule.models.language import RNNLM, BengioLM, CausalConvLM, batchify, generate, train_lm
from chainrule.text import CharVocab, InterpolatedNGramLM, best_add_k, generate_greedy, load_corpus, perplexity


def _ids(shape, V, seed=0):
    return np.random.default_rng(seed).integers(0, V, shape)


def _tiny(kind, V=7, dtype=None):
    cr.manual_seed(0)
    if kind == "bengio":
        m = BengioLM(V, context=3, embed_dim=4, hidden=5, direct=True)
    elif kind == "conv":
        m = CausalConvLM(V, embed_dim=4, channels=3, kernel_size=2, dilations=(1, 2, 4))
    else:
        m = RNNLM(V, embed_dim=4, hidden=5, kind=kind, num_layers=2)
    return m.double() if dtype == np.float64 else m


@pytest.mark.parametrize("kind", ["bengio", "conv", "lstm", "gru", "rnn"])
def test_shapes_and_normalised_log_probs(kind):
    V = 7
    m = _tiny(kind, V)
    logits, _ = m(_ids((3, 11), V))
    assert logits.shape == (3, 11, V)
    logp, state = m.log_probs(_ids(9, V))
    assert logp.shape == (9, V)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=1e-5)
    assert m.training  # log_probs restores the mode it found


@pytest.mark.parametrize("kind", ["bengio", "conv", "lstm", "gru", "rnn"])
def test_feeding_a_text_in_chunks_equals_feeding_it_whole(kind):
    """The state carries everything: log_probs(x[:a]) then log_probs(x[a:], state) == log_probs(x)."""
    m = _tiny(kind, dtype=np.float64)
    x = _ids(40, 7, seed=3)
    whole, _ = m.log_probs(x)
    parts, state = [], None
    for a, b in ((0, 1), (1, 6), (6, 23), (23, 40)):
        lp, state = m.log_probs(x[a:b], state)
        parts.append(lp)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-10, atol=1e-12)


def _gradcheck_module(m, x):
    """gradcheck the logits of module ``m`` on ids ``x`` with respect to all of its parameters."""
    named = list(m.named_parameters())
    owners = [(m.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) for n, _ in named]

    def fn(*ws):
        saved = [mod._parameters[leaf] for mod, leaf in owners]
        try:
            for (mod, leaf), w in zip(owners, ws):
                mod._parameters[leaf] = w
            return m(x)[0]
        finally:
            for (mod, leaf), p in zip(owners, saved):
                mod._parameters[leaf] = p

    ws = tuple(cr.tensor(p.data, dtype=np.float64, requires_grad=True) for _, p in named)
    assert gradcheck(fn, ws, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_bengio_lm():
    _gradcheck_module(_tiny("bengio", V=5, dtype=np.float64), _ids((2, 4), 5))


def test_gradcheck_causal_conv_lm():
    _gradcheck_module(_tiny("conv", V=5, dtype=np.float64), _ids((2, 9), 5))


def test_causal_conv_lm_ignores_the_future_and_sees_exactly_its_receptive_field():
    V, L = 7, 40
    m = _tiny("conv", V, dtype=np.float64)
    R = m.receptive_field
    assert R == 1 + (2 - 1) * (1 + 2 + 4)  # 1 + (k - 1) Σ δ
    x = _ids((1, L), V)
    base = m(x)[0].data
    for t in (0, 5, 20, 38):
        y = x.copy()
        y[0, t + 1 :] = (y[0, t + 1 :] + 1 + _ids(L - t - 1, V - 1, seed=t)) % V  # every future token changed
        out = m(y)[0].data
        np.testing.assert_array_equal(out[0, : t + 1], base[0, : t + 1])  # positions <= t: bit-identical
        assert np.abs(out[0, t + 1] - base[0, t + 1]).max() > 1e-8  # position t + 1 sees token t + 1
    t = 30
    for s, changes in ((t - R, False), (t - R + 1, True)):  # the oldest token position t can see
        y = x.copy()
        y[0, s] = (y[0, s] + 1) % V
        assert (np.abs(m(y)[0].data[0, t] - base[0, t]).max() > 1e-8) == changes


def test_bengio_lm_reads_exactly_the_previous_context_tokens():
    V = 7
    m = _tiny("bengio", V, dtype=np.float64)
    x = _ids((1, 20), V)
    base = m(x)[0].data
    y = x.copy()
    y[0, 12] = (y[0, 12] + 1) % V
    out = m(y)[0].data
    changed = np.abs(out - base).max(-1)[0] > 1e-10
    np.testing.assert_array_equal(np.flatnonzero(changed), [12, 13, 14])  # context 3: t = 12 .. 14


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    V = 13
    x = _ids(200, V)
    # exp(-1/N Σ log(1/V)) = V, for the example's reference model and for a neural LM whose read-out is zero
    assert perplexity(language_models.UniformLM(V), x) == pytest.approx(V, rel=1e-12)
    m = RNNLM(V, 4, 5)
    m.out.weight.data[...] = 0
    m.out.bias.data[...] = 0
    assert perplexity(m, x) == pytest.approx(V, rel=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "conv"])
def test_sampling_as_temperature_goes_to_zero_is_greedy(kind):
    m = _tiny(kind, V=7)
    prompt = [1, 3, 4]
    greedy = generate_greedy(m, prompt, 25)
    for seed in range(3):
        assert generate(m, prompt, 25, temperature=1e-6, seed=seed) == greedy


def test_batchify_cuts_contiguous_streams():
    s = batchify(np.arange(23), 4)
    np.testing.assert_array_equal(s, np.arange(20).reshape(4, 5))
    with pytest.raises(ValueError):
        batchify(np.arange(5), 4)


def test_example_runs_on_a_user_text_file_at_word_level(tmp_path):
    words = "the cat sat on the mat . a dog ran to the cat . the mat is red .".split()
    rng = np.random.default_rng(0)
    paras = [" ".join(rng.choice(words, 12)) for _ in range(40)]
    path = tmp_path / "text.txt"
    path.write_text("\n\n".join(paras))
    out = language_models.main(["--text", str(path), "--level", "word", "--quick", "--steps", "3",
                                "--models", "ngram,bengio,gru,conv"])
    ppl = out["perplexity"]
    V = out["vocab_size"]
    assert ppl[f"uniform (= V = {V})"] == pytest.approx(V)
    assert len(ppl) == 1 + 4 + 3 and all(np.isfinite(v) for v in ppl.values())
    assert set(out["samples"]) == {0.5, 1.0}


@pytest.mark.slow
def test_character_lstm_beats_the_best_smoothed_character_ngram():
    """The issue's threshold: on the same held-out split, LSTM perplexity < best add-k / interpolated n-gram."""
    splits = load_corpus()
    vocab = CharVocab.from_text(splits.train)
    V = len(vocab)
    train = vocab.encode(splits.train)[:150_000]
    valid, test = vocab.encode(splits.valid), vocab.encode(splits.test)
    ngram = [perplexity(best_add_k(n, V, train, valid)[0], test) for n in (1, 2, 3)]
    interp = InterpolatedNGramLM(3, V, k=0.01).fit(train).fit_lambdas(valid)
    best_ngram = min(*ngram, perplexity(interp, test))
    assert best_ngram < ngram[0] / 2  # the n-grams themselves are sensible (trigram << unigram)

    cr.manual_seed(0)
    lstm = RNNLM(V, embed_dim=32, hidden=128, kind="lstm")
    train_lm(lstm, train, steps=400, batch_size=32, seq_len=64, lr=1e-2, clip=1.0, seed=0)
    ppl = perplexity(lstm, test)
    assert math.isfinite(ppl) and ppl < 0.85 * best_ngram, (ppl, best_ngram)
