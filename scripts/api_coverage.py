"""Generate the PyTorch API coverage table (issue 12 item 7).

    python scripts/api_coverage.py            # regenerate docs/reference/api-coverage.{json,md}
    python scripts/api_coverage.py --check    # exit 1 when the committed files are out of date

With PyTorch installed, the names come from PyTorch itself: the public names of each namespace
below (``dir()`` without a leading underscore, sub-modules and ``typing`` helpers left out; for
``torch`` the functions only, for ``torch.Tensor`` every public attribute). Each name is
classified with ``scripts/api_coverage_rules.txt``: **missing** when a "missing" rule matches
(chainrule has the spelling with another meaning), else **done** when chainrule's counterpart
has the attribute, else **out of scope** when an "out" rule matches (its reason is printed),
else **missing**.

The JSON snapshot is committed, so the Markdown page (rendered from it) and the test that every
name marked done still exists need no PyTorch.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "scripts" / "api_coverage_rules.txt"
JSON_PATH = ROOT / "docs" / "reference" / "api-coverage.json"
MD_PATH = ROOT / "docs" / "reference" / "api-coverage.md"

# PyTorch namespace -> chainrule object that plays its part.
NAMESPACES: dict[str, str] = {
    "torch": "chainrule",
    "torch (classes)": "chainrule",
    "torch.Tensor": "chainrule.Tensor",
    "torch.nn.Module": "chainrule.nn.Module",
    "torch.optim.Optimizer": "chainrule.optim.Optimizer",
    "torch.nn": "chainrule.nn",
    "torch.nn.functional": "chainrule.nn.functional",
    "torch.nn.init": "chainrule.nn.init",
    "torch.nn.utils": "chainrule.nn.utils",
    "torch.nn.utils.parametrize": "chainrule.nn.utils.parametrize",
    "torch.nn.utils.parametrizations": "chainrule.nn.utils.parametrizations",
    "torch.nn.utils.prune": "chainrule.nn.utils.prune",
    "torch.optim": "chainrule.optim",
    "torch.optim.lr_scheduler": "chainrule.optim.lr_scheduler",
    "torch.optim.swa_utils": "chainrule.optim.swa_utils",
    "torch.utils.data": "chainrule.utils.data",
    "torch.autograd": "chainrule.autograd",
    "torch.autograd.functional": "chainrule.autograd.functional",
    "torch.autograd.graph": "chainrule.autograd.graph",
    "torch.func": "chainrule.func",
    "torch.compiler": "chainrule.compiler",
    "torch.jit": "chainrule.jit",
    "torch.testing": "chainrule.testing",
    "torch.linalg": "chainrule.linalg",
    "torch.special": "chainrule.special",
    "torch.distributions": "chainrule.distributions",
    "torch.random": "chainrule.random",
    "torch.cpu": "chainrule.cpu",
    "torch.cuda": "chainrule.cuda",
    "torch.cuda.nvtx": "chainrule.cuda.nvtx",
    "torch.nn.attention": "chainrule.nn.attention",
    "torch.nn.parallel": "chainrule.nn.parallel",
    "torch.nn.attention.bias": "chainrule.nn.attention.bias",
    "torch.utils.hooks": "chainrule.utils.hooks",
    "torch.utils.benchmark": "chainrule.utils.benchmark",
    "torch.multiprocessing": "chainrule.multiprocessing",
    "torch.profiler": "chainrule.profiler",
}

# The namespaces the 90 % target is about.
TARGETS = ("torch.Tensor", "torch", "torch.nn", "torch.nn.functional", "torch.optim")


def resolve(dotted: str) -> Any:
    """Import ``a.b.C`` (module path, then attributes); None when it does not exist.  A table's
    name after a space (``torch (classes)``) is a part of the namespace before it."""
    parts = dotted.split(" ")[0].split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for p in parts[cut:]:
            obj = getattr(obj, p, None)
            if obj is None:
                return None
        return obj
    return None


def load_rules(path: Path = RULES) -> list[tuple[re.Pattern[str], re.Pattern[str], str, str]]:
    """Rules: ``namespace-regex | name-regex | out|missing | reason`` per line (fields split on " | "); # comments."""
    rules = []
    for ln, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(" | ")]  # (regexes use a bare "|")
        if len(fields) != 4 or fields[2] not in ("out", "missing"):
            raise ValueError(f"{path.name}:{ln}: expected 'namespace | name | out|missing | reason', got {line!r}")
        # (?:...) so that \Z ends every alternative, not only the last one ("H|mH" must not match "HalfNormal")
        ns_re, name_re = (re.compile("(?:" + f + r")\Z") for f in fields[:2])
        rules.append((ns_re, name_re, fields[2], fields[3]))
    return rules


