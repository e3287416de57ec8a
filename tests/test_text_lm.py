"""Text package: vocabularies, corpus, n-grams, perplexity, sampling and beam search."""

import numpy as np
import pytest

from chainrule.text import (
    CharVocab,
    InterpolatedNGramLM,
    NGramLM,
    WordVocab,
    apply_temperature,
    beam_search,
    greedy_decode,
    lm_step,
    perplexity,
    sample,
    split_documents,
    stdlib_docstrings,
    tokenize_words,
)


def test_char_vocab_roundtrip_and_unk():
    v = CharVocab.from_text("abca\nb")
    assert v.itos[:2] == ["<unk>", "<eos>"]
    ids = v.encode("ab\nc")
    assert v.decode(ids) == "ab\nc"
    assert ids[2] == v.eos_id
    assert v.encode("z")[0] == v.unk_id


def test_word_vocab_min_freq_and_eos():
    assert tokenize_words("Return x.\n\nNone") == ["return", "x", ".", "<eos>", "none", "<eos>"]
    v = WordVocab.from_text("the cat. the dog.\nthe end", min_freq=2)
    assert v.itos == ["<unk>", "<eos>", "the", "."]
    assert v.decode(v.encode("the bird")) == "the <unk> <eos>"


def test_corpus_is_deterministic_and_split():
    a = stdlib_docstrings(max_chars=20000)
    b = stdlib_docstrings(max_chars=20000)
    assert a == b and sum(map(len, a)) >= 20000
    s = split_documents([f"doc {i}" for i in range(20)])
    assert s.valid == "doc 8\ndoc 18\n" and s.test == "doc 9\ndoc 19\n"


def test_add_k_formula_and_normalisation():
    V = 4
    ids = np.array([0, 1, 2, 1, 2, 3, 1, 2])
    m = NGramLM(2, V, k=0.5).fit(ids)
    # after token 1: counts of next tokens (2, 2, 2) -> c(1,2) = 3, c(1) = 3
    p = m.dist([1])
    np.testing.assert_allclose(p[2], (3 + 0.5) / (3 + 0.5 * V))
    np.testing.assert_allclose(p[0], 0.5 / (3 + 0.5 * V))
    for n in (1, 2, 3):
        lp, _ = NGramLM(n, V, k=0.1).fit(ids).log_probs(ids)
        np.testing.assert_allclose(np.exp(lp).sum(1), 1.0)


def test_unigram_perplexity_matches_entropy_and_uniform_is_V():
    V = 5
    ids = np.array([0, 1, 1, 2, 2, 2, 2, 3] * 3)
    m = NGramLM(1, V, k=1e-9).fit(ids)
    # on its own training stream, PPL = exp(-Σ p log p) evaluated on ids[1:]
    p = np.bincount(ids, minlength=V) / ids.size
    want = np.exp(-np.mean(np.log(p[ids[1:]])))
    np.testing.assert_allclose(perplexity(m, ids), want, rtol=1e-6)
    # an untrained model is uniform: PPL = V
    np.testing.assert_allclose(perplexity(NGramLM(2, V), ids), V)


def test_chunked_perplexity_equals_unchunked():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, 300)
    m = InterpolatedNGramLM(3, 6, k=0.1).fit(ids[:200]).fit_lambdas(ids[200:250])
    assert abs(m.lambdas.sum() - 1) < 1e-9
    assert perplexity(m, ids[250:], chunk_size=7) == pytest.approx(perplexity(m, ids[250:], chunk_size=1000))


def test_interpolation_beats_orders_on_held_out():
    # second-order structure plus noise: the mixture should be no worse than each order
    rng = np.random.default_rng(1)
    ids = [0, 1]
    for _ in range(4000):
        ids.append((ids[-1] + ids[-2]) % 7 if rng.random() < 0.8 else int(rng.integers(7)))
    ids = np.array(ids)
    tr, va, te = ids[:3000], ids[3000:3500], ids[3500:]
    mix = InterpolatedNGramLM(3, 7, k=0.5).fit(tr).fit_lambdas(va)
    ppl = perplexity(mix, te)
    for n in (1, 2):
        assert ppl < perplexity(NGramLM(n, 7, k=0.5).fit(tr), te)


def test_temperature():
    lp = np.log(np.array([0.7, 0.2, 0.1]))
    np.testing.assert_allclose(apply_temperature(lp, 1.0), [0.7, 0.2, 0.1])
    assert apply_temperature(lp, 0.01)[0] > 0.999
    np.testing.assert_allclose(apply_temperature(lp, 1e6), 1 / 3, atol=1e-5)
    with pytest.raises(ValueError):
        apply_temperature(lp, 0.0)


def test_sampling_frequencies_follow_the_model():
    ids = np.array([0, 2, 2, 2, 3] * 40)
    m = NGramLM(1, 4, k=1e-9).fit(ids)
    out = sample(m, [0], 3000, temperature=1.0, rng=0)
    freq = np.bincount(out, minlength=4) / len(out)
    np.testing.assert_allclose(freq, [0.2, 0, 0.6, 0.2], atol=0.03)


def _table_step(table):
    """A decoder whose next-token distribution depends only on the tokens so far."""

    def step(tokens, states):
        rows, new = [], []
        for tok, st in zip(tokens.tolist(), states):
            prefix = st + (tok,)
            rows.append(np.log(np.asarray(table.get(prefix, [1e-9, 1e-9, 1.0]))))
            new.append(prefix)
        return np.stack(rows), new

    return step


def test_beam_search_beats_greedy_on_a_garden_path():
    # tokens: 0 = a, 1 = b, 2 = eos; bos = 3.  Greedy takes "a" (0.6) then is unsure
    # (0.5 · 0.5 → 0.3 total at best), beam search finds "b b" (0.4 · 1.0 · 1.0 = 0.4).
    table = {
        (3,): [0.6, 0.4, 1e-9],
        (3, 0): [0.5, 0.5, 1e-9],
        (3, 0, 0): [1e-9, 1e-9, 0.5],
        (3, 0, 1): [1e-9, 1e-9, 0.5],
        (3, 1): [1e-9, 1.0, 1e-9],
        (3, 1, 1): [1e-9, 1e-9, 1.0],
    }
    step = _table_step(table)
    assert greedy_decode(step, (), bos=3, eos=2, max_len=5)[0] == 0
    best, score = beam_search(step, (), bos=3, eos=2, max_len=5, beam_width=2)[0]
    assert best == [1, 1]
    assert score == pytest.approx(np.log(0.4), abs=1e-6)
    assert beam_search(step, (), bos=3, eos=2, max_len=5, beam_width=1)[0][0][0] == 0


def test_lm_step_agrees_with_log_probs():
    ids = np.array([0, 1, 2, 1, 2, 3, 1, 2])
    m = NGramLM(2, 4, k=0.5).fit(ids)
    lp, st = m.log_probs(np.array([1]))
    lp2, _ = lm_step(m)(np.array([1]), [None])
    np.testing.assert_allclose(lp2[0], lp[0])
