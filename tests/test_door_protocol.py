"""One door for every array operation (issue 11, items 1 and 2).

* every primitive's ``forward`` receives the back-end table: ``forward(self, m, *xs)``;
* every recording path (``apply``, ``apply1``, ``apply2``, the operator and method closures,
  the forward-mode/anomaly path, the non-differentiable ``kernel`` ops) hands ``forward`` the
  table that ``table_of`` chooses, so replacing that table is seen by every operation;
* the node-recording block exists once (the template the recording functions are made from);
* no NumPy array call comes back into the scanned packages (an AST scan, with the allowed
  names and the files still being converted listed below and in HACKING.md).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import primitive
from chainrule.autograd.primitive import Primitive, apply, apply1, apply2
from chainrule.backend import ArrayMath

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the NumPy scan
# Directories whose code must reach arrays through the back-end table (with their subfolders).
SCANNED_DIRS = ("chainrule/ops", "chainrule/autograd", "chainrule/nn", "chainrule/optim")

# np.<name> that is not array computation: dtypes and scalar types (for isinstance and dtype
# arguments), dtype arithmetic, host-side shape arithmetic, constants, and NumPy's
# floating-point error state.
ALLOWED = frozenset(
    """dtype ndarray number integer floating bool_ generic signedinteger unsignedinteger complexfloating
    inexact float16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 intp complex64
    complex128 promote_types result_type finfo iinfo can_cast issubdtype broadcast_shapes errstate
    pi e inf nan newaxis""".split()
)

# Files that keep some np.<function> calls for good, because that code prepares data on the
# host (before it reaches any device) and cannot run on a device's arrays: path -> (the number
# of references, why).  HACKING.md lists the same exceptions.
HOST_SIDE: dict[str, tuple[int, str]] = {
    "chainrule/autograd/tensor.py": (1, "Tensor.__repr__ formats the values on the host (np.array2string)"),
}


def numpy_references(source: str) -> list[tuple[int, str]]:
    """(line, name) of every ``np.name`` / ``numpy.name`` whose name is not in ALLOWED (calls,
    and also functions passed around uncalled, such as ``staticmethod(np.exp)``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("np", "numpy")
            and node.attr not in ALLOWED
        ):
            found.append((node.lineno, node.attr))
    return sorted(found)


def test_the_scan_sees_calls_references_and_submodules():
    src = "import numpy as np\nx = np.exp(a)\nf = staticmethod(np.tanh)\nnp.add.at(o, i, g)\ny = np.float32(1)\n"
    assert numpy_references(src) == [(2, "exp"), (3, "tanh"), (4, "add")]


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for d in SCANNED_DIRS for p in (ROOT / d).rglob("*.py"))
)
def test_no_numpy_array_calls_outside_the_back_end(path):
    refs = numpy_references((ROOT / path).read_text())
    allowed = HOST_SIDE.get(path, (0, ""))[0]
    assert len(refs) <= allowed, (
        f"{path}: {len(refs)} np.<function> references (at most {allowed} allowed); array work above "
        f"backend/ goes through the table m (forward(self, m, ...)) or table_of(inputs): "
        f"{refs[:12]}"
    )


# ---------------------------------------------------------------- the protocol
def _all_primitive_classes() -> list[type]:
    for pkg in (cr, cr.nn):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if "distributed" not in info.name:
                importlib.import_module(info.name)
    seen: list[type] = []
    todo = [Primitive]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


def test_every_primitive_forward_takes_the_table_first():
    classes = _all_primitive_classes()
    assert len(classes) > 80  # the scan found the library's primitives
    wrong = []
    for cls in classes:
        params = list(inspect.signature(cls.forward).parameters)
        if params[:2] != ["self", "m"]:
            wrong.append(f"{cls.__module__}.{cls.__qualname__}{params}")
    assert not wrong, "forward must be forward(self, m, *xs): " + ", ".join(wrong)


class _Spy(ArrayMath):
    """A table that notes which entries the forward rules use."""

    used: list = []

    @staticmethod
    def exp(x):
        _Spy.used.append("exp")
        return np.exp(x)

    @staticmethod
    def greater(a, b):
        _Spy.used.append("greater")
        return np.greater(a, b)

    @staticmethod
    def argmax(x, axis=None, keepdims=False):
        _Spy.used.append("argmax")
        return ArrayMath.argmax(x, axis, keepdims)


