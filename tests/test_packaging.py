"""The housekeeping of a real package (issue 16, item 5).

A LICENSE file that matches pyproject.toml's SPDX ``license``; the version written in one
place (``chainrule/_version.py``) and the same in the built metadata, in ``cr.__version__``
and in CHANGELOG.md; ``package-data`` patterns that all match files; metadata that builds
without a setuptools deprecation warning.
"""

from __future__ import annotations

import email
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

import chainrule as cr

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_license_file_is_the_mit_license(pyproject: dict) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.splitlines()[0] == "MIT License"
    assert "Copyright (c) 2026 the chainrule authors" in text
    # the MIT grant and disclaimer, as published by the OSI
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_pyproject_license_is_an_spdx_expression_naming_the_file(pyproject: dict) -> None:
    project = pyproject["project"]
    assert project["license"] == "MIT"  # a string (PEP 639), not the deprecated {text = ...} table
    assert project["license-files"] == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in project.get("classifiers", [])), (
        "license classifiers are deprecated next to an SPDX license expression"
    )
    # setuptools reads an SPDX `license` string from 77.0 on
    req = next(r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools"))
    assert re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", req) and int(req.split(">=")[1].split(".")[0]) >= 77


def test_version_is_written_in_one_place(pyproject: dict) -> None:
    from chainrule import _version

    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "chainrule._version.__version__"}
    assert cr.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev)?\d*", cr.__version__)
    # no other source file spells the version out
    spelled = [
        str(p.relative_to(ROOT))
        for p in list((ROOT / "chainrule").rglob("*.py")) + [ROOT / "pyproject.toml"]
        if p.name != "_version.py" and re.search(r"^(__version__|version)\s*=\s*[\"']", p.read_text(), re.M)
    ]
    assert spelled == []


def test_package_data_patterns_each_match_a_file(pyproject: dict) -> None:
    for package, patterns in pyproject["tool"]["setuptools"]["package-data"].items():
        base = ROOT / package.replace(".", "/")
        for pattern in patterns:
            assert any(p.is_file() for p in base.glob(pattern)), f"package-data {package}: {pattern!r} matches nothing"


def test_package_data_ships_the_typing_files(pyproject: dict) -> None:
    """py.typed alone is not enough: the Tensor method stub must ship too, or users' type checkers lose it."""
    patterns = pyproject["tool"]["setuptools"]["package-data"]["chainrule"]
    stubs = [p for p in (ROOT / "chainrule").rglob("*.pyi")]
    assert stubs, "expected the Tensor method stub"
    for stub in stubs + [ROOT / "chainrule" / "py.typed"]:
        rel = stub.relative_to(ROOT / "chainrule")
        assert any(rel.match(p) for p in patterns), f"{rel} is not in package-data"


def _newest_release(changelog: str) -> tuple[str, str]:
    m = re.search(r"^## \[(\d+\.\d+\.\d+[^\]]*)\] - (\d{4}-\d{2}-\d{2})$", changelog, re.M)
    assert m, "CHANGELOG.md: no '## [X.Y.Z] - YYYY-MM-DD' release heading"
    return m.group(1), m.group(2)


def test_changelog_names_this_release_and_the_work_in_progress() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings[0] == "[Unreleased]", "Keep a Changelog: the Unreleased section comes first"
    version, _ = _newest_release(text)
    assert version == cr.__version__
    for section in ("[Unreleased]", f"[{version}]"):  # each with at least one entry
        body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
        assert re.search(r"^- ", body, re.M), f"CHANGELOG.md: {section} lists no change"


def test_built_metadata_has_the_version_and_license_without_deprecation_warnings(tmp_path: Path) -> None:
    """Build the wheel metadata from a copy of the project, with the setuptools the environment has."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates SPDX license strings (pip builds with >=77)")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "chainrule", src / "chainrule", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    out = tmp_path / "meta"
    out.mkdir()
    code = (
        "import sys; from setuptools import build_meta as b; "
        "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code, str(out)],
        cwd=src, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Deprecat" not in proc.stderr, proc.stderr
    dist_info = out / proc.stdout.strip().splitlines()[-1]
    meta = email.message_from_string((dist_info / "METADATA").read_text())
    assert meta["Name"] == "chainrule"
    assert meta["Version"] == cr.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert (dist_info / "licenses" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_installed_metadata_matches_the_package() -> None:
    try:
        installed = importlib.metadata.version("chainrule")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("chainrule is not installed (run from a source tree)")
    assert installed == cr.__version__
