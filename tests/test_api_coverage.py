"""The published PyTorch coverage table (docs/reference/api-coverage.{json,md}, issue 12 item 7).

Without PyTorch: every name the committed table marks done still exists in chainrule, and the
Markdown page is the rendering of the JSON. With PyTorch (the version the table was made from):
the committed table is what scripts/api_coverage.py generates now.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("api_coverage", ROOT / "scripts" / "api_coverage.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["api_coverage"] = mod
    spec.loader.exec_module(mod)
    return mod


AC = _script()
DATA = json.loads(AC.JSON_PATH.read_text())


def test_every_namespace_of_the_issue_is_in_the_table():
    assert list(DATA["namespaces"]) == list(AC.NAMESPACES)
    for ns, table in DATA["namespaces"].items():
        assert table, ns
        for name, row in table.items():
            assert row["status"] in ("done", "missing", "out of scope"), (ns, name)
            if row["status"] == "out of scope":
                assert row["reason"], f"{ns}.{name} is out of scope without a reason"


@pytest.mark.parametrize("ns", list(AC.NAMESPACES))
def test_names_marked_done_exist_in_chainrule(ns):
    done = [n for n, row in DATA["namespaces"][ns].items() if row["status"] == "done"]
    cr_obj = AC.resolve(AC.NAMESPACES[ns])
    assert cr_obj is not None or not done, f"{AC.NAMESPACES[ns]} is gone, the table marks {len(done)} names done"
    gone = [n for n in done if not AC.has_name(cr_obj, n)]
    assert not gone, f"{ns}: marked done in the coverage table but missing from {AC.NAMESPACES[ns]}: {gone}"


def test_has_name_sees_a_removed_name(monkeypatch):
    # the check above can fail: a done name that is taken away is reported
    import chainrule.nn.functional as F

    assert AC.has_name(F, "relu")
    monkeypatch.delattr(F, "relu")
    assert not AC.has_name(F, "relu")


def test_markdown_page_is_the_rendering_of_the_json():
    assert AC.MD_PATH.read_text() == AC.render_markdown(DATA), "run scripts/api_coverage.py"


def test_rules_file_parses_and_every_rule_is_used():
    rules = AC.load_rules()
    assert rules
    used = {row["reason"] for table in DATA["namespaces"].values() for row in table.values() if row["reason"]}
    unused = {r for *_, r in rules} - used
    assert not unused, f"rules that classify no name (stale?): {unused}"


def test_counts_and_percentages():
    statuses = ["done", "missing", "out of scope", "done"]
    table = {str(i): {"status": s} for i, s in enumerate(statuses)}
    assert AC.counts(table) == (2, 1, 1)
    assert AC.percent_done(table) == pytest.approx(200 / 3)


def test_committed_table_is_up_to_date_with_pytorch():
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != DATA["torch_version"]:
        pytest.skip(f"table made from PyTorch {DATA['torch_version']}, installed {torch.__version__}")
    fresh = AC.generate()
    stale = {}
    for ns in AC.NAMESPACES:
        new, old = fresh["namespaces"][ns], DATA["namespaces"][ns]
        diff = [n for n in sorted(set(new) | set(old)) if new.get(n) != old.get(n)]
        if diff:
            stale[ns] = {n: (old.get(n, {}).get("status"), new.get(n, {}).get("status")) for n in diff}
    assert not stale, f"run scripts/api_coverage.py: {stale}"
