"""trace tables (forward/reverse columns) and DOT output, on graphs with hand-known derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def t64(a, requires_grad=False, name=None) -> cr.Tensor:
    t = cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)
    if name:
        t.name = name
    return t


def test_reverse_adjoints_equal_backward_and_graph_survives():
    # L = sum(w * x)^2 with shared use: s = sum(w·x), L = s·s;  dL/dw = 2 s x
    w = t64([1.0, -2.0, 0.5], True, "w")
    x = t64([3.0, 1.0, 2.0])
    s = (w * x).sum()
    s.name = "s"
    L = s * s
    table = cr.trace(L, [w])
    assert [r["label"] for r in table.rows] == ["w", "mul1", "s", "mul3"]
    sval = float(np.dot(w.data, x.data))  # 2
    np.testing.assert_allclose(table["w"]["adjoint"], 2 * sval * x.data)
    assert float(table["s"]["adjoint"]) == 2 * sval  # d(s²)/ds
    # s is used twice by the last mul: both local partials are s, the second labelled by its position
    assert table["mul3"]["partials"].keys() == {"s", "s#1"}
    assert float(table["mul3"]["partials"]["s"]) == float(table["mul3"]["partials"]["s#1"]) == sval
    # elementwise partials d(w·x)/dw = x; one-element output sum: d s / d(w·x) = ones
    np.testing.assert_array_equal(table["mul1"]["partials"]["w"], x.data)
    np.testing.assert_array_equal(table["s"]["partials"]["mul1"], np.ones(3))
    L.backward()  # the graph is intact
    np.testing.assert_allclose(w.grad.numpy(), 2 * sval * x.data)


def test_forward_tangents_along_a_direction():
    # y = sin(x) * x: dy = (cos x · x + sin x) v
    x = t64([0.3, 1.0], True, "x")
    y = x.sin() * x
    y.name = "y"
    v = np.array([1.0, -2.0])
    table = cr.trace(y, [x], mode="forward", direction=v)
    assert table["x"]["adjoint"] is None
    np.testing.assert_allclose(table["y"]["tangent"], (np.cos(x.data) * x.data + np.sin(x.data)) * v)
    np.testing.assert_allclose(table["x"]["tangent"], v)
    with pytest.raises(ValueError, match="direction"):
        cr.trace(y, [x], mode="forward", direction=[1.0])


def test_trace_from_an_intermediate_and_second_input_gets_zero_tangent():
    a, b, c = t64(2.0, True, "a"), t64(5.0, True, "b"), t64(0.5, True, "c")
    h = a * b
    h.name = "h"
    out = h.exp() * c
    out.name = "out"
    table = cr.trace(out, [h, c, b], mode="both")  # h treated as a source: b is behind it, no row
    assert [r["label"] for r in table.rows] == ["h", "c", "exp2", "out"]
    assert float(table["out"]["tangent"]) == pytest.approx(0.5 * np.exp(10.0))  # d(c e^h)/dh
    assert float(table["c"]["tangent"]) == 0.0
    assert float(table["h"]["adjoint"]) == pytest.approx(0.5 * np.exp(10.0))
    assert float(table["c"]["adjoint"]) == pytest.approx(np.exp(10.0))  # d(c e^h)/dc


def test_table_text_and_markdown():
    x = t64(2.0, True, "x")
    y = x * x
    y.name = "y"
    table = cr.trace(y, [x], mode="both")
    text = str(table).splitlines()
    assert text[0].split() == ["node", "op", "parents", "value", "local", "partials", "tangent", "d·/dx",
                               "adjoint", "dL/d·"]
    assert text[3].split()[:4] == ["y", "mul", "x,", "x"]
    assert "4" in text[3] and "∂/∂x=2, ∂/∂x#1=2" in text[3]  # d(x·x)/dx per operand = x = 2
    md = table.to_markdown().splitlines()
    assert md[0].startswith("| node | op |") and md[1].startswith("| --- |") and len(md) == 4
    assert len(table) == 2 and table[1] is table["y"]
    with pytest.raises(KeyError):
        table["nope"]


def test_matrix_values_show_their_shape_and_pow_partials_per_argument():
    # y = a ** a (both operands the same tensor): ∂y/∂base = a·a^(a-1), ∂y/∂exponent = a^a log a
    a = t64([[1.5, 2.0], [0.5, 1.2]], True, "a")
    y = a**a
    y.name = "y"
    table = cr.trace(y, [a])
    av = a.data
    np.testing.assert_allclose(table["y"]["partials"]["a"], av * av ** (av - 1))
    np.testing.assert_allclose(table["y"]["partials"]["a#1"], av**av * np.log(av))
    np.testing.assert_allclose(table["a"]["adjoint"], av ** av * (1 + np.log(av)))  # d(a^a)/da
    assert "(2x2)" in str(table).splitlines()[2]


def test_trace_errors():
    x = t64([1.0], True)
    y = x * 2
    with pytest.raises(ValueError, match="mode"):
        cr.trace(y, [x], mode="sideways")
    with pytest.raises(ValueError, match="does not depend"):
        cr.trace(y, [t64([1.0], True)])
    y.sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        cr.trace(y, [x])


def test_to_dot_nodes_and_edges():
    W = t64([[1.0, 2.0]], True, "W")
    x = t64([[3.0], [4.0]])
    out = (W @ x).tanh()
    out.name = "out"
    dot = cr.to_dot(out)
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    lines = dot.splitlines()
    node_of = {}
    for ln in lines:
        if "[label=" in ln:
            node_of[ln.split()[0]] = ln
    assert len(node_of) == 4  # out (tanh), matmul, W, x
    assert any("out\\ntanh\\n(1, 1) float64" in v for v in node_of.values())
    assert any("W\\nleaf\\n(1, 2)" in v and "lightblue" in v for v in node_of.values())
    assert any("const\\n(2, 1)" in v for v in node_of.values())
    edges = [ln.strip().rstrip(";").split(" -> ") for ln in lines if "->" in ln]
    assert len(edges) == 3
    name = {k: v for k, v in node_of.items()}
    mm = next(k for k, v in name.items() if "matmul" in v)
    assert [mm, next(k for k, v in name.items() if "tanh" in v)] in edges
    assert [next(k for k, v in name.items() if "W\\n" in v), mm] in edges
