"""Generated text tasks (no download): planted word groups, dates in words, digit reversal.

* :func:`planted_groups_corpus` — sentences whose words come mostly from one hidden group;
  words of a group co-occur, so good embeddings put them nearest each other (GloVe test).
* :func:`dates_dataset` — "march 3, 1997" / "3 march 1997" / "03/03/1997" → "1997-03-03",
  and with ``styles=WORD_STYLES`` "third of march 1997" / "3 mar 1997" / "march 3rd, 1997"
  (a translation task for seq2seq with attention); :func:`parse_date` reads any style back.
* :func:`reversal_dataset` — a digit string and its reverse.

All draw from a ``numpy.random.Generator`` seeded by ``seed``: same seed, same data.
"""

from __future__ import annotations

import re

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


_ONES = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
_TEENS = ("tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
          "seventeenth", "eighteenth", "nineteenth")  # fmt: skip


def ordinal_words(day: int) -> str:
    """1..31 in words: ``ordinal_words(23) == "twenty-third"``, ``ordinal_words(30) == "thirtieth"``."""
    if not 1 <= day <= 31:
        raise ValueError(f"ordinal_words: day must be in 1..31, got {day}")
    if day < 10:
        return _ONES[day - 1]
    if day < 20:
        return _TEENS[day - 10]
    tens, unit = divmod(day, 10)
    stem = ("twenty", "thirty")[tens - 2]
    return f"{stem[:-1]}ieth" if unit == 0 else f"{stem}-{_ONES[unit - 1]}"


def ordinal_suffix(day: int) -> str:
    """23 -> "23rd", 11 -> "11th", 1 -> "1st"."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# the ways a date is written; each maps (day, month, year) to text
DATE_STYLES = {
    "month_day_year": lambda d, m, y: f"{MONTHS[m - 1]} {d}, {y}",  # march 23, 1997
    "day_month_year": lambda d, m, y: f"{d} {MONTHS[m - 1]} {y}",  # 23 march 1997
    "mon_dd_year": lambda d, m, y: f"{MONTHS[m - 1][:3]} {d:02d} {y}",  # mar 23 1997
    "dd_mm_yyyy": lambda d, m, y: f"{d:02d}/{m:02d}/{y}",  # 23/03/1997
    "ordinal_words": lambda d, m, y: f"{ordinal_words(d)} of {MONTHS[m - 1]} {y}",  # twenty-third of march 1997
    "day_mon_year": lambda d, m, y: f"{d} {MONTHS[m - 1][:3]} {y}",  # 23 mar 1997
    "month_ordinal_year": lambda d, m, y: f"{MONTHS[m - 1]} {ordinal_suffix(d)}, {y}",  # march 23rd, 1997
    "the_ordinal_of": lambda d, m, y: f"the {ordinal_suffix(d)} of {MONTHS[m - 1]} {y}",  # the 23rd of march 1997
}
NUMERIC_STYLES = ("month_day_year", "day_month_year", "mon_dd_year", "dd_mm_yyyy")  # dates_dataset's default
WORD_STYLES = ("ordinal_words", "month_day_year", "day_mon_year", "month_ordinal_year", "the_ordinal_of",
               "day_month_year")  # fmt: skip


def _date_words(
    rng: np.random.Generator, styles: tuple = NUMERIC_STYLES, years: tuple = (1950, 2030)
) -> tuple[str, str]:
    year = int(rng.integers(years[0], years[1]))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, _DAYS_IN[month - 1] + 1))
    style = styles[int(rng.integers(len(styles)))]
    return DATE_STYLES[style](day, month, year), f"{year:04d}-{month:02d}-{day:02d}"


def dates_dataset(
    n: int, seed: int = 0, styles: tuple | list | None = None, years: tuple[int, int] = (1950, 2030)
) -> list[tuple[str, str]]:
    """``n`` pairs (a date written in one of ``styles``, the ISO date), e.g. ("march 3, 1997", "1997-03-03").

    ``styles``: names from :data:`DATE_STYLES` (default :data:`NUMERIC_STYLES`, the four original
    styles; :data:`WORD_STYLES` has "twenty-third of march 1997", "23 mar 1997", ...); each pair picks
    one uniformly.  Years are drawn from [years[0], years[1]); February has 28 days.
    """
    styles = NUMERIC_STYLES if styles is None else tuple(styles)
    bad = [s for s in styles if s not in DATE_STYLES]
    if bad or not styles:
        raise ValueError(f"dates_dataset: unknown style(s) {bad}; choose from {sorted(DATE_STYLES)}")
    if years[1] <= years[0]:
        raise ValueError(f"dates_dataset: years must be a range [lo, hi) with hi > lo, got {years}")
    rng = np.random.default_rng(seed)
    return [_date_words(rng, styles, years) for _ in range(n)]


_WORD_DAYS = {ordinal_words(d): d for d in range(1, 32)}
_MONTH_OF = {**{m: i + 1 for i, m in enumerate(MONTHS)}, **{m[:3]: i + 1 for i, m in enumerate(MONTHS)}}
_DATE_RES = (  # (pattern, order of the groups: d = day, m = month, y = year)
    (re.compile(r"^(\d{2})/(\d{2})/(\d{4})$"), "dmy"),
    (re.compile(r"^(?:the )?(\d{1,2})(?:st|nd|rd|th)? (?:of )?([a-z]+) (\d{4})$"), "dmy"),
    (re.compile(r"^([a-z]+(?:-[a-z]+)?) of ([a-z]+) (\d{4})$"), "dmy"),
    (re.compile(r"^([a-z]+) (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$"), "mdy"),
)


def parse_date(text: str) -> str:
    """The inverse of the generator: a date in any of :data:`DATE_STYLES` -> "YYYY-MM-DD".

    Raises ``ValueError`` for text in no known style, an unknown month or day word, or a
    day the month does not have.
    """
    for rx, order in _DATE_RES:
        m = rx.match(text.strip().lower())
        if not m:
            continue
        parts = dict(zip(order, m.groups()))
        d, mo = parts["d"], parts["m"]
        day = int(d) if d.isdigit() else _WORD_DAYS.get(d)
        month = int(mo) if mo.isdigit() else _MONTH_OF.get(mo)
        if day is None or month is None or not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN[month - 1]:
            break
        return f"{int(parts['y']):04d}-{month:02d}-{day:02d}"
    raise ValueError(f"parse_date: cannot read {text!r} as a date")


def reversal_dataset(n: int, min_len: int = 3, max_len: int = 8, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (digit string, its reverse) with lengths in [min_len, max_len]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(min_len, max_len + 1))))
        out.append((s, s[::-1]))
    return out
