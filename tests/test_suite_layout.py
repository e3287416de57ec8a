"""The test suite's own layout: rules whose breach makes tests silently stop running."""

from __future__ import annotations

import re
from pathlib import Path

_SKIP_MODULE = re.compile(r"^(\w+\s*=\s*)?pytest\.importorskip\(")


def test_no_module_skips_its_tests_above_an_importorskip():
    """A module-level ``pytest.importorskip`` skips the whole module, the tests above it too:
    where PyTorch is missing (as in CI) they would never run.  Oracle tests below the others
    take PyTorch through a fixture instead, which skips only them."""
    offenders = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        seen_test = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith(("def test_", "class Test")):
                seen_test = True
            elif seen_test and _SKIP_MODULE.match(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "module-level importorskip after tests:\n" + "\n".join(offenders)
