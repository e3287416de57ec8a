"""Vocabularies: tokens <-> integer ids, with the special tokens ``<unk>`` and ``<eos>``.

A vocabulary is the list ``itos`` (id -> token) and the dict ``stoi`` (token -> id).
Id 0 is ``<unk>`` (any token not in the vocabulary) and id 1 is ``<eos>`` (end of a
sentence / line / document), so every language model sees the same two specials.

* :class:`CharVocab` — one token per character; ``decode`` joins with ``""``.
* :class:`WordVocab` — lower-cased words and punctuation marks (``tokenize_words``);
  ``decode`` joins with spaces.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

UNK = "<unk>"
EOS = "<eos>"

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+|[^\sA-Za-z\d]")


def tokenize_words(text: str, lower: bool = True) -> list[str]:
    """Split text into words, numbers and single punctuation marks; a newline ends a sentence.

    ``"Return x.\\nNone"`` -> ``["return", "x", ".", "<eos>", "none"]``.  Blank lines are
    dropped, so ``<eos>`` never repeats.
    """
    out: list[str] = []
    for line in text.split("\n"):
        toks = _WORD_RE.findall(line.lower() if lower else line)
        if toks:
            out.extend(toks)
            out.append(EOS)
    return out


class Vocab:
    """Token <-> id table with ``<unk>`` = 0 and ``<eos>`` = 1.

    ``Vocab.build(tokens, min_freq, max_size)`` keeps the tokens seen at least
    ``min_freq`` times, most frequent first (ties broken alphabetically, so the
    table is deterministic), at most ``max_size`` of them plus the specials.
    """

    joiner = " "

    def __init__(self, tokens: Sequence[str]) -> None:
        itos = [UNK, EOS]
        for t in tokens:
            if t not in (UNK, EOS):
                itos.append(t)
        if len(set(itos)) != len(itos):
            raise ValueError("Vocab: tokens must be distinct")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}

    unk_id = 0
    eos_id = 1

    @classmethod
    def build(cls, tokens: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        counts = Counter(tokens)
        counts.pop(UNK, None)
        counts.pop(EOS, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def tokenize(self, text: str) -> list[str]:
        return tokenize_words(text)

    def encode_tokens(self, tokens: Iterable[str]) -> np.ndarray:
        """Token list -> int64 ids of shape (T,); unknown tokens map to ``<unk>`` (0)."""
        get = self.stoi.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int64)

    def encode(self, text: str) -> np.ndarray:
        """Text -> int64 ids of shape (T,)."""
        return self.encode_tokens(self.tokenize(text))

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text (tokens joined by ``joiner``)."""
        return self.joiner.join(self.itos[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)})"


class WordVocab(Vocab):
    """Word-level vocabulary: ``encode(text)`` tokenizes with :func:`tokenize_words`."""

    @classmethod
    def from_text(cls, text: str, min_freq: int = 2, max_size: int | None = None) -> WordVocab:
        return cls.build(tokenize_words(text), min_freq=min_freq, max_size=max_size)  # type: ignore[return-value]


class CharVocab(Vocab):
    """Character-level vocabulary: one token per character, ``"\\n"`` becomes ``<eos>``."""

    joiner = ""

    @classmethod
    def from_text(cls, text: str, min_freq: int = 1, max_size: int | None = None) -> CharVocab:
        return cls.build(cls.tokenize(None, text), min_freq=min_freq, max_size=max_size)  # type: ignore[arg-type,return-value]

    def tokenize(self, text: str) -> list[str]:
        return [EOS if ch == "\n" else ch for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join("\n" if int(i) == 1 else self.itos[int(i)] for i in ids)
