"""The lecture notes' worked derivative examples, run through chainrule.

Expected numbers are the notes' own (002: f = (x + y) z; 003: the forward-
and backward-mode tables of the logistic loss) or closed-form derivatives
derived by hand next to each assertion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd import forward_ad as fwAD


def scalar(v: float, requires_grad: bool = False, name: str | None = None) -> cr.Tensor:
    t = cr.tensor(v, dtype=cr.float64, requires_grad=requires_grad)
    if name:
        t.name = name
    return t


# ---------------------------------------------------------------- notes 002: f = (x + y) z
def test_simple_circuit_values_and_gradients():
    x, y, z = scalar(-2.0, True, "x"), scalar(5.0, True, "y"), scalar(-4.0, True, "z")
    q = x + y
    q.name = "q"
    f = q * z
    f.name = "f"
    assert q.item() == 3.0 and f.item() == -12.0
    f.backward()
    assert x.grad.item() == -4.0  # df/dx = z
    assert y.grad.item() == -4.0  # df/dy = z
    assert z.grad.item() == 3.0  # df/dz = q = x + y


def test_simple_circuit_trace_rows():
    x, y, z = scalar(-2.0, True, "x"), scalar(5.0, True, "y"), scalar(-4.0, True, "z")
    q = x + y
    q.name = "q"
    f = q * z
    f.name = "f"
    table = cr.trace(f, [x, y, z])
    assert [r["label"] for r in table.rows] == ["x", "y", "z", "q", "f"]
    assert table["q"]["value"] == 3.0 and table["f"]["value"] == -12.0
    # local partials: dq/dx = dq/dy = 1; df/dq = z = -4, df/dz = q = 3
    assert table["q"]["partials"] == {"x": 1.0, "y": 1.0}
    assert table["f"]["partials"] == {"q": -4.0, "z": 3.0}
    # adjoints df/dnode: f: 1, q: z = -4, x and y: -4, z: q = 3
    adj = {r["label"]: float(r["adjoint"]) for r in table.rows}
    assert adj == {"x": -4.0, "y": -4.0, "z": 3.0, "q": -4.0, "f": 1.0}
    # building the table ran no backward: the graph is intact and no .grad was set
    assert x.grad is None
    f.backward()
    assert z.grad.item() == 3.0


# ---------------------------------------------------------------- notes 003: J = cos(sin(x²) + 3x²)
@pytest.mark.parametrize("x0", [-1.3, 0.2, 0.7, 2.0])
def test_cos_sin_example_against_closed_form(x0):
    def J(x):
        t = x * x
        return (t.sin() + 3 * t).cos()

    u = math.sin(x0**2) + 3 * x0**2
    expected = -math.sin(u) * (2 * x0 * math.cos(x0**2) + 6 * x0)  # dJ/dx = -sin(u) du/dx
    x = scalar(x0, True)
    J(x).backward()
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)
    # forward mode gives the same number
    _, dj = func.jvp(J, (scalar(x0),), (scalar(1.0),))
    assert dj.item() == pytest.approx(expected, rel=1e-12)
    assert func.grad(J)(scalar(x0)).item() == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- notes 003: logistic loss tables
E9 = math.exp(-9.0)
DL_DW = -3 * E9 / (1 + E9)  # L = log(1 + e^{-WX}), dL/dW = -X e^{-WX}/(1 + e^{-WX}); |.| = 0.00037018372


def logistic_chain(W: cr.Tensor) -> dict:
    """The notes' chain xi1..xi5 with X = 3, y = 1 (xi1 = -W X is one node: W times the constant -X)."""
    X, y = scalar(3.0), scalar(1.0)
    nodes = {"W": W}
    nodes["xi1"] = W * (-X)
    nodes["xi2"] = nodes["xi1"].exp()
    nodes["xi3"] = 1 + nodes["xi2"]
    nodes["xi4"] = 1 / nodes["xi3"]
    nodes["xi5"] = nodes["xi4"].log()
    nodes["L"] = -y * nodes["xi5"]
    for k, t in nodes.items():
        t.name = k
    return nodes


def test_logistic_value_of_the_notes_magnitude():
    assert abs(DL_DW) == pytest.approx(0.00037018372, abs=1e-11)


