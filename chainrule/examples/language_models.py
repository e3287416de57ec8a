"""Language models (notes 004) in one perplexity table: n-grams, Bengio's NLM, RNN/GRU/LSTM, causal conv.

On the stdlib-docstring corpus (no download; or ``--text FILE``), character level by default
(``--level word`` for words), every model is scored by the SAME function,
``chainrule.text.perplexity``, on the SAME held-out test split:

* uniform model (perplexity = V, the sanity line);
* add-k n-grams, n = 1, 2, 3, each with k chosen on the validation split, and their linear
  interpolation (k chosen and λ fitted by EM on the validation split);
* Bengio's neural LM (concatenated embeddings of the previous tokens -> tanh -> softmax);
* tanh RNN, GRU and LSTM language models;
* a WaveNet-style causal dilated-convolution LM (its receptive field is printed).

The neural models are trained with teacher forcing on contiguous chunks (truncated BPTT),
Adam and gradient clipping ‖g‖ ≤ 1, keeping the weights with the best validation
perplexity.  Then the best neural model generates text at two temperatures.

Run:  python -m chainrule.examples.language_models [--quick] [--level word] [--text FILE]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule.models.language import RNNLM, BengioLM, CausalConvLM, generate, train_lm
from chainrule.text import (
    EOS,
    CharVocab,
    InterpolatedNGramLM,
    WordVocab,
    best_add_k,
    cross_entropy,
    load_corpus,
    perplexity,
    perplexity_table,
)

ALL_MODELS = ("ngram", "bengio", "rnn", "gru", "lstm", "conv")
KS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}

# Sizes and training budgets: (default, --quick).
CONFIG: dict[str, dict[str, Any]] = {
    "default": {"max_train": None, "steps": 1000, "embed": 32, "hidden": 256, "context": 8, "channels": 64,
                "batch_size": 32, "seq_len": 64, "eval_every": 200, "sample_len": 300},
    "quick": {"max_train": 60_000, "steps": 400, "embed": 16, "hidden": 64, "context": 5, "channels": 32,
              "batch_size": 16, "seq_len": 48, "eval_every": 100, "sample_len": 120},
}
# Adam step sizes (the GRU at H = 256 diverged at 1e-2 on the docstrings).
LR = {"bengio": 3e-3, "rnn": 3e-3, "gru": 3e-3, "lstm": 1e-2, "conv": 3e-3}


class UniformLM:
    """P(w) = 1/V for every w: perplexity exactly V (the reference line of the table)."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def log_probs(self, tokens: Any, state: Any = None) -> tuple[np.ndarray, Any]:
        return np.full((len(tokens), self.vocab_size), -np.log(self.vocab_size)), None


def build_neural(name: str, V: int, cfg: dict) -> Any:
    """The neural model ``name`` ('bengio', 'rnn', 'gru', 'lstm', 'conv') at the sizes in ``cfg``."""
    E, H = cfg["embed"], cfg["hidden"]
    if name == "bengio":
        return BengioLM(V, cfg["context"], E, H, direct=True)
    if name in ("rnn", "gru", "lstm"):
        return RNNLM(V, E, H, kind=name)
    if name == "conv":
        return CausalConvLM(V, E, cfg["channels"], kernel_size=3, dilations=(1, 2, 4, 8))
    raise ValueError(f"language_models: unknown model {name!r}; choose from {ALL_MODELS}")


def _prompt(vocab: Any, text: str) -> list[int]:
    toks = [t for t in vocab.tokenize(text) if t != EOS]
    return [vocab.eos_id] + vocab.encode_tokens(toks).tolist()


def _show(vocab: Any, ids: Sequence[int], level: str) -> str:
    if level == "char":
        return vocab.decode(ids)
    return " ".join("\n" if vocab.itos[i] == EOS else vocab.itos[i] for i in ids).replace(" \n ", "\n")


