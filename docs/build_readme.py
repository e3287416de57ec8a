"""Build README.md from docs/readme/: the front matter, one section per area, the tail.

Edit the parts in docs/readme/ and run ``python docs/build_readme.py``; tests/test_readme.py
fails when README.md and its parts disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ROOT / "docs" / "readme"
SECTIONS = [
    "core", "autograd", "nn-core-module", "nn-core-activations", "nn-core-losses-serialization",
    "nn-layers", "nn-recurrent", "optim", "pipeline",
    "examples-linear-xor-glove-long-range", "examples-tabular-cnn-regularization",
    "examples-language-models", "examples-seq2seq", "notes-index",
]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def build() -> str:
    body = "\n".join((PARTS / f"{name}.md").read_text().rstrip() + "\n" for name in SECTIONS)
    body = body.replace("](../figures/", "](docs/figures/") + "\n" + (PARTS / "_tail.md").read_text()
    headings = ["How the code is laid out"] + [line[3:].strip() for line in body.splitlines() if line.startswith("## ")]
    toc = "\n".join(f"* [{h}](#{anchor(h)})" for h in headings)
    front = (PARTS / "_front.md").read_text().replace("TOC", toc)
    return front.rstrip() + "\n\n" + body


if __name__ == "__main__":
    text = build()
    (ROOT / "README.md").write_text(text)
    print(f"README.md: {len(text.splitlines())} lines")