def test_logistic_reverse_mode_equals_notes():
    W = scalar(3.0, True)
    n = logistic_chain(W)
    n["L"].backward()
    assert W.grad.item() == pytest.approx(DL_DW, rel=1e-12)


def test_logistic_forward_mode_equals_notes():
    with fwAD.dual_level():
        n = logistic_chain(fwAD.make_dual(scalar(3.0), scalar(1.0)))
        tangent = fwAD.unpack_dual(n["L"]).tangent
    assert tangent.item() == pytest.approx(DL_DW, rel=1e-12)


def test_logistic_table_rows_match_the_notes():
    W = scalar(3.0, True)
    n = logistic_chain(W)
    table = cr.trace(n["L"], [W], mode="both")
    assert [r["label"] for r in table.rows] == ["W", "xi1", "xi2", "xi3", "xi4", "xi5", "L"]
    assert [r["op"] for r in table.rows] == ["input", "mul", "exp", "add", "div", "log", "mul"]
    p = 1 / (1 + E9)
    values = {"W": 3, "xi1": -9, "xi2": E9, "xi3": 1 + E9, "xi4": p, "xi5": math.log(p), "L": -math.log(p)}
    # the notes' "value of the partial derivative" column, with the correct sign for
    # d xi4 / d xi3 = -1/xi3² (the notes' table drops the minus)
    partials = {"xi1": ("W", -3), "xi2": ("xi1", E9), "xi3": ("xi2", 1), "xi4": ("xi3", -(p**2)),
                "xi5": ("xi4", 1 + E9), "L": ("xi5", -1)}
    for label, v in values.items():
        assert float(table[label]["value"]) == pytest.approx(v, rel=1e-12), label
    for label, (parent, d) in partials.items():
        assert float(table[label]["partials"][parent]) == pytest.approx(d, rel=1e-12), label
    # forward-mode column d xi_n / dW: the running product of the partials from W
    fwd = {"W": 1.0, "xi1": -3.0, "xi2": -3 * E9, "xi3": -3 * E9, "xi4": 3 * E9 * p**2,
           "xi5": 3 * E9 * p, "L": -3 * E9 * p}
    for label, v in fwd.items():
        assert float(table[label]["tangent"]) == pytest.approx(v, rel=1e-12), label
    # reverse-mode column dL / d xi_n: the running product of the partials from L
    rev = {"L": 1.0, "xi5": -1.0, "xi4": -(1 + E9), "xi3": p, "xi2": p, "xi1": p * E9, "W": -3 * p * E9}
    for label, v in rev.items():
        assert float(table[label]["adjoint"]) == pytest.approx(v, rel=1e-12), label
    # both end in the notes' number
    assert abs(float(table["L"]["tangent"])) == pytest.approx(0.00037018372, abs=1e-11)
    assert abs(float(table["W"]["adjoint"])) == pytest.approx(0.00037018372, abs=1e-11)
    text = str(table)
    assert "xi4" in text and "div" in text and text.count("\n") == len(table.rows) + 1


# ---------------------------------------------------------------- notes 001: 1-D three-layer warm-up
def test_three_layer_warmup_against_hand_chain_rule():
    # h(x) = w3 (w2 sigma(w1 x + b1) + b2) + b3,  L = 1/2 (h - y)^2.
    # The notes write the w2/b2 gradients with a sigma'(a_2) factor from a garbled OCR of
    # the formula; for this h (no activation after layer 2) the chain rule gives:
    #   a1 = w1 x + b1, z1 = sigma(a1), z2 = w2 z1 + b2, h = w3 z2 + b3, L' = h - y
    #   dL/dw3 = L' z2, dL/db3 = L', dL/dw2 = L' w3 z1, dL/db2 = L' w3,
    #   dL/dw1 = L' w3 w2 sigma'(a1) x, dL/db1 = L' w3 w2 sigma'(a1), sigma' = sigma (1 - sigma)
    x, yv = 0.8, -0.5
    vals = {"w1": 1.5, "b1": -0.3, "w2": -2.0, "b2": 0.4, "w3": 0.7, "b3": 0.1}
    p = {k: scalar(v, True, k) for k, v in vals.items()}
    a1 = p["w1"] * x + p["b1"]
    h = p["w3"] * (p["w2"] * a1.sigmoid() + p["b2"]) + p["b3"]
    L = 0.5 * (h - yv) ** 2
    L.backward()

    a1v = vals["w1"] * x + vals["b1"]
    z1 = 1 / (1 + math.exp(-a1v))
    z2 = vals["w2"] * z1 + vals["b2"]
    hv = vals["w3"] * z2 + vals["b3"]
    Lp = hv - yv
    ds = z1 * (1 - z1)
    expected = {
        "w3": Lp * z2,
        "b3": Lp,
        "w2": Lp * vals["w3"] * z1,
        "b2": Lp * vals["w3"],
        "w1": Lp * vals["w3"] * vals["w2"] * ds * x,
        "b1": Lp * vals["w3"] * vals["w2"] * ds,
    }
    assert L.item() == pytest.approx(0.5 * Lp**2, rel=1e-12)
    for k, v in expected.items():
        assert p[k].grad.item() == pytest.approx(v, rel=1e-12), k


