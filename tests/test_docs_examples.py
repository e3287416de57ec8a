"""Every ```python block of the documentation site (docs/**/*.md) and of README.md runs.

Each page is one test: its blocks run in order in one fresh namespace (a later block may use
what an earlier one defined, as a reader going down the page would), in a temporary folder,
with matplotlib's Agg back end. Two HTML comments, invisible on the site, steer it:

* ``<!-- docs-test: skip REASON -->`` on the line before a block leaves that block out
  (the reason is required, so that every exception is explained where it is made);
* ``<!-- docs-test: setup`` ... ``-->`` runs the code inside the comment at that point, for what
  a reader has of their own and the page need not show (a CSV file of theirs on disk).

A page whose blocks train a model for more than a second or two says ``<!-- docs-test: slow -->``
and its test is marked slow. Shell commands are ```bash blocks and output is ``` or ```text:
neither is run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]

# A fenced python block, a skip marker (with the block it applies to), or a setup comment.
_TOKEN = re.compile(
    r"(?P<skip><!-- docs-test: skip (?P<reason>[^\n]*?)-->\n)?^```python[^\n]*\n(?P<code>.*?)^```"
    r"|<!-- docs-test: setup\n(?P<setup>.*?)-->",
    re.S | re.M,
)


def blocks(text: str) -> list[tuple[str, str]]:
    """The page's runnable code in order: ("block" | "setup" | "skip", code or reason)."""
    out = []
    for m in _TOKEN.finditer(text):
        if m.group("setup") is not None:
            out.append(("setup", m.group("setup")))
        elif m.group("skip"):
            reason = m.group("reason").strip()
            assert reason, "a docs-test: skip marker needs a reason"
            out.append(("skip", reason))
        else:
            out.append(("block", m.group("code")))
    return out


def _params():
    for page in PAGES:
        text = page.read_text()
        if not any(kind in ("block", "setup") for kind, _ in blocks(text)):
            continue
        marks = [pytest.mark.slow] if "<!-- docs-test: slow -->" in text else []
        yield pytest.param(page, id=str(page.relative_to(ROOT)), marks=marks)


def test_the_block_finder_sees_markers_and_fences():
    text = (
        "a\n```python\nx = 1\n```\n<!-- docs-test: skip needs a GPU -->\n```python\nboom\n```\n"
        "<!-- docs-test: setup\ny = 2\n-->\n```bash\nls\n```\n```python\nz = x + y\n```\n"
    )
    assert blocks(text) == [("block", "x = 1\n"), ("skip", "needs a GPU"), ("setup", "y = 2\n"),
                            ("block", "z = x + y\n")]


@pytest.mark.parametrize("page", list(_params()))
def test_every_python_block_of_the_page_runs(page: Path, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__docs__"}
    for n, (kind, code) in enumerate(blocks(page.read_text())):
        if kind == "skip":
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"{page.name} block {n}", "exec"), namespace)
            except Exception as e:  # name the block, so that the page can be fixed
                raise AssertionError(f"{page.relative_to(ROOT)}: {kind} {n} failed:\n{code}") from e
    assert os.getcwd() == str(tmp_path)
