"""The functional optimisers (chainrule.optim._functional, PyTorch's torch.optim._functional).

Each function takes lists of arrays and updates them in place; each Optimizer's step() is a
call to one of them.  Checked here: the functions against PyTorch's functional API on the same
lists (float64), Adam's flat-buffer grouping against its per-parameter one (bit for bit), that
the optimisers use the flat grouping where they should, and that the array work goes through
the back-end table (the module does not import NumPy, and a table passed as ``m`` is used).
"""

from __future__ import annotations

import ast
import inspect
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.backend import ArrayMath
from chainrule.optim import _functional as F

SHAPES = [(3,), (2, 3), (4, 1)]


def _arrays(seed, dtype=np.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _steps(n=len(SHAPES), value=0.0):
    return [np.array(value, dtype=np.float32) for _ in range(n)]


# ---- against PyTorch's functional API -------------------------------------------------------------

def _to_torch(torch, arrays):
    return [None if a is None else torch.from_numpy(a.copy()) for a in arrays]


def _compare(torch, name, make_lists, kw, steps=5, torch_kw=None):
    """Run chainrule's and PyTorch's functional ``name`` ``steps`` times on the same lists."""
    lists = make_lists()
    t_lists = [_to_torch(torch, lst) for lst in lists]
    c_fn = getattr(F, name)
    t_fn = getattr(torch.optim._functional, name)
    for k in range(steps):
        grads = _arrays(100 + k)
        c_fn(lists[0], grads, *lists[1:], **kw)
        t_fn(t_lists[0], _to_torch(torch, grads), *t_lists[1:], **kw, **(torch_kw or {}))
    for lst, t_lst in zip(lists, t_lists):
        for a, t in zip(lst, t_lst):
            if a is not None:
                np.testing.assert_allclose(a, t.numpy(), rtol=1e-10, atol=1e-14)
    return lists


def _zeros():
    return [np.zeros(s) for s in SHAPES]


FUNCTIONAL_CASES = [
    ("sgd", lambda: [_arrays(0), [None] * 3],
     dict(weight_decay=0.1, momentum=0.9, lr=0.1, dampening=0.2, nesterov=False, maximize=False)),
    ("sgd", lambda: [_arrays(0), [None] * 3],
     dict(weight_decay=0.0, momentum=0.9, lr=0.1, dampening=0.0, nesterov=True, maximize=True)),
    ("sgd", lambda: [_arrays(0), [None] * 3],
     dict(weight_decay=0.0, momentum=0.0, lr=0.1, dampening=0.0, nesterov=False, maximize=False)),
    ("adam", lambda: [_arrays(0), _zeros(), _zeros(), _zeros(), _steps()],
     dict(amsgrad=True, beta1=0.9, beta2=0.99, lr=0.01, weight_decay=0.1, eps=1e-8, maximize=False)),
    ("adam", lambda: [_arrays(0), _zeros(), _zeros(), [], _steps()],
     dict(amsgrad=False, beta1=0.8, beta2=0.999, lr=0.01, weight_decay=0.0, eps=1e-8, maximize=True)),
    ("adamw", lambda: [_arrays(0), _zeros(), _zeros(), [], _steps()],
     dict(amsgrad=False, beta1=0.9, beta2=0.999, lr=0.01, weight_decay=0.1, eps=1e-8, maximize=False)),
    ("adagrad", lambda: [_arrays(0), [np.full(s, 0.1) for s in SHAPES], _steps()],
     dict(lr=0.1, weight_decay=0.1, lr_decay=0.01, eps=1e-10, maximize=False)),
    ("rmsprop", lambda: [_arrays(0), _zeros(), _zeros(), _zeros(), _steps()],
     dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.5, centered=True, maximize=False)),
    ("nadam", lambda: [_arrays(0), _zeros(), _zeros(), _steps(value=1.0), _steps()],
     dict(beta1=0.9, beta2=0.999, lr=0.01, weight_decay=0.1, momentum_decay=4e-3, eps=1e-8,
          decoupled_weight_decay=True, maximize=False)),
    ("radam", lambda: [_arrays(0), _zeros(), _zeros(), _steps()],
     dict(beta1=0.9, beta2=0.9, lr=0.01, weight_decay=0.1, eps=1e-8, decoupled_weight_decay=False,
          maximize=False)),
    ("adamax", lambda: [_arrays(0), _zeros(), _zeros(), _steps()],
     dict(eps=1e-8, beta1=0.9, beta2=0.999, lr=0.01, weight_decay=0.1, maximize=True)),
    ("adadelta", lambda: [_arrays(0), _zeros(), _zeros(), _steps()],
     dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.1, maximize=False)),
    ("asgd", lambda: [_arrays(0), _zeros(), _steps(value=1.0), _steps(value=0.01), _steps()],
     dict(lambd=1e-4, lr=0.01, t0=2, alpha=0.75, weight_decay=0.0, maximize=False)),
    ("rprop", lambda: [_arrays(0), _zeros(), [np.full(s, 0.01) for s in SHAPES], _steps()],
     dict(step_size_min=1e-6, step_size_max=50.0, etaminus=0.5, etaplus=1.2, maximize=False)),
]