def test_three_layer_warmup_forward_mode_matches_reverse():
    # d L / d w1 by one forward pass (tangent 1 on w1) equals the reverse-mode gradient
    def loss(w1, b1, w2, b2, w3, b3):
        h = w3 * (w2 * (w1 * 0.8 + b1).sigmoid() + b2) + b3
        return 0.5 * (h + 0.5) ** 2

    args = [scalar(v) for v in (1.5, -0.3, -2.0, 0.4, 0.7, 0.1)]
    grads = func.grad(loss, argnums=tuple(range(6)))(*args)
    for i in range(6):
        tangents = [scalar(1.0 if j == i else 0.0) for j in range(6)]
        _, d = func.jvp(loss, tuple(args), tuple(tangents))
        assert d.item() == pytest.approx(grads[i].item(), rel=1e-12)
    assert np.isfinite([g.item() for g in grads]).all()


# ---------------------------------------------------------------- notes 003: one hidden layer, module by module
def test_one_hidden_layer_network_module_by_module():
    # Forward: a_j = sum_i alpha_ji x_i, z_j = sigma(a_j), b = sum_j beta_j z_j, y = sigma(b),
    #          J = y* log y + (1 - y*) log(1 - y).
    # Backward (the notes' modules; their dJ/dy prints "+" where the derivative of
    # (1 - y*) log(1 - y) gives "-"):
    #   dJ/dy = y*/y - (1 - y*)/(1 - y),  dJ/db = dJ/dy · e^-b/(1 + e^-b)²,
    #   dJ/dbeta_j = dJ/db z_j,  dJ/dz_j = dJ/db beta_j,
    #   dJ/da_j = dJ/dz_j · e^-a_j/(1 + e^-a_j)²,  dJ/dalpha_ji = dJ/da_j x_i,
    #   dJ/dx_i = sum_j dJ/da_j alpha_ji.
    rng = np.random.default_rng(7)
    x0, alpha0, beta0, ystar = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(4), 1.0
    x = cr.tensor(x0, requires_grad=True)
    alpha = cr.tensor(alpha0, requires_grad=True)
    beta = cr.tensor(beta0, requires_grad=True)
    y = ((alpha @ x).sigmoid() @ beta).sigmoid()
    J = ystar * y.log() + (1 - ystar) * (1 - y).log()
    J.backward()

    a = alpha0 @ x0
    z = 1 / (1 + np.exp(-a))
    b = beta0 @ z
    yv = 1 / (1 + np.exp(-b))
    dJ_dy = ystar / yv - (1 - ystar) / (1 - yv)
    dJ_db = dJ_dy * np.exp(-b) / (1 + np.exp(-b)) ** 2
    dJ_dz = dJ_db * beta0
    dJ_da = dJ_dz * np.exp(-a) / (1 + np.exp(-a)) ** 2
    np.testing.assert_allclose(beta.grad.numpy(), dJ_db * z, rtol=1e-12)
    np.testing.assert_allclose(alpha.grad.numpy(), np.outer(dJ_da, x0), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), alpha0.T @ dJ_da, rtol=1e-12)