def run(
    level: str = "char",
    text: str | None = None,
    quick: bool = False,
    models: Sequence[str] = ALL_MODELS,
    steps: int | None = None,
    seed: int = 0,
    temperatures: Sequence[float] = (0.5, 1.0),
    prompt: str = "Return the ",
    verbose: bool = True,
) -> dict[str, Any]:
    say = print if verbose else (lambda *a, **k: None)
    t_start = time.perf_counter()
    cfg = dict(CONFIG["quick" if quick else "default"])
    if steps is not None:
        cfg["steps"] = steps
    if level not in ("char", "word"):
        raise ValueError(f"language_models: level must be 'char' or 'word', got {level!r}")
    splits = load_corpus(text)
    vocab = CharVocab.from_text(splits.train) if level == "char" else WordVocab.from_text(splits.train, min_freq=2)
    V, eos = len(vocab), vocab.eos_id
    train, valid, test = ([eos] + vocab.encode(s).tolist() for s in splits)
    train = np.asarray(train if cfg["max_train"] is None else train[: cfg["max_train"]], dtype=np.int64)
    valid, test = np.asarray(valid, dtype=np.int64), np.asarray(test, dtype=np.int64)
    source = text or "stdlib docstrings"
    say(f"{source}, {level} level: V = {V}, tokens train {train.size}, valid {valid.size}, test {test.size}")

    rows: list[tuple[str, float]] = [(f"uniform (= V = {V})", perplexity(UniformLM(V), test))]
    lms: dict[str, Any] = {}
    if "ngram" in models:
        for n in (1, 2, 3):
            lm, _ = best_add_k(n, V, train, valid, KS)
            lms[NGRAM_NAMES[n]] = lm
            rows.append((f"{NGRAM_NAMES[n]}, add-k k={lm.k:g}", perplexity(lm, test)))
        best_interp: tuple[float, Any] | None = None
        for k in KS:
            interp = InterpolatedNGramLM(3, V, k=k).fit(train).fit_lambdas(valid)
            ce = cross_entropy(interp, valid)
            if best_interp is None or ce < best_interp[0]:
                best_interp = (ce, interp)
        assert best_interp is not None
        interp = best_interp[1]
        lam = ", ".join(f"{x:.2f}" for x in interp.lambdas)
        lms["interpolated"] = interp
        rows.append((f"interpolated 1-3, k={interp.models[0].k:g}, λ=({lam})", perplexity(interp, test)))
        say(f"n-grams fitted ({time.perf_counter() - t_start:.1f} s)")

    trained: dict[str, dict[str, Any]] = {}
    for name in (m for m in models if m != "ngram"):
        cr.manual_seed(seed)
        model = build_neural(name, V, cfg)
        n_params = sum(p.detach().numpy().size for p in model.parameters())
        extra = f", receptive field R = {model.receptive_field}" if name == "conv" else ""
        say(f"{name}: {n_params} parameters{extra}")
        hist = train_lm(model, train, steps=cfg["steps"], batch_size=cfg["batch_size"], seq_len=cfg["seq_len"],
                        lr=LR[name], clip=1.0, valid_ids=valid, eval_every=cfg["eval_every"], seed=seed,
                        log=say if verbose else None)
        ppl = perplexity(model, test)
        label = {"bengio": f"Bengio NLM (context {cfg['context']}, direct)", "rnn": "RNN (tanh)", "gru": "GRU",
                 "lstm": "LSTM", "conv": f"causal conv (R = {getattr(model, 'receptive_field', 0)})"}[name]
        size = f"E={cfg['embed']}, " + (f"C={cfg['channels']}" if name == "conv" else f"H={cfg['hidden']}")
        rows.append((f"{label}, {size}, {n_params} params", ppl))
        lms[name] = model
        trained[name] = {"perplexity": ppl, "params": n_params, "seconds": hist["seconds"], "steps": hist["steps"]}
        say(f"  {name}: test perplexity {ppl:.2f} ({hist['steps']} steps, {hist['seconds']:.1f} s)")

    say("")
    say(perplexity_table(rows, title=f"held-out test perplexity ({level} level, {test.size - 1} predictions)"))

    samples: dict[float, str] = {}
    neural = [n for n in trained]
    if neural or "trigram" in lms:
        best = min(neural, key=lambda n: trained[n]["perplexity"]) if neural else "interpolated"
        say(f"\nsamples from {best} after {prompt!r}:")
        p_ids = _prompt(vocab, prompt)
        for tau in temperatures:
            out = generate(lms[best], p_ids, cfg["sample_len"] if level == "char" else 60, tau, seed=seed)
            samples[tau] = _show(vocab, p_ids[1:] + out, level)
            say(f"--- temperature {tau} ---\n{samples[tau]}")
    seconds = time.perf_counter() - t_start
    say(f"\ntotal {seconds:.1f} s")
    return {"vocab_size": V, "perplexity": dict(rows), "neural": trained, "samples": samples, "seconds": seconds,
            "models": lms, "tokens": {"train": train.size, "valid": valid.size, "test": test.size}}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.language_models", description=__doc__.split("\n")[0])
    p.add_argument("--level", choices=("char", "word"), default="char")
    p.add_argument("--text", default=None, help="train on this text file instead of the stdlib docstrings")
    p.add_argument("--quick", action="store_true", help="small slice and models (~30 s)")
    p.add_argument("--models", default=",".join(ALL_MODELS), help=f"comma-separated subset of {ALL_MODELS}")
    p.add_argument("--steps", type=int, default=None, help="training steps per neural model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", default="Return the ")
    a = p.parse_args(argv)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = sorted(set(models) - set(ALL_MODELS))
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {ALL_MODELS}")
    return run(a.level, a.text, a.quick, models, a.steps, a.seed, prompt=a.prompt)


if __name__ == "__main__":
    main()
