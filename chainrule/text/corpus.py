"""Text corpora that need no download, and loading of any text file.

:func:`stdlib_docstrings` builds a corpus from the docstrings of a fixed, sorted list
of Python standard-library modules: the module docstring, then the docstrings of its
public functions and classes (and their methods), in sorted name order.  The text is
deterministic for a given Python version (it is the installed interpreter's own
documentation), and nothing is fetched.

:func:`split_documents` divides a list of documents into train / validation / test
deterministically (document i goes to validation when i % 10 == 8 and to test when
i % 10 == 9), so held-out text comes from all modules, not from the last few.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from pathlib import Path
from typing import NamedTuple

STDLIB_MODULES: tuple[str, ...] = tuple(
    sorted(
        [
            "abc", "argparse", "base64", "bisect", "calendar", "collections", "contextlib",
            "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
            "functools", "glob", "gzip", "heapq", "html", "inspect", "io", "ipaddress",
            "itertools", "json", "logging", "operator", "os", "pathlib", "pickle", "pprint",
            "queue", "random", "re", "shlex", "shutil", "statistics", "string", "struct",
            "subprocess", "tempfile", "textwrap", "threading", "timeit", "typing", "unittest",
            "uuid", "warnings", "weakref", "zipfile",
        ]
    )
)  # fmt: skip


def _clean(doc: str | None) -> str | None:
    if not doc:
        return None
    doc = inspect.cleandoc(doc).strip()
    return doc or None


def stdlib_docstrings(modules: tuple[str, ...] | list[str] = STDLIB_MODULES, max_chars: int | None = None) -> list[str]:
    """The docstrings of ``modules`` as a list of documents (strings), in a fixed order.

    For each module (sorted): its own docstring, then for each public name in
    ``sorted(dir(module))`` defined in that module, the function's or class's
    docstring, and for a class its public methods' docstrings (sorted).  Stops
    once ``max_chars`` characters have been collected (None: no limit).
    """
    docs: list[str] = []
    seen: set[str] = set()
    total = 0

    def add(doc: str | None) -> bool:
        nonlocal total
        d = _clean(doc)
        if d is None or d in seen:  # inherited docstrings appear once
            return False
        seen.add(d)
        docs.append(d)
        total += len(d)
        return max_chars is not None and total >= max_chars

    with warnings.catch_warnings():  # touching typing.io / typing.re warns (deprecated modules)
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in sorted(modules):
            mod = importlib.import_module(name)
            if add(mod.__doc__):
                return docs
            for attr in sorted(dir(mod)):
                if attr.startswith("_"):
                    continue
                obj = getattr(mod, attr, None)
                if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                    continue
                if getattr(obj, "__module__", None) != name:
                    continue
                if add(obj.__doc__):
                    return docs
                if inspect.isclass(obj):
                    for meth in sorted(vars(obj)):
                        if meth.startswith("_"):
                            continue
                        fn = vars(obj)[meth]
                        if inspect.isfunction(fn) and add(fn.__doc__):
                            return docs
    return docs


def load_text(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """Read a text file as a list of documents, one per paragraph (blank-line separated)."""
    text = Path(path).read_text(encoding=encoding, errors="replace")
    paras = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    docs = [p for p in paras if p]
    if not docs:
        raise ValueError(f"load_text: {path} contains no text")
    return docs


class TextSplits(NamedTuple):
    train: str
    valid: str
    test: str


def split_documents(docs: list[str]) -> TextSplits:
    """Documents -> (train, valid, test) texts; doc i -> valid if i % 10 == 8, test if i % 10 == 9.

    Documents are joined with a newline, so each ends with a sentence boundary.
    A list with fewer than 10 documents is split by lines instead.
    """
    if len(docs) < 10:
        docs = [ln for d in docs for ln in d.split("\n") if ln.strip()]
        if len(docs) < 10:
            raise ValueError(f"split_documents: need at least 10 documents or lines, got {len(docs)}")
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    for i, d in enumerate(docs):
        parts[{8: 1, 9: 2}.get(i % 10, 0)].append(d)
    return TextSplits(*("\n".join(p) + "\n" for p in parts))


def load_corpus(path: str | Path | None = None, max_chars: int | None = None) -> TextSplits:
    """The stdlib-docstring corpus (``path`` None) or a user's text file, split 80/10/10."""
    docs = stdlib_docstrings(max_chars=max_chars) if path is None else load_text(path)
    return split_documents(docs)
