"""The documentation site builds with --strict (a broken link, a missing page or API reference, or a
docstring griffe cannot parse fails), and it has what the issue asks: search, the reorganised pages,
an API reference generated from the docstrings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_every_markdown_page_is_in_the_nav():
    """A page left out of mkdocs.yml's nav would build but be hard to find (and --strict only warns
    for it through validation.omitted_files, which this checks independently)."""
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert page.relative_to(ROOT / "docs").as_posix() in nav, page


def test_site_builds_with_search_pages_and_api_reference(site):
    assert (site / "index.html").exists()
    assert (site / "search" / "search_index.json").exists()
    for page in ["getting-started", "tutorials/autograd", "how-to/porting", "performance", "notes-index"]:
        assert (site / page / "index.html").exists(), page
    # the API reference is rendered from the docstrings: nn.Linear's signature and docstring text
    html = (site / "reference" / "api" / "nn" / "index.html").read_text()
    assert 'id="chainrule.nn.Linear"' in html
    from chainrule import nn
    first_words = " ".join(nn.Linear.__doc__.split()[:3])
    assert first_words in re.sub(r"<[^>]+>", "", html)


def test_performance_page_starts_with_the_issue_13_note(site):
    html = (site / "performance" / "index.html").read_text()
    text = re.sub(r"<[^>]+>", "", html[html.index("<article"):])
    note = text.index("w2 0.75, w3 0.65, w4 0.61")
    assert note < text.index("Speed against PyTorch")
