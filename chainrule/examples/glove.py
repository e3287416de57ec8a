"""GloVe embeddings (notes 004) on a corpus with planted word groups, and on the docstrings.

1. A generated corpus: 5 hidden groups of 6 words; each sentence draws its words from one
   group (70%) or from 10 shared fillers.  The co-occurrence matrix X (window 3, weights 1/d)
   is fitted with J = Σ f(X_ij)(w_iᵀw̃_j + b_i + b̃_j - log X_ij)², f(x) = (x/100)^{3/4} capped
   at 1.  Nearest neighbours by cosine similarity recover the groups (precision printed).
2. (``--stdlib``) the same on the stdlib-docstring corpus (most frequent 500 words),
   printing the neighbours of a few query words.

Run:  python -m chainrule.examples.glove [--stdlib]
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import numpy as np

from chainrule.models.glove import GloVe, cooccurrence_matrix, cosine_similarity_matrix, nearest_neighbours
from chainrule.text import Vocab, WordVocab, load_corpus, tokenize_words
from chainrule.text.tasks import planted_groups_corpus


def neighbour_precision(vectors: np.ndarray, vocab: Vocab, groups: Sequence[Sequence[str]]) -> float:
    """Fraction of same-group words among each group word's |group| - 1 cosine-nearest neighbours."""
    hits = total = 0
    for grp in groups:
        for w in grp:
            nn = nearest_neighbours(vectors, vocab.stoi[w], len(grp) - 1)
            hits += sum(vocab.itos[i] in grp for i, _ in nn)
            total += len(grp) - 1
    return hits / total


def planted_groups(seed: int = 0, dim: int = 10, epochs: int = 300, verbose: bool = True) -> dict[str, Any]:
    """Fit GloVe on the planted-groups corpus; returns the neighbour precision (trained and at
    initialisation) and the model."""
    sents, groups = planted_groups_corpus(seed=seed)
    vocab = Vocab.build([w for s in sents for w in s])
    X = cooccurrence_matrix([vocab.encode_tokens(s) for s in sents], len(vocab), window=3)
    model = GloVe(len(vocab), dim=dim, seed=seed)
    precision_init = neighbour_precision(model.vectors(), vocab, groups)
    hist = model.fit(X, epochs=epochs, lr=0.1)
    vec = model.vectors()
    precision = neighbour_precision(vec, vocab, groups)
    if verbose:
        k = len(groups[0]) - 1
        chance = k / (len(vocab) - 1)
        print(f"planted groups: V = {len(vocab)}, {len(sents)} sentences, {int((X > 0).sum())} non-zero X_ij, "
              f"max X_ij = {X.max():.0f} (x_max = {model.x_max:g})")
        print(f"  J: {hist[0]:.1f} -> {hist[-1]:.2f} after {epochs} full-batch Adagrad epochs")
        for grp in groups[:3]:
            nn = nearest_neighbours(vec, vocab.stoi[grp[0]], k + 1)
            print(f"  {grp[0]}: " + ", ".join(f"{vocab.itos[i]} ({s:.3f})" for i, s in nn))
        S = cosine_similarity_matrix(vec)
        gid = {vocab.stoi[w]: a for a, grp in enumerate(groups) for w in grp}
        ids = sorted(gid)
        same = [S[i, j] for i in ids for j in ids if i < j and gid[i] == gid[j]]
        other = [S[i, j] for i in ids for j in ids if i < j and gid[i] != gid[j]]
        print(f"  mean cosine similarity: same group {np.mean(same):.3f}, different groups {np.mean(other):.3f}")
        print(f"  neighbour precision (same-group words among the {k} nearest): {precision:.3f} "
              f"(random initial vectors {precision_init:.3f}, chance {chance:.3f})")
    return {"precision": precision, "precision_init": precision_init, "model": model, "vocab": vocab, "loss": hist}


def stdlib_neighbours(queries: Sequence[str] = ("file", "list", "return", "string", "error"), verbose: bool = True):
    splits = load_corpus()
    vocab = WordVocab.from_text(splits.train, min_freq=1, max_size=500)
    sents = [vocab.encode_tokens(tokenize_words(line)) for line in splits.train.split("\n") if line.strip()]
    X = cooccurrence_matrix(sents, len(vocab), window=5)
    X[:, :2] = X[:2, :] = 0  # drop <unk>/<eos> co-occurrences
    model = GloVe(len(vocab), dim=32, seed=0)
    model.fit(X, epochs=300, lr=0.05)
    vec = model.vectors()
    out = {}
    for q in queries:
        if q in vocab:
            out[q] = [vocab.itos[i] for i, _ in nearest_neighbours(vec, vocab.stoi[q], 6)]
            if verbose:
                print(f"  {q}: {', '.join(out[q])}")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.glove", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stdlib", action="store_true", help="also train on the stdlib-docstring corpus")
    args = p.parse_args(argv)
    out = planted_groups(seed=args.seed)
    if args.stdlib:
        print("stdlib docstrings, 500 most frequent words:")
        out["stdlib"] = stdlib_neighbours()
    return out


if __name__ == "__main__":
    main()
