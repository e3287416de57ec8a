"""The README is the front door: it is built from docs/readme/, its first example runs, its commands exist."""

import contextlib
import importlib.util
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _builder():
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "docs" / "build_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_is_built_from_its_parts():
    assert (ROOT / "README.md").read_text() == _builder().build(), "run: python docs/build_readme.py"


def test_every_part_is_in_the_readme():
    """A new docs/readme/NAME.md must be listed in build_readme.SECTIONS (else it is silently left out)."""
    parts = {p.stem for p in (ROOT / "docs" / "readme").glob("*.md") if not p.stem.startswith("_")}
    assert parts == set(_builder().SECTIONS)


def test_readme_links_and_figures_exist():
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs/|HACKING)[^)#]*)\)", text):
        assert (ROOT / target).exists(), target
    # every in-page link (the contents list and the hand-written ones) names an existing heading
    anchors = {_builder().anchor(h[3:].strip()) for h in text.splitlines() if h.startswith("## ")}
    for a in re.findall(r"\]\(#([^)]+)\)", text):
        assert a in anchors, a


def test_first_look_runs_and_prints_the_notes_numbers(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## A first look\n\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README first look", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "-12.0 -4.0 -4.0 3.0"  # f = (x + y) z at (-2, 5, -4): the notes' numbers
    assert float(lines[-1]) > 0.9 and (tmp_path / "model.safetensors").exists()


def test_the_two_commands_exist_and_ci_runs_the_test_command():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