def torch_names(ns: str) -> list[str]:
    """PyTorch's public names of one namespace (needs torch)."""
    obj = resolve(ns)
    names = []
    for n in dir(obj):
        if n.startswith("_"):
            continue
        try:
            v = getattr(obj, n)
        except Exception:  # a property that cannot be read from the class
            v = None
        if inspect.ismodule(v):
            continue  # sub-modules are namespaces of their own, or out of scope as a whole
        if getattr(v, "__module__", "") in ("typing", "typing_extensions", "collections.abc"):
            continue  # annotations imported by the module, not its API
        if ns == "torch" and (not callable(v) or inspect.isclass(v)):
            continue  # torch: the functions (its classes are a table of their own)
        if ns == "torch (classes)" and not inspect.isclass(v):
            continue
        names.append(n)
    return sorted(names)


def has_name(cr_obj: Any, name: str) -> bool:
    try:
        return getattr(cr_obj, name, None) is not None
    except Exception:
        return False


def classify(ns: str, names: list[str], rules: list) -> dict[str, dict[str, str]]:
    cr_obj = resolve(NAMESPACES[ns])
    out: dict[str, dict[str, str]] = {}
    for n in names:
        rule = [(k, r) for nsre, namere, k, r in rules if nsre.match(ns) and namere.match(n)]
        forced = [r for k, r in rule if k == "missing"]
        if forced:  # chainrule has the spelling with another meaning
            out[n] = {"status": "missing", "reason": forced[0]}
        elif cr_obj is not None and has_name(cr_obj, n):
            out[n] = {"status": "done", "reason": ""}
        elif rule:
            out[n] = {"status": "out of scope", "reason": rule[0][1]}
        else:
            out[n] = {"status": "missing", "reason": ""}
    return out


def generate() -> dict[str, Any]:
    import torch  # the oracle; chainrule never imports it

    rules = load_rules()
    return {
        "torch_version": torch.__version__.split("+")[0],
        "namespaces": {ns: classify(ns, torch_names(ns), rules) for ns in NAMESPACES},
    }


def counts(table: dict[str, dict[str, str]]) -> tuple[int, int, int]:
    st = [v["status"] for v in table.values()]
    return st.count("done"), st.count("missing"), st.count("out of scope")


def percent_done(table: dict[str, dict[str, str]]) -> float:
    d, m, _ = counts(table)
    return 100.0 * d / (d + m) if d + m else 100.0


def render_markdown(data: dict[str, Any]) -> str:
    """The docs page, from the JSON snapshot alone."""
    L = [
        "# PyTorch API coverage",
        "",
        "Generated by `scripts/api_coverage.py` from PyTorch "
        f"{data['torch_version']}'s public names and chainrule's; do not edit by hand. Every name is",
        "**done** (chainrule has it with PyTorch's meaning), **missing**, or **out of scope** with the",
        "reason (the rules are in `scripts/api_coverage_rules.txt`). `tests/test_api_coverage.py` fails",
        "when a name marked done disappears, and (with PyTorch installed) when this page is out of date;",
        "`tests/test_torch_oracle.py` compares the done tensor functions with PyTorch's values and",
        "gradients. For `torch` the first table lists the functions and `torch (classes)` its classes;",
        "sub-modules are left out (the ones programs use are namespaces of their own below).",
        "See also [Porting from PyTorch](../how-to/porting.md).",
        "",
        "| namespace | done | missing | out of scope | done / in scope |",
        "|---|---:|---:|---:|---:|",
    ]
    for ns, table in data["namespaces"].items():
        d, m, o = counts(table)
        L.append(f"| [`{ns}`](#{_anchor(ns)}) | {d} | {m} | {o} | {percent_done(table):.0f}% |")
    for ns, table in data["namespaces"].items():
        d, m, o = counts(table)
        L += ["", f"## {ns}", "", f"{d} done, {m} missing, {o} out of scope.", ""]
        for status in ("missing", "out of scope", "done"):
            rows = [(n, v["reason"]) for n, v in table.items() if v["status"] == status]
            if not rows:
                continue
            if status == "done":
                L += [f"**Done** ({len(rows)}): " + ", ".join(f"`{n}`" for n, _ in rows), ""]
                continue
            L += [f"**{status.capitalize()}** ({len(rows)}):", "", "| name | reason |", "|---|---|"]
            L += [f"| `{n}` | {r} |" for n, r in rows]
            L.append("")
    return "\n".join(L).rstrip() + "\n"


def _anchor(ns: str) -> str:
    """The anchor MkDocs gives the heading ``ns`` (dots and brackets dropped, spaces as hyphens)."""
    return re.sub(r"[^a-z0-9 _-]", "", ns.lower()).replace(" ", "-")


def dump_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args(argv)
    data = generate()
    js, md = dump_json(data), render_markdown(data)
    if args.check:
        ok = JSON_PATH.read_text() == js and MD_PATH.read_text() == md
        print("api coverage up to date" if ok else "api coverage out of date: run scripts/api_coverage.py")
        return 0 if ok else 1
    JSON_PATH.write_text(js)
    MD_PATH.write_text(md)
    for ns in TARGETS:
        print(f"{ns:24s} {counts(data['namespaces'][ns])}  {percent_done(data['namespaces'][ns]):.1f}%")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
