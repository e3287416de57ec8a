"""docs/how-to/porting.md: its API coverage table matches both libraries, and its weight-moving
example gives PyTorch the same network (PyTorch as the oracle)."""

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "how-to" / "porting.md"


def _table():
    """(torch module, chainrule module, names in both, stated count, PyTorch's count, only in chainrule)."""
    rows = []
    for line in PAGE.read_text().split("## API coverage", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        names = lambda cell: re.findall(r"`([^`]+)`", cell)
        n_both, n_torch = map(int, re.fullmatch(r"(\d+) of (\d+)", cells[3]).groups())
        rows.append((cells[0].strip("`"), cells[1].strip("`"), names(cells[2]), n_both, n_torch, names(cells[4])))
    return rows


def test_the_table_has_every_namespace_and_counts_its_names():
    rows = _table()
    assert {r[1] for r in rows} >= {"chainrule", "chainrule.nn", "chainrule.nn.functional", "chainrule.optim",
                                   "chainrule.optim.lr_scheduler", "chainrule.utils.data", "chainrule.func"}
    for torch_name, _, both, n_both, n_torch, _ in rows:
        assert len(both) == n_both <= n_torch, torch_name


def test_every_name_of_the_table_is_in_chainrule():
    for _, cr_name, both, _, _, only in _table():
        mod = importlib.import_module(cr_name)
        missing = [n for n in both + only if not hasattr(mod, n)]
        assert not missing, f"{cr_name} lacks {missing}"


def test_the_table_agrees_with_pytorch():
    pytest.importorskip("torch")
    for torch_name, _, both, _, _, only in _table():
        mod = importlib.import_module(torch_name)
        assert not [n for n in both if not hasattr(mod, n)], torch_name
        assert not [n for n in only if hasattr(mod, n)], torch_name  # "only in chainrule" really is


def test_moving_weights_to_pytorch_gives_the_same_network(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors.torch")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text().split("## From chainrule to PyTorch", 1)[1],
                        re.S | re.M)
    ns: dict = {}
    exec(blocks[0], ns)  # chainrule: build, save
    exec(blocks[1], ns)  # PyTorch: load into the twin
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ours = ns["model"](ns["cr"].tensor(x)).data
    with torch.no_grad():
        theirs = ns["twin"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
