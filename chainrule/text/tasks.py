"""Generated text tasks (no download): planted word groups, dates in words, digit reversal.

* :func:`planted_groups_corpus` — sentences whose words come mostly from one hidden group;
  words of a group co-occur, so good embeddings put them nearest each other (GloVe test).
* :func:`dates_dataset` — "march 3, 1997" / "3 march 1997" / "03/03/1997" → "1997-03-03"
  (a translation task for seq2seq with attention).
* :func:`reversal_dataset` — a digit string and its reverse.

All draw from a ``numpy.random.Generator`` seeded by ``seed``: same seed, same data.
"""

from __future__ import annotations

import numpy as np

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_DAYS_IN = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def planted_groups_corpus(
    n_groups: int = 5,
    group_size: int = 6,
    n_fillers: int = 10,
    n_sentences: int = 2000,
    sentence_length: int = 10,
    p_group: float = 0.7,
    seed: int = 0,
) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences with planted word groups.

    Words ``g{a}w{b}`` form group a; ``f{c}`` are shared filler words.  Each sentence picks
    one group and draws each word from that group with probability ``p_group``, else a filler
    (uniformly).  Returns (sentences as token lists, the groups as word lists).
    """
    rng = np.random.default_rng(seed)
    groups = [[f"g{a}w{b}" for b in range(group_size)] for a in range(n_groups)]
    fillers = [f"f{c}" for c in range(n_fillers)]
    sents = []
    for _ in range(n_sentences):
        g = groups[rng.integers(n_groups)]
        s = [g[rng.integers(group_size)] if rng.random() < p_group else fillers[rng.integers(n_fillers)]
             for _ in range(sentence_length)]  # fmt: skip
        sents.append(s)
    return sents, groups


def _date_words(rng: np.random.Generator) -> tuple[str, str]:
    year = int(rng.integers(1950, 2030))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, _DAYS_IN[month - 1] + 1))
    name = MONTHS[month - 1]
    style = int(rng.integers(4))
    if style == 0:
        src = f"{name} {day}, {year}"
    elif style == 1:
        src = f"{day} {name} {year}"
    elif style == 2:
        src = f"{name[:3]} {day:02d} {year}"
    else:
        src = f"{day:02d}/{month:02d}/{year}"
    return src, f"{year:04d}-{month:02d}-{day:02d}"


def dates_dataset(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (date written in one of four styles, ISO date), e.g. ("march 3, 1997", "1997-03-03")."""
    rng = np.random.default_rng(seed)
    return [_date_words(rng) for _ in range(n)]


def reversal_dataset(n: int, min_len: int = 3, max_len: int = 8, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (digit string, its reverse) with lengths in [min_len, max_len]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(min_len, max_len + 1))))
        out.append((s, s[::-1]))
    return out