class _Seen(Primitive):
    """y = 2x, noting the table it was given."""

    name = "seen"
    tables: list = []

    def forward(self, m, *xs):
        _Seen.tables.append(m)
        return xs[0] * 2

    def vjp(self, m, need, g, y, *xs):
        return (g * 2,) + (None,) * (len(xs) - 1)

    def jvp(self, m, dxs, y, *xs):
        return dxs[0] * 2


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setattr(primitive, "TABLE", _Spy)
    _Spy.used = []
    _Seen.tables = []
    return _Spy


def test_every_recording_path_hands_forward_the_chosen_table(spy):
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = cr.tensor([1.0, 2.0, 3.0])
    op = _Seen()
    apply(op, x, y)
    apply1(op, x)
    apply2(op, x, y)
    assert _Seen.tables == [spy, spy, spy]
    assert primitive.table_of((x._array,)) is spy

    cr.exp(x)  # the function (apply1)
    _ = x > 0  # a comparison: a Kernel through apply
    cr.argmax(x)  # argmax: a Kernel through apply
    assert spy.used == ["exp", "greater", "argmax"]


    with cr.autograd.forward_ad.dual_level():  # the forward-mode path
        d = cr.autograd.forward_ad.make_dual(x.detach(), cr.ones(3))
        out = apply1(op, d)
        np.testing.assert_allclose(cr.autograd.forward_ad.unpack_dual(out).tangent.numpy(), [2.0, 2.0, 2.0])
    assert _Seen.tables[-1] is spy


@pytest.mark.parametrize("method,entry", [("exp", "exp"), ("tanh", "tanh"), ("__mul__", "multiply"),
                                          ("__add__", "add"), ("__sub__", "subtract")])
def test_operator_closures_call_the_cpu_tables_own_entry(method, entry):
    """The closures of ops that are one table entry (Primitive.entry) call that entry of the CPU
    table, resolved once when they are made: still the table's function, one frame fewer."""
    fn = getattr(cr.Tensor, method)
    cells = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))
    assert cells["fwd"] is getattr(ArrayMath, entry)


def test_a_non_differentiable_primitive_records_nothing_on_any_path():
    """apply1/apply2 (and the operator closures made from the same template) used to record
    a node for any op whose input required grad, even one with ``differentiable = False``;
    backward then failed inside its missing vjp."""

    class Floor2(Primitive):
        name = "floor2"
        differentiable = False

        def forward(self, m, *xs):
            return m.floor(xs[0])

    x = cr.tensor([0.5, 1.5], requires_grad=True)
    for out in (apply(Floor2(), x), apply1(Floor2(), x), apply2(Floor2(), x, x)):
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), [0.0, 1.0])


def test_kernel_ops_give_what_numpy_gives_and_never_require_grad():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    x = cr.tensor(a, requires_grad=True)
    for got, want in [
        (cr.argmax(x, 1), np.argmax(a, 1)),
        (cr.argmin(x), np.argmin(a)),
        (x > 0, a > 0),
        (x <= 0.25, a <= 0.25),
        (cr.logical_not(x > 0), ~(a > 0)),
        ((x > 0).any(1), (a > 0).any(1)),
        ((x > -5).all(), np.all(a > -5)),
    ]:
        assert not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), want)
    assert cr.argmax(x).dtype == cr.int64


def test_the_recording_block_is_written_once():
    src = inspect.getsource(primitive)
    # the template (for apply, apply1, apply2 and the operator/method closures) and the slow
    # path for forward mode and anomaly checks: no other hand-written copies
    assert src.count("out._clk = _TICK()") == 2
    for fn in (apply, apply1, apply2, cr.Tensor.__mul__, cr.Tensor.__add__, cr.Tensor.exp, cr.Tensor.tanh):
        assert fn.__code__.co_filename.startswith("<chainrule."), fn


def test_comparing_with_none_is_pythons_answer_as_in_pytorch():
    """Comparisons now lift their operand before the Kernel; None (or a string) is not an
    operand, so the comparison answers NotImplemented and Python decides, as for torch."""
    x = cr.tensor([1.0, 2.0])
    assert (x == None) is False  # noqa: E711  (the comparison itself is under test)
    assert (x != None) is True  # noqa: E711
    with pytest.raises(TypeError):
        _ = x < None
    torch = pytest.importorskip("torch")
    assert (torch.tensor([1.0, 2.0]) == None) is False  # noqa: E711  (the oracle agrees)
