"""Sequence to sequence with additive attention (notes 004) on date-to-ISO translation.

A GRU encoder (bidirectional) reads a date written in words, character by character,
and a GRU decoder with Bahdanau attention writes it in ISO format:

    "twenty-third of march 1997" / "march 23, 1997" / "23 mar 1997" / "the 23rd of march 1997"
        -> "1997-03-23"

The data are generated (``chainrule.text.tasks.dates_dataset``, no download); the held-out
dates never occur in the training set.  Training uses teacher forcing; the example prints the
exact-sequence accuracy (the whole ISO string right) of greedy decoding and of beam search,
per input style, and a few translations with their log-probabilities.  ``--plot FILE.png``
draws the attention weights a_ij of one translation as a heat map (rows: output characters,
columns: input characters): the decoder looks at the year's digits while writing the year,
at the month word while writing the month, and so on.  ``--reverse-input`` feeds the source
reversed (the notes' trick, ABC -> CBA).

Run:  python -m chainrule.examples.seq2seq [--steps 2500] [--reverse-input] [--plot attention.png] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np

import chainrule as cr
from chainrule.models.seq2seq import Seq2Seq, date_vocabs, train_seq2seq, translate
from chainrule.text.tasks import DATE_STYLES, dates_dataset, parse_date

SHOWCASE = ("twenty-third of march 1997", "march 23, 1997", "23 mar 1997", "the 1st of december 2008",
            "eleventh of november 1918", "29 aug 1996")  # fmt: skip
QUICK = {"steps": 300, "n_train": 5000, "n_test": 300, "hidden": 32, "embed_dim": 16}


def _split(n_train: int, n_test: int, styles: tuple, seed: int) -> tuple[list, list]:
    """Training pairs and held-out pairs whose source text never occurs in training."""
    train = dates_dataset(n_train, seed=seed, styles=styles)
    seen = {s for s, _ in train}
    test: list = []
    k = 1
    while len(test) < n_test:
        test += [p for p in dates_dataset(2 * n_test, seed=seed + 1000 * k, styles=styles) if p[0] not in seen]
        k += 1
    return train, test[:n_test]


def plot_attention(path: str, source: str, output: str, weights: np.ndarray, title: str = "") -> bool:
    """Save a heat map of attention ``weights`` (len(output), len(source)); False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot needs matplotlib (pip install matplotlib); {path} not written")
        return False
    fig, ax = plt.subplots(figsize=(0.28 * len(source) + 1.6, 0.28 * len(output) + 1.3))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(len(source)), [c if c != " " else "␣" for c in source], fontsize=9)
    ax.set_yticks(range(len(output)), list(output), fontsize=9)
    ax.set_xlabel("source character j")
    ax.set_ylabel("output character i")
    ax.set_title(title or "attention weights $a_{ij}$", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def run(
    steps: int = 2500,
    n_train: int = 20000,
    n_test: int = 1000,
    hidden: int = 64,
    embed_dim: int = 32,
    batch_size: int = 64,
    lr: float = 5e-3,
    beam_size: int = 4,
    reverse_input: bool = False,
    bidirectional: bool = True,
    styles: Sequence[str] | None = None,
    seed: int = 0,
    verbose: bool = True,
    plot: str | None = None,
    plot_source: str = SHOWCASE[0],
) -> dict[str, Any]:
    say = print if verbose else (lambda *a, **k: None)
    styles = tuple(styles or DATE_STYLES)
    train, test = _split(n_train, n_test, styles, seed)
    src_vocab, tgt_vocab = date_vocabs()
    src = [src_vocab.encode(s) for s, _ in train]
    tgt = [np.append(tgt_vocab.encode(t), tgt_vocab.eos_id) for _, t in train]
    cr.manual_seed(seed)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim, hidden, bidirectional=bidirectional,
                    reverse_input=reverse_input)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"dates -> ISO: {len(train)} training pairs, {len(test)} held-out, {len(styles)} styles, e.g. "
        f"{train[0][0]!r} -> {train[0][1]!r}")
    say(f"Seq2Seq: GRU encoder ({'bi' if bidirectional else 'uni'}directional, H = {hidden}) + GRU decoder with "
        f"additive attention, E = {embed_dim}, {n_params} parameters"
        + (", reversed input" if reverse_input else ""))
    hist = train_seq2seq(model, src, tgt, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                         log=say if verbose else None, log_every=max(steps // 10, 1))
    say(f"trained {hist['steps']} steps in {hist['seconds']:.1f} s")

    sources, targets = [s for s, _ in test], [t for _, t in test]
    t0 = time.perf_counter()
    greedy = translate(model, sources, src_vocab, tgt_vocab)
    t_greedy = time.perf_counter() - t0
    t0 = time.perf_counter()
    beam = translate(model, sources, src_vocab, tgt_vocab, beam_size=beam_size)
    t_beam = time.perf_counter() - t0
    ok_g = np.array([o == t for (o, _), t in zip(greedy, targets)])
    ok_b = np.array([o == t for (o, _), t in zip(beam, targets)])
    style_of = [next(k for k in styles if DATE_STYLES[k](*_dmy(t)) == s) for s, t in test]
    say(f"\nexact-sequence accuracy on {len(test)} held-out dates:")
    say(f"  {'style':20} {'n':>5} {'greedy':>8} {f'beam {beam_size}':>8}")
    per_style = {}
    for k in styles:
        sel = np.array([st == k for st in style_of])
        if sel.any():
            per_style[k] = (float(ok_g[sel].mean()), float(ok_b[sel].mean()))
            say(f"  {k:20} {sel.sum():>5} {ok_g[sel].mean():>8.1%} {ok_b[sel].mean():>8.1%}")
    say(f"  {'all':20} {len(test):>5} {ok_g.mean():>8.1%} {ok_b.mean():>8.1%}"
        f"   ({t_greedy:.1f} s greedy, {t_beam:.1f} s beam)")

    show = list(SHOWCASE) + [s for s, ok in zip(sources, ok_g) if not ok][:3]
    g_show = translate(model, show, src_vocab, tgt_vocab)
    b_show = translate(model, show, src_vocab, tgt_vocab, beam_size=beam_size)
    say("\ntranslations (greedy | beam, log P of the output):")
    examples = []
    for s, (go, gr), (bo, br) in zip(show, g_show, b_show):
        want = parse_date(s)
        mark = "" if go == want else f"   (want {want})"
        say(f"  {s!r:30} -> {go} ({gr.score:6.3f}) | {bo} ({br.score:6.3f}){mark}")
        examples.append({"source": s, "greedy": go, "beam": bo, "target": want})

    res = translate(model, [plot_source], src_vocab, tgt_vocab)[0]
    results: dict[str, Any] = {
        "greedy": float(ok_g.mean()), "beam": float(ok_b.mean()), "beam_size": beam_size,
        "per_style": per_style, "examples": examples, "loss": hist["loss"], "train_seconds": hist["seconds"],
        "steps": hist["steps"], "n_params": n_params,
        "attention": {"source": plot_source, "output": res[0], "weights": res[1].attention},
    }  # fmt: skip
    if plot:
        title = f"{plot_source!r} -> {res[0]!r}" + (" (reversed input)" if reverse_input else "")
        if plot_attention(plot, plot_source, res[0], res[1].attention, title):
            say(f"saved {plot}")
            results["plot"] = plot
    return results


def _dmy(iso: str) -> tuple[int, int, int]:
    y, m, d = (int(x) for x in iso.split("-"))
    return d, m, y


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.seq2seq", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=None, help="training steps (default 2500; 300 with --quick)")
    p.add_argument("--hidden", type=int, default=None, help="GRU width H (default 64; 32 with --quick)")
    p.add_argument("--embed-dim", type=int, default=None, help="embedding size E (default 32; 16 with --quick)")
    p.add_argument("--n-train", type=int, default=None, help="training pairs (default 20000)")
    p.add_argument("--n-test", type=int, default=None, help="held-out pairs (default 1000)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--reverse-input", action="store_true", help="feed the source reversed (ABC -> CBA)")
    p.add_argument("--unidirectional", action="store_true", help="a forward-only encoder")
    p.add_argument("--styles", default=None, help=f"comma-separated subset of {','.join(DATE_STYLES)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="save a heat map of one translation's attention weights (PNG)")
    p.add_argument("--plot-source", default=SHOWCASE[0], help="the date whose attention --plot draws")
    p.add_argument("--quick", action="store_true", help="a small model and a short run (about 10 s)")
    a = p.parse_args(argv)
    base: dict[str, Any] = dict(QUICK) if a.quick else {}
    for k in ("steps", "hidden", "embed_dim", "n_train", "n_test"):
        if getattr(a, k) is not None:
            base[k] = getattr(a, k)
    styles = a.styles.split(",") if a.styles else None
    return run(batch_size=a.batch_size, lr=a.lr, beam_size=a.beam_size, reverse_input=a.reverse_input,
               bidirectional=not a.unidirectional, styles=styles, seed=a.seed, plot=a.plot,
               plot_source=a.plot_source, **base)


if __name__ == "__main__":
    main()