@pytest.mark.parametrize("name,make_lists,kw", FUNCTIONAL_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FUNCTIONAL_CASES)])
def test_functional_matches_pytorch_functional(name, make_lists, kw):
    torch = pytest.importorskip("torch")
    lists = _compare(torch, name, make_lists, kw, torch_kw={"foreach": False})
    if name == "sgd" and kw["momentum"] != 0.0:  # the first call made the buffers, in the list
        assert all(b is not None for b in lists[1])


def test_functional_adafactor_and_muon_match_pytorch():
    torch = pytest.importorskip("torch")
    from torch.optim import _adafactor, _muon

    kw = dict(d=1.0, lr=0.01, beta2_decay=-0.8, weight_decay=0.1, eps1=None, eps2=1e-3, maximize=False)
    shapes = [(3,), (2, 3)]
    ws, t_ws = _arrays(0, shapes=shapes), None
    t_ws = _to_torch(torch, ws)
    rows = [None, np.zeros((2, 1))]
    cols = [None, np.zeros((1, 3))]
    var = [np.zeros(3), None]
    steps = _steps(2)
    t_lists = [_to_torch(torch, lst) for lst in (rows, cols, var, steps)]
    for k in range(4):
        g = _arrays(10 + k, shapes=shapes)
        F.adafactor(ws, g, rows, cols, var, steps, **kw)
        _adafactor._single_tensor_adafactor(t_ws, _to_torch(torch, g), *t_lists, None, None, has_complex=False, **kw)
    for a, t in zip(ws, t_ws):
        np.testing.assert_allclose(a, t.numpy(), rtol=1e-10)

    # Muon's Newton–Schulz step against PyTorch's, with PyTorch's bfloat16 cast made a float64 copy
    g = _arrays(3, shapes=[(3, 5)])[0]
    orig = torch.Tensor.bfloat16
    torch.Tensor.bfloat16 = lambda self: self.clone()
    try:
        want = _muon._zeropower_via_newtonschulz(torch.from_numpy(g), (3.4445, -4.7750, 2.0315), 5, 1e-7).numpy()
    finally:
        torch.Tensor.bfloat16 = orig
    np.testing.assert_allclose(F._newton_schulz(ArrayMath, g, (3.4445, -4.7750, 2.0315), 5, 1e-7), want, rtol=1e-12)


# ---- one Adam, two groupings ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad,wd,decoupled,maximize", [
    (False, 0.0, False, False), (True, 0.1, False, True), (False, 0.1, True, False),
])
def test_adam_flat_grouping_is_bit_identical_to_per_parameter(dtype, amsgrad, wd, decoupled, maximize):
    kw = dict(amsgrad=amsgrad, beta1=0.9, beta2=0.999, lr=0.01, weight_decay=wd, eps=1e-8, maximize=maximize,
              decoupled_weight_decay=decoupled)
    ws_a = _arrays(0, dtype)
    ws_b = [w.copy() for w in ws_a]
    keys = 3 if amsgrad else 2
    per = [[np.zeros_like(w) for w in ws_a] for _ in range(keys)]
    flat = F.FlatAdam([w.shape for w in ws_b], np.dtype(dtype), amsgrad)
    for key in flat.keys:
        for v in flat.views(key):
            v[...] = 0
    flat_lists = [flat.views(k) for k in flat.keys]
    steps_a, steps_b = _steps(), _steps()
    for k in range(6):
        grads = _arrays(50 + k, dtype)
        F.adam(ws_a, grads, per[0], per[1], per[2] if amsgrad else [], steps_a, **kw)
        F.adam(ws_b, grads, flat_lists[0], flat_lists[1], flat_lists[2] if amsgrad else [], steps_b, flat=flat, **kw)
    for a, b in zip(ws_a, ws_b):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    for pa, pb in zip(per, flat_lists):
        for a, b in zip(pa, pb):
            np.testing.assert_array_equal(a, b)
    assert [float(s) for s in steps_b] == [6.0] * 3


