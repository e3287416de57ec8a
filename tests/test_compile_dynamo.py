"""``torch._dynamo`` around ``torch.compile`` (chainrule/_dynamo.py, chainrule/compiler/settings.py):
the settings PyTorch programs set before compiling, read when they matter, and the helpers
(``mark_dynamic``, ``graph_break``, ``eval_frame.OptimizedModule``) that other people's code
calls.  Every compiled result is compared with the eager function's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import _dynamo
from chainrule.compiler import GraphBreak, api


def _f(x):
    return (x * 2.0 + 1.0).tanh().sum()


def _xs(*sizes):
    rng = np.random.default_rng(0)
    return [cr.tensor(rng.standard_normal(n)) for n in sizes]


def _expect(x):
    return float(np.tanh(x.numpy() * 2.0 + 1.0).sum())


def test_settings_have_pytorchs_names_aliases_and_refuse_unknown_ones():
    c = _dynamo.config
    assert c.recompile_limit == 8 and c.cache_size_limit == 8
    assert c.accumulated_recompile_limit == 256 == c.accumulated_cache_size_limit
    assert c.suppress_errors is False and c.disable is False
    with c.patch(cache_size_limit=3):
        assert c.recompile_limit == 3
    assert c.recompile_limit == 8
    with pytest.raises(AttributeError, match="no setting 'suppress_erors'"):
        c.suppress_erors = True
    with pytest.raises(AttributeError, match="no setting"):
        c.patch(bogus=1)
    assert c.recompile_limit == 8

    @c.patch({"suppress_errors": True})
    def inside():
        return c.suppress_errors

    assert inside() is True and c.suppress_errors is False


def test_settings_match_pytorchs_names_and_defaults():
    tc = pytest.importorskip("torch._dynamo").config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit",
                 "suppress_errors", "disable", "verbose", "specialize_float"):
        assert getattr(_dynamo.config, name) == getattr(tc, name), name
    for name in ("dynamic_shapes", "automatic_dynamic_shapes", "assume_static_by_default", "capture_scalar_outputs",
                 "capture_dynamic_output_shape_ops", "specialize_int", "optimize_ddp"):
        assert hasattr(tc, name), name


def test_recompile_limit_is_read_at_each_new_kind_of_call_and_the_argument_overrides_it():
    xs = _xs(2, 3, 4, 5, 2, 3, 4, 5)
    with _dynamo.config.patch(cache_size_limit=2):
        fn = cr.compile(_f, name="my_step")
        with pytest.warns(UserWarning, match=r"2 kinds of call captured already \(recompile_limit\).*my_step"):
            got = [fn(x).item() for x in xs]
    assert got == pytest.approx([_expect(x) for x in xs], rel=1e-12)
    assert len(fn.entries) == 2 and fn.stats["eager"] == 4 and fn.stats["replays"] == 2
    fn3 = cr.compile(_f, recompile_limit=3)
    with pytest.warns(UserWarning, match="3 kinds"):
        for x in xs:
            fn3(x)
    assert len(fn3.entries) == 3


def test_accumulated_recompile_limit_counts_every_compiled_function():
    cr.compiler.reset()
    live = [len(f.entries) for f in list(api._ALL)]
    assert sum(live) == 0
    xs = _xs(2, 3, 4)
    with _dynamo.config.patch(accumulated_recompile_limit=3):
        f1, f2 = cr.compile(_f), cr.compile(_f)
        for x in xs[:2]:
            f1(x)
        f2(xs[0])
        with pytest.warns(UserWarning, match="accumulated_recompile_limit"):
            assert f2(xs[1]).item() == pytest.approx(_expect(xs[1]), rel=1e-12)
    assert len(f1.entries) + len(f2.entries) == 3 and f2.stats["eager"] == 1


def test_disable_runs_every_compiled_function_eagerly_while_set():
    (x,) = _xs(4)
    fn = cr.compile(_f)
    _dynamo.config.disable = True
    try:
        assert fn(x).item() == pytest.approx(_expect(x), rel=1e-12)
        assert fn.stats == {"captures": 0, "replays": 0, "eager": 1, "diverged": 0}
    finally:
        _dynamo.config.disable = False
    fn(x)
    fn(x)
    assert fn.stats["captures"] == 1 and fn.stats["replays"] == 1


def test_suppress_errors_turns_a_compiler_failure_into_eager_calls(monkeypatch):
    def broken(*a, **k):
        raise ValueError("planner exploded")

    monkeypatch.setattr(api, "build_plan", broken)
    (x,) = _xs(3)
    with pytest.raises(ValueError, match="planner exploded"):
        cr.compile(_f)(x)
    fn = cr.compile(_f)
    with _dynamo.config.patch(suppress_errors=True):
        with pytest.warns(UserWarning, match=r"the compiler failed \(ValueError: planner exploded"):
            assert fn(x).item() == pytest.approx(_expect(x), rel=1e-12)
    assert fn(x).item() == pytest.approx(_expect(x), rel=1e-12)  # that kind of call stays eager
    assert fn.stats["eager"] == 1 and "planner exploded" in fn.explain()
    fn_v = cr.compile(_f)
    with _dynamo.config.patch(suppress_errors=True, verbose=True), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn_v(x)
    assert any("Traceback" in str(m.message) and "planner exploded" in str(m.message) for m in w)


def test_inductor_options_warn_and_compile_anyway():
    (x,) = _xs(5)
    with pytest.warns(UserWarning, match=r"\['max_autotune', 'triton.cudagraphs'\].*no effect"):
        fn = cr.compile(_f, options={"triton.cudagraphs": True, "max_autotune": True, "fusion": False})
    for _ in range(3):
        assert fn(x).item() == pytest.approx(_expect(x), rel=1e-12)
    assert fn.stats["replays"] == 2 and not fn.fusion


def test_shape_hints_check_their_dimensions_and_shapes_stay_guarded():
    x, y = _xs(4, 6)
    _dynamo.mark_dynamic(x, 0)
    _dynamo.maybe_mark_dynamic(x, [0])
    _dynamo.mark_static(x)
    with pytest.raises(IndexError, match=r"dimension 1 out of range .* shape \(4,\)"):
        _dynamo.mark_dynamic(x, 1)
    with pytest.raises(TypeError, match="expected a Tensor"):
        _dynamo.mark_dynamic(np.zeros(3), 0)
    fn = cr.compile(_f)
    assert [fn(t).item() for t in (x, y, x, y)] == pytest.approx([_expect(t) for t in (x, y, x, y)], rel=1e-12)
    assert len(fn.entries) == 2 and fn.stats["replays"] == 2


def test_graph_break_makes_that_call_eager_and_fullgraph_raises():
    def g(x):
        y = x * 3.0
        _dynamo.graph_break()
        return (y + 1.0).sum()

    (x,) = _xs(4)
    want = float((x.numpy() * 3.0 + 1.0).sum())
    _dynamo.graph_break()  # outside a capture: nothing
    fn = cr.compile(g)
    with pytest.warns(UserWarning, match=r"graph_break\(\) was called"):
        assert fn(x).item() == pytest.approx(want, rel=1e-12)
    assert fn(x).item() == pytest.approx(want, rel=1e-12)
    assert fn.stats["replays"] == 0 and fn.stats["eager"] == 1
    with pytest.raises(GraphBreak, match="graph_break"):
        cr.compile(g, fullgraph=True)(x)


def test_the_torch_names_other_peoples_code_reaches():
    import chainrule as torch

    model = torch.nn.Linear(3, 2)
    compiled = torch.compile(model)
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(compiled, torch._dynamo.OptimizedModule)
    assert torch.compiler.cudagraph_mark_step_begin() is None
    seen = []

    def f(x):
        seen.append(torch.compiler.is_dynamo_compiling())
        return x * 2.0

    (x,) = _xs(3)
    compiled = torch.compile(f)
    compiled(x)  # (appending to `seen` is a side effect: captured once more, then f stays eager)
    with pytest.warns(UserWarning, match="side effect"):
        compiled(x)
    assert seen == [True, True] and torch.compiler.is_dynamo_compiling() is False
    torch._dynamo.reset()


# --------------------------------------------------------------------- torch.compiler.set_stance
def _step_counts(fn, xs):
    """fn (compiled without fused loops: eager's bits) called on each of xs; (its results, its stats)."""
    return [float(fn(x)) for x in xs], dict(fn.stats)


def test_set_stance_force_eager_runs_eagerly_and_a_with_block_puts_it_back():
    xs = _xs(3, 3, 3)
    compiled = cr.compile(_f, options={"fusion": False})
    with cr.compiler.set_stance("force_eager"):
        out, stats = _step_counts(compiled, xs)
    assert out == [_expect(x) for x in xs] and stats["captures"] == 0 and stats["eager"] == 3
    out, stats = _step_counts(compiled, xs)  # (default again: capture, then replays)
    assert out == [_expect(x) for x in xs] and stats["captures"] == 1 and stats["replays"] == 2


def test_set_stance_fail_on_recompile_raises_where_a_new_kind_of_call_would_be_captured():
    compiled = cr.compile(_f, options={"fusion": False})
    a, b = _xs(3, 4)
    compiled(a)  # the first capture is not a recompile
    with cr.compiler.set_stance("fail_on_recompile"):
        assert float(compiled(a)) == _expect(a)  # a plan whose guard holds replays
        with pytest.raises(RuntimeError, match="fail_on_recompile"):
            compiled(b)  # a new shape: a new kind of call
    assert float(compiled(b)) == _expect(b)


def test_set_stance_eager_on_recompile_and_eager_then_compile():
    a, b = _xs(3, 4)
    compiled = cr.compile(_f, options={"fusion": False})
    compiled(a)
    with cr.compiler.set_stance("eager_on_recompile"):
        assert float(compiled(b)) == _expect(b)
    assert compiled.stats == {"captures": 1, "replays": 0, "eager": 1, "diverged": 0}
    later = cr.compile(_f, options={"fusion": False})
    with cr.compiler.set_stance("eager_then_compile"):
        outs = [float(later(a)) for _ in range(3)]
    assert outs == [_expect(a)] * 3 and later.stats == {"captures": 1, "replays": 1, "eager": 1, "diverged": 0}


def test_set_stance_as_a_call_and_as_a_decorator():
    from chainrule.compiler.settings import STANCE

    (a,) = _xs(3)
    try:
        cr.compiler.set_stance("force_eager")  # a call: from now on
        assert STANCE[0] == "force_eager"
    finally:
        cr.compiler.set_stance("default")
    compiled = cr.compile(_f, options={"fusion": False})

    @cr.compiler.set_stance("force_eager")
    def run(x):
        assert STANCE[0] == "force_eager"
        return compiled(x)

    assert STANCE[0] == "default"  # (a decorator's stance holds during its calls only)
    assert float(run(a)) == _expect(a) and compiled.stats["captures"] == 0
    with pytest.raises(ValueError, match="unknown stance"):
        cr.compiler.set_stance("sometimes")
    with pytest.raises(ValueError, match="force_backend"):
        cr.compiler.set_stance("force_eager", force_backend="eager")
    assert STANCE[0] == "default"


def test_stances_are_pytorchs():
    torch = pytest.importorskip("torch")
    import inspect

    params = inspect.signature(torch.compiler.set_stance).parameters
    assert list(params)[:3] == ["stance", "skip_guard_eval_unsafe", "force_backend"]
    assert params["stance"].default == "default"


# --------------------------------------------------------------------- the other names
def test_allow_in_graph_assume_constant_result_and_list_backends():
    import chainrule as torch

    def helper(x):
        return x * 2.0

    assert torch.compiler.allow_in_graph(helper) is helper
    assert torch._dynamo.allow_in_graph([helper]) == [helper]
    assert torch.compiler.assume_constant_result(helper) is helper
    assert {"eager", "inductor", "aot_eager"} <= set(torch.compiler.list_backends())
    for backend in torch.compiler.list_backends():
        (x,) = _xs(3)
        assert float(torch.compile(_f, backend=backend)(x)) == _expect(x)


def test_explain_counts_plans_and_says_why_a_call_stays_eager():
    import chainrule as torch

    (x,) = _xs(3)
    out = torch._dynamo.explain(_f)(x)
    assert out.graph_count == 1 and out.graph_break_count == 0 and out.break_reasons == []
    assert out.op_count == out.ops_per_graph[0] > 0 and "Graph Count: 1" in str(out)

    def breaks(x):
        torch._dynamo.graph_break()
        return x * 2.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = torch._dynamo.explain(breaks, x)  # (the older form: the arguments given at once)
    assert out.graph_count == 0 and out.graph_break_count == 1 and "graph_break" in out.break_reasons[0]


def test_inductor_config_takes_what_scripts_set():
    import chainrule as torch
    import chainrule._inductor.config as inductor_config

    torch._inductor.config.coordinate_descent_tuning = True
    torch._inductor.config.triton.unique_kernel_names = True
    assert inductor_config.coordinate_descent_tuning is True and inductor_config.triton.unique_kernel_names
    inductor_config.coordinate_descent_tuning = False
    assert inductor_config.fx_graph_cache is True and inductor_config.triton.cudagraphs is False
    with pytest.raises(AttributeError):
        inductor_config.no_such_setting  # noqa: B018


def test_a_new_capture_says_which_check_the_call_failed():
    """explain() and the recompile-limit warning name the guard's check that a call failed:
    the shape of an argument, an int argument's value (a step number passed in)."""
    (x,) = _xs(3)
    (y,) = _xs(4)

    def scaled(t, k):
        return (t * k).sum()

    compiled = cr.compile(scaled, recompile_limit=3)
    compiled(x, 1)
    compiled(y, 1)
    compiled(y, 2)
    assert [e.because for e in compiled.entries][0] is None
    assert compiled.entries[1].because == "args[0]._array.shape != (3,)"  # (the part of the check that failed)
    assert compiled.entries[2].because == "args[1] != 1"
    assert "captured because the call failed the check" in compiled.explain()
    with pytest.warns(UserWarning, match=r"fails the check `args\[1\] != 2`.*pass it as a tensor"):
        assert float(compiled(y, 5)) == float((y * 5).sum())
