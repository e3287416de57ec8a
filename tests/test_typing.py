"""Type information that works for users (issue 16, item 4).

A small user program (tensors, ``cr.randn``, ``Tensor.sum/mean/backward/item``,
``nn.Sequential/Linear/ReLU``, a custom ``nn.Module``, ``optim.Adam``, a
``DataLoader`` over a ``TensorDataset``) must pass ``mypy --strict`` and its
``reveal_type`` notes must show real types (``Tensor``, not ``Any``); and
``mypy chainrule`` (configured in pyproject.toml) must report no errors.

The program is also run, so that it is a real program and not only a typing exercise.
The two mypy runs go in parallel (each reads the whole package, ~20 s on one core).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "chainrule" / "autograd" / "_tensor_methods.pyi"

USER_PROGRAM = textwrap.dedent(
    """
    from typing import TYPE_CHECKING

    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.utils.data import DataLoader, TensorDataset


    class TwoLayer(nn.Module):
        def __init__(self, d_in: int, d_hidden: int) -> None:
            super().__init__()
            self.fc1 = nn.Linear(d_in, d_hidden)
            self.fc2 = nn.Linear(d_hidden, 1)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.fc2(self.fc1(x).relu())


    def train(model: nn.Module, loader: DataLoader, epochs: int) -> float:
        opt = optim.Adam(model.parameters(), lr=1e-2)
        loss_fn = nn.MSELoss()
        total = 0.0
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item()
        return total


    cr.manual_seed(0)
    x = cr.randn(32, 3)
    y = (x * x).sum(dim=1, keepdim=True) - x.mean() + 1.0
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    seq = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    custom = TwoLayer(3, 8)
    out = seq(x)
    total = train(seq, loader, 2) + train(custom, loader, 2)
    w = cr.zeros(3, requires_grad=True)
    z = (x @ w).tanh().sum()
    z.backward()
    g = w.grad
    assert g is not None and g.shape == (3,)
    assert out.shape == (32, 1) and total == total

    if TYPE_CHECKING:
        reveal_type(x)
        reveal_type(out)
        reveal_type(custom(x))
        reveal_type(nn.Linear(3, 2)(x))
        reveal_type(x.sum())
        reveal_type(x.mean(dim=0))
        reveal_type(x @ w)
        reveal_type(x + 1.0)
        reveal_type(2.0 * x)
        reveal_type(x[0])
        reveal_type(x.T)
        reveal_type(z.item())
        reveal_type(z.backward())
        reveal_type(w.grad)
        reveal_type(cr.exp(x))
        reveal_type(nn.functional.relu(x))
    """
)

# what each reveal_type above must show, in order
EXPECTED = [
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "Tensor",
    "int | float",  # int | float | bool, as mypy writes it (bool is an int)
    "None",
    "Tensor | None",
    "Tensor",
    "Tensor",
]


def _mypy(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, MYPYPATH=str(ROOT), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "mypy", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _short(name: str) -> str:
    """'chainrule.autograd.tensor.Tensor' -> 'Tensor' (also inside unions)."""
    return re.sub(r"[\w.]*\.(\w+)", r"\1", name)


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    pytest.importorskip("mypy")
    tmp = tmp_path_factory.mktemp("typing")
    (tmp / "user_program.py").write_text(USER_PROGRAM)
    # --follow-imports=silent: chainrule's own modules are read for their types but their
    # messages are not shown, as for an installed package (the package has its own run below)
    user = _mypy(
        ["--strict", "--follow-imports=silent", "--no-incremental", "--cache-dir=/dev/null", "user_program.py"],
        tmp,
    )
    package = _mypy(["--no-incremental", "--cache-dir=/dev/null", "chainrule"], ROOT)
    out = {}
    for key, proc in (("user", user), ("package", package)):
        stdout, _ = proc.communicate(timeout=300)
        out[key] = (proc.returncode, stdout)
    return out


def test_user_program_type_checks_strictly(mypy_results: dict[str, tuple[int, str]]) -> None:
    rc, text = mypy_results["user"]
    errors = [line for line in text.splitlines() if ": error:" in line]
    assert errors == [], text
    assert rc == 0, text


def test_user_program_sees_real_types(mypy_results: dict[str, tuple[int, str]]) -> None:
    _, text = mypy_results["user"]
    revealed = [_short(m) for m in re.findall(r'Revealed type is "(.*)"', text)]
    assert revealed == EXPECTED, text


def test_mypy_on_the_package_reports_no_errors(mypy_results: dict[str, tuple[int, str]]) -> None:
    rc, text = mypy_results["package"]
    assert rc == 0 and "Success" in text, text


def test_user_program_runs(tmp_path: Path) -> None:
    (tmp_path / "user_program.py").write_text(USER_PROGRAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "user_program.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def _stub_members() -> tuple[set[str], set[str]]:
    """Names the typing stub declares on TensorMethods: (methods, properties)."""
    tree = ast.parse(STUB.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TensorMethods")
    methods, props = set(), set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            decos = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            (props if "property" in decos else methods).add(node.name)
    return methods, props


def test_stub_declares_every_method_attached_at_import() -> None:
    """The stub and ops/methods.py must not drift apart: each attached name is declared, and
    each declared name exists on Tensor at run time."""
    from chainrule.autograd.tensor import Tensor
    from chainrule.ops import methods

    declared, props = _stub_members()
    attached = set(methods._BINDINGS)
    assert attached - declared - props == set(), "attached by ops/methods.py but missing from the stub"
    assert {"T", "mT"} <= props
    for name in declared | props:
        assert hasattr(Tensor, name), f"the stub declares Tensor.{name}, which does not exist"


PACKAGES = [
    "chainrule",
    "chainrule.autograd",
    "chainrule.backend",
    "chainrule.backends",
    "chainrule.cuda",
    "chainrule.data",
    "chainrule.nn",
    "chainrule.nn.functional",
    "chainrule.nn.utils",
    "chainrule.ops",
    "chainrule.optim",
    "chainrule.text",
    "chainrule.train",
    "chainrule.utils.data",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_lists_its_public_names_in_all(name: str) -> None:
    """mypy --strict only sees names listed in ``__all__`` (or imported ``as`` themselves) as exported,
    so a name imported into a package's __init__ but left out of ``__all__`` is invisible to users' checks."""
    import importlib
    import types

    import numpy as np

    mod = importlib.import_module(name)
    exported = getattr(mod, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__ list"
    public = {n for n, v in vars(mod).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    if name == "chainrule":  # the dtype names (cr.float32, cr.bool...) are defined there, visible without __all__
        public = {n for n in public if not isinstance(getattr(mod, n), np.dtype)}
    assert sorted(public - set(exported)) == []
    assert sorted(n for n in exported if not hasattr(mod, n)) == []