def _adam_run(params_shapes, steps, **kw):
    rng = np.random.default_rng(0)
    ps = [cr.tensor(rng.standard_normal(s), requires_grad=True) for s in params_shapes]
    opt = optim.Adam(ps, lr=0.01, **kw)
    for k in range(steps):
        for i, p in enumerate(ps):
            p.grad = cr.tensor(np.cos(p._array * (1 + i)) + 0.1 * k)
        opt.step()
    return ps, opt


def test_adam_optimizer_uses_flat_buffers_for_a_small_group():
    ps, opt = _adam_run(SHAPES, 3)
    arrays = [opt.state[p]["exp_avg"]._array for p in ps]
    base = arrays[0].base
    assert base is not None and all(a.base is base for a in arrays)  # segments of one flat buffer
    # what state_dict() shows is the flat state, and it follows the formula
    w, m = _adam_w_by_hand(0, 3)
    np.testing.assert_allclose(opt.state_dict()["state"][0]["exp_avg"]._array, m, rtol=1e-12)
    np.testing.assert_allclose(ps[0]._array, w, rtol=1e-12)


def _adam_w_by_hand(rng_seed, upto, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """The first parameter of _adam_run and its M after ``upto`` Adam steps, from the formula."""
    w = np.random.default_rng(rng_seed).standard_normal(SHAPES[0])
    m = np.zeros_like(w)
    s = np.zeros_like(w)
    for k in range(upto):
        g = np.cos(w) + 0.1 * k
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        t = k + 1
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
    return w, m


def test_adam_flat_and_per_parameter_optimizers_agree():
    """A group too big for the flat buffers, or with a parameter lacking a gradient, runs per
    parameter; the results agree with the flat run to rounding."""
    from chainrule.optim import adam as adam_module

    small, _ = _adam_run(SHAPES, 5)
    saved = adam_module._PACK_LIMIT
    adam_module._PACK_LIMIT = 0  # every group "too big": the per-parameter grouping
    try:
        per, opt = _adam_run(SHAPES, 5)
    finally:
        adam_module._PACK_LIMIT = saved
    assert opt.state[per[0]]["exp_avg"]._array.base is None
    for a, b in zip(small, per):
        np.testing.assert_array_equal(a._array, b._array)
    np.testing.assert_allclose(small[0]._array, _adam_w_by_hand(0, 5)[0], rtol=1e-12)


def test_adam_flat_buffers_rebuilt_after_load_state_dict():
    ps, opt = _adam_run(SHAPES, 3)
    saved = opt.state_dict()
    sd = {"state": {k: {n: cr.tensor(v._array.copy()) for n, v in s.items()} for k, s in saved["state"].items()},
          "param_groups": saved["param_groups"]}
    opt.load_state_dict(sd)
    for i, p in enumerate(ps):
        p.grad = cr.tensor(np.cos(p._array * (1 + i)) + 0.3)
    opt.step()
    arrays = [opt.state[p]["exp_avg"]._array for p in ps]
    assert arrays[0].base is not None and all(a.base is arrays[0].base for a in arrays)


def test_adam_with_unequal_step_counts_runs_per_parameter():
    """A parameter that missed a step has its own count: its bias correction must use it."""
    rng = np.random.default_rng(0)
    a = cr.tensor(rng.standard_normal(3), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = cr.tensor(np.ones(3))
    opt.step()  # only a steps (b has no gradient)
    b0 = b._array.copy()
    a.grad = cr.tensor(np.ones(3))
    b.grad = cr.tensor(np.ones(3))
    opt.step()
    assert float(opt.state[a]["step"]._array) == 2.0 and float(opt.state[b]["step"]._array) == 1.0
    # b's first step: M̂ = g, Ŝ = g², so the step is lr · 1/(1 + eps)
    np.testing.assert_allclose(b._array, b0 - 0.1 / (1 + 1e-8), rtol=1e-12)


# ---- the array work goes through the table --------------------------------------------------------

def test_functional_module_does_not_import_numpy():
    tree = ast.parse(inspect.getsource(F))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name != "numpy" for a in node.names)
        if isinstance(node, ast.ImportFrom):
            assert node.module != "numpy"


def _counting_table():
    """ArrayMath with the update entries counted (a stand-in for another back end's table)."""
    table = type("Counting", (ArrayMath,), {})
    counts: dict[str, int] = {}
    for name in ("add", "subtract", "multiply", "divide", "sqrt", "maximum", "copyto", "scalar", "empty"):
        fn = getattr(ArrayMath, name)

        def wrapped(*a, _fn=fn, _name=name, **k):
            counts[_name] = counts.get(_name, 0) + 1
            return _fn(*a, **k)

        setattr(table, name, staticmethod(wrapped))
    return table, counts


@pytest.mark.parametrize("name", ["sgd", "adam", "nadam", "adadelta"])
def test_functional_updates_call_the_table_they_are_given(name):
    table, counts = _counting_table()
    case = next(c for c in FUNCTIONAL_CASES if c[0] == name)
    lists = case[1]()
    before = [w.copy() for w in lists[0]]
    getattr(F, name)(lists[0], _arrays(1), *lists[1:], **case[2], m=table)
    assert counts.get("multiply", 0) > 0 and counts.get("subtract", 0) + counts.get("add", 0) > 0
    assert all(not np.array_equal(a, b) for a, b in zip(before, lists[0]))


def test_sgd_step_without_scratch_equals_with_scratch():
    a, b = _arrays(0), _arrays(0)
    bufs_a, bufs_b = [None] * 3, [None] * 3
    kw = dict(weight_decay=0.1, momentum=0.9, lr=0.1, dampening=0.0, nesterov=True, maximize=False)
    work = F.Scratch()
    for k in range(3):
        g = _arrays(10 + k)
        F.sgd(a, g, bufs_a, **kw)
        F.sgd(b, g, bufs_b, work=work, **kw)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # and the formula: v1 = g1 + λw0 ... checked for one element against the recursion
    w = _arrays(0)[0][0]
    v = None
    for k in range(3):
        g = _arrays(10 + k)[0][0] + 0.1 * w
        v = g if v is None else 0.9 * v + g
        w = w - 0.1 * (g + 0.9 * v)
    assert a[0][0] == pytest.approx(w, rel=1e-12)
    assert math.isfinite(a[0][0])


def _adam_story(pack: bool) -> list:
    """Adam through what may happen between steps: steady steps (the flat update's fast path,
    FlatAdam.ready), a new learning rate, a parameter replaced (``p.data = ...``), a moment
    replaced in the state, a parameter without a gradient, then all of them again."""
    from chainrule.optim import adam as adam_module

    saved = adam_module._PACK_LIMIT
    adam_module._PACK_LIMIT = saved if pack else 0
    try:
        rng = np.random.default_rng(0)
        ps = [cr.tensor(rng.standard_normal(s), requires_grad=True) for s in SHAPES]
        opt = optim.Adam(ps, lr=0.01)
        for k in range(9):
            for i, p in enumerate(ps):
                p.grad = None if (k == 6 and i == 1) else cr.tensor(np.cos(p._array * (1 + i)) + 0.1 * k)
            if k == 3:
                opt.param_groups[0]["lr"] = 0.02
            if k == 4:
                ps[2].data = cr.tensor(ps[2]._array * 0.5)
            if k == 5:
                opt.state[ps[0]]["exp_avg"] = cr.tensor(opt.state[ps[0]]["exp_avg"]._array * 2.0)
            opt.step()
        return [p._array.copy() for p in ps] + [opt.state[p]["exp_avg"]._array.copy() for p in ps]
    finally:
        adam_module._PACK_LIMIT = saved


def test_adam_flat_fast_path_follows_every_change_between_steps(monkeypatch):
    """The flat update's fast path checks by identity that nothing changed since its last step;
    each change sends the step through the full gathering.  Same bits as per-parameter Adam."""
    taken: list[bool] = []
    ready = F.FlatAdam.ready

    def spy(self, *args):
        found = ready(self, *args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(F.FlatAdam, "ready", spy)
    for a, b in zip(_adam_story(pack=True), _adam_story(pack=False)):
        np.testing.assert_array_equal(a, b)
    assert taken.count(True) >= 3 and taken.count(False) >= 3  # both ways were taken
