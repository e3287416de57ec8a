"""The README is the front door: short, its links resolve, its first example runs, its commands exist."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def md_anchor(heading: str) -> str:
    """The anchor of a heading: its explicit ``{#id}``, else lower case, punctuation dropped, spaces to
    hyphens (GitHub's rule, and Python-Markdown's toc rule for the headings of these pages)."""
    explicit = re.search(r"\{#([\w-]+)\}\s*$", heading)
    if explicit:
        return explicit.group(1)
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)  # '# comments' in code are no headings
    return {md_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def local_links(path: Path) -> list[tuple[Path, str]]:
    """(target file, anchor or '') of every relative link and image in a Markdown file."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    out = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        out.append(((path.parent / file).resolve() if file else path, anchor))
    return out


def test_the_anchor_rule():
    assert md_anchor("A first look") == "a-first-look"
    assert md_anchor("Save and load (`cr.save`, `cr.load`)") == "save-and-load-crsave-crload"
    assert md_anchor("w3: LeNet-5 {#w3}") == "w3"


def test_readme_is_a_front_door_of_at_most_about_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_readme_links_resolve_to_files_and_headings():
    links = local_links(README)
    assert len(links) >= 20  # it links into the site
    for file, anchor in links:
        assert file.exists(), file
        if anchor:
            assert anchor in anchors_of(file), f"{file.name}#{anchor}"


def test_readme_links_into_every_section_of_the_site():
    linked = {file.relative_to(ROOT).as_posix() for file, _ in local_links(README)}
    for page in ["docs/index.md", "docs/getting-started.md", "docs/tutorials/autograd.md", "docs/how-to/porting.md",
                 "docs/how-to/csv.md", "docs/performance.md", "docs/notes-index.md", "HACKING.md"]:
        assert page in linked, page


def test_first_look_runs_and_prints_the_notes_numbers(tmp_path, monkeypatch):
    code = re.search(r"## A first look\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README first look", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "-12.0 -4.0 -4.0 3.0"  # f = (x + y) z at (-2, 5, -4): the notes' numbers
    assert float(lines[-1]) > 0.9 and (tmp_path / "model.safetensors").exists()


def test_the_make_targets_exist_and_ci_runs_the_test_command():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "docs"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    test_recipe = re.search(r"^test:.*?(?=^\S|\Z)", makefile, re.S | re.M).group(0)
    assert "docs" in test_recipe  # make test builds the site with --strict
    assert re.search(r"mkdocs build --strict", makefile)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = README.read_text()
    assert "make demo" in readme and "make test" in readme and "make docs" in readme
