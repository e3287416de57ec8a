"""chainrule.profiler (torch.profiler) and chainrule.autograd.profiler: what is recorded, the
table, traces, schedules (PyTorch as the oracle where it runs on the CPU), and that the
recording interpreter is off again after the block."""

from __future__ import annotations

import gzip
import json
import os
import threading
import tracemalloc
import warnings

import pytest

import chainrule as cr
from chainrule.autograd.grad_mode import DIFFERING, RECORD, STATE
from chainrule.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule


def _counts(prof) -> dict:
    return {a.key: a.count for a in prof.key_averages()}


def _assert_off():
    assert STATE.profiler is None
    assert STATE.mode == RECORD
    assert DIFFERING == []


# -- what is recorded ---------------------------------------------------------------------------

def test_three_matmuls_and_two_adds_are_counted():
    a, b = cr.randn(4, 4), cr.randn(4, 4)
    with profile() as prof:
        c = a @ b
        c = c @ b
        c = cr.matmul(c, a)
        c = c + a
        c = cr.add(c, 1.0)
    counts = _counts(prof)
    assert counts["matmul"] == 3
    assert counts["add"] == 2
    assert set(counts) == {"matmul", "add"}
    _assert_off()


def test_backward_ops_are_events_named_by_their_op():
    x = cr.randn(3, 4, requires_grad=True)
    w = cr.randn(4, 2, requires_grad=True)
    with profile() as prof:
        loss = (x @ w).tanh().sum()
        loss.backward()
    counts = _counts(prof)
    for name in ("matmul", "tanh", "sum", "matmul_backward", "tanh_backward", "sum_backward"):
        assert counts[name] == 1, name
    # the gradients are still right: d/dw sum(tanh(xw)) = xᵀ(1 - tanh²(xw))
    y = (x @ w).tanh()
    expected = x.detach().T @ (1 - y.detach() ** 2)
    assert cr.allclose(w.grad, expected)


def test_ops_and_results_are_the_same_as_without_the_profiler():
    cr.manual_seed(0)
    x = cr.randn(5, 3, requires_grad=True)
    out1 = (x.exp() * x).sum()
    out1.backward()
    g1 = x.grad.clone()
    x.grad = None
    with profile():
        out2 = (x.exp() * x).sum()
        out2.backward()
    assert out1.item() == out2.item()
    assert cr.equal(g1, x.grad)


def test_create_graph_backward_runs_its_ops_inside_the_backward_event():
    x = cr.randn(3, requires_grad=True)
    with profile() as prof:
        (g,) = cr.autograd.grad((x * x).sum(), x, create_graph=True)
    backward = [e for e in prof.events() if e.name == "mul_backward"]
    assert len(backward) == 1
    assert backward[0].cpu_children, "the vjp's ops were recorded as its children"
    assert all(c.cpu_parent is backward[0] for c in backward[0].cpu_children)
    assert cr.allclose(g, 2 * x.detach())


def test_nesting_gives_self_at_most_total_and_ranges_hold_their_children():
    a = cr.randn(16, 16)
    with profile() as prof:
        with record_function("outer"):
            b = a @ a
            with record_function("inner"):
                c = b.relu()
                d = c + b
            d.sum()
    events = prof.events()
    by_name = {e.name: e for e in events}
    outer, inner = by_name["outer"], by_name["inner"]
    assert outer.is_user_annotation and inner.is_user_annotation
    assert inner.cpu_parent is outer
    assert [c.name for c in outer.cpu_children] == ["matmul", "inner", "sum"]
    assert [c.name for c in inner.cpu_children] == ["relu", "add"]
    for e in events:
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total
        assert e.time_range.start <= e.time_range.end
        for c in e.cpu_children:
            assert e.time_range.start <= c.time_range.start and c.time_range.end <= e.time_range.end
    assert inner.cpu_time_total <= outer.cpu_time_total
    expected_self = outer.cpu_time_total - sum(c.cpu_time_total for c in outer.cpu_children)
    assert outer.self_cpu_time_total == pytest.approx(expected_self)
    for avg in prof.key_averages():
        assert avg.self_cpu_time_total <= avg.cpu_time_total + 1e-9
    # the self times add up to the top-level events' totals: every moment counted once
    top = sum(e.cpu_time_total for e in events if e.cpu_parent is None)
    assert prof.key_averages().self_cpu_time_total == pytest.approx(top)


def test_record_function_as_decorator_outside_a_profiler_and_nested_calls():
    @record_function("helper")
    def helper(t, depth):
        return t.exp() if depth == 0 else helper(t, depth - 1) + 1

    x = cr.ones(2)
    assert cr.allclose(helper(x, 1), x.exp() + 1)  # no profiler: a plain call
    with profile() as prof:
        helper(x, 2)
    helpers = [e for e in prof.events() if e.name == "helper"]
    assert len(helpers) == 3
    assert helpers[1].cpu_parent is helpers[0] and helpers[2].cpu_parent is helpers[1]
    assert _counts(prof)["exp"] == 1


def test_ops_of_other_threads_are_not_recorded():
    x = cr.randn(3)
    with profile() as prof:
        t = threading.Thread(target=lambda: x.exp())
        t.start()
        t.join()
        x.tanh()
    assert _counts(prof) == {"tanh": 1}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_forward_mode_and_anomaly_checks_still_work_while_profiling():
    import chainrule.autograd.forward_ad as fwAD

    x = cr.tensor([1.0, 2.0])
    with profile() as prof, fwAD.dual_level():
        xd = fwAD.make_dual(x, cr.ones(2))
        y = (xd * xd).sum()
        tangent = fwAD.unpack_dual(y).tangent
    assert tangent.item() == 6.0
    assert _counts(prof)["mul"] == 1
    with pytest.raises(RuntimeError, match="NaN"), cr.autograd.detect_anomaly(), profile():
        cr.log(cr.tensor([-1.0]))
    _assert_off()
    assert not STATE.anomaly


# -- shapes, memory, flops, stacks ----------------------------------------------------------------

def test_record_shapes_groups_by_input_shape_and_adds_the_column():
    a, b = cr.randn(2, 3), cr.randn(3, 4)
    with profile(record_shapes=True) as prof:
        a @ b
        b.T @ a.T
        a @ b
    groups = {(g.key, str(g.input_shapes)): g.count for g in prof.key_averages(group_by_input_shape=True)}
    assert groups[("matmul", "[[2, 3], [3, 4]]")] == 2
    assert groups[("matmul", "[[4, 3], [3, 2]]")] == 1
    table = prof.key_averages(group_by_input_shape=True).table()
    assert "Input Shapes" in table.splitlines()[1]
    assert "Input Shapes" not in prof.key_averages().table()
    with profile() as plain:
        a @ b
    with pytest.raises(RuntimeError, match="record_shapes"):
        plain.key_averages(group_by_input_shape=True)


def test_profile_memory_counts_the_bytes_an_op_allocates():
    x = cr.zeros(500, 500, dtype=cr.float64)
    assert not tracemalloc.is_tracing()
    with profile(profile_memory=True) as prof:
        y = x + 1.0
    assert not tracemalloc.is_tracing()
    add = next(e for e in prof.events() if e.name == "add")
    nbytes = 500 * 500 * 8
    assert nbytes <= add.cpu_memory_usage < nbytes + 64 * 1024  # the result, and a few Python objects
    assert add.self_cpu_memory_usage == add.cpu_memory_usage
    header = prof.key_averages().table().splitlines()[1]
    assert "CPU Mem" in header and "Self CPU Mem" in header
    assert "CPU Mem" not in profile_table_without_memory()
    del y


def profile_table_without_memory() -> str:
    with profile() as prof:
        cr.ones(2).exp()
    return prof.key_averages().table()


def test_with_flops_counts_the_products():
    a, b = cr.randn(4, 5), cr.randn(5, 6)
    with profile(with_flops=True) as prof:
        a @ b
        a.exp()
    flops = {e.key: e.flops for e in prof.key_averages()}
    assert flops == {"matmul": 2 * 4 * 6 * 5, "exp": 0}
    assert "Total FLOPs" in prof.key_averages().table()


def test_with_stack_names_the_users_line():
    with profile(with_stack=True) as prof:
        cr.ones(2).exp()
    (event,) = [e for e in prof.events() if e.name == "exp"]
    assert any(__file__ in frame and "test_with_stack_names_the_users_line" in frame for frame in event.stack)
    assert "Source Location" in prof.key_averages(group_by_stack_n=2).table()


# -- the table ------------------------------------------------------------------------------------

def _rows(table: str) -> list[str]:
    """The table's rows: between its second and third separator lines (sep, header, sep, rows,
    sep, footer; a header or ``top_level_events_only`` adds lines above)."""
    lines = table.splitlines()
    seps = [i for i, line in enumerate(lines) if line.startswith("---")]
    return lines[seps[1] + 1 : seps[2]]


def _program():
    a = cr.randn(8, 8)
    with profile() as prof:
        for _ in range(3):
            a = (a @ a).tanh()
        a.sum()
        a.exp()
        a.exp()
    return prof


@pytest.mark.parametrize("key", ["cpu_time_total", "self_cpu_time_total", "cpu_time", "count"])
def test_table_sorts_by_the_key_and_keeps_row_limit_rows(key):
    prof = _program()
    averages = prof.key_averages()
    table = averages.table(sort_by=key, row_limit=3)
    rows = _rows(table)
    assert len(rows) == 3
    expected = [a.key for a in sorted(averages, key=lambda a: getattr(a, key), reverse=True)][:3]
    assert [r.split()[0] for r in rows] == expected
    assert table.splitlines()[-1].startswith("Self CPU time total: ")
    assert len(_rows(averages.table(sort_by=key, row_limit=-1))) == len(averages) == 4


def test_table_counts_and_columns_are_pytorchs():
    prof = _program()
    header = prof.key_averages().table().splitlines()[1].split("  ")
    names = [h.strip() for h in header if h.strip()]
    assert names == ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
    counts = {r.split()[0]: int(r.split()[-1]) for r in _rows(prof.key_averages().table())}
    assert counts == {"matmul": 3, "tanh": 3, "sum": 1, "exp": 2}


def test_table_layout_matches_pytorchs_for_the_same_events():
    """The header, the separators and the column widths of PyTorch's own table."""
    torch = pytest.importorskip("torch")
    a = torch.randn(4, 4)
    label = "a label longer than the op names"  # (the name column is as wide as the longest name)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as tp:
        with torch.profiler.record_function(label):
            a.exp()
    with profile(profile_memory=True) as ours:
        with record_function(label):
            cr.ones(4, 4).exp()
    theirs_lines = tp.key_averages().table().splitlines()
    our_lines = ours.key_averages().table().splitlines()
    assert our_lines[1] == theirs_lines[1]  # the header row, character for character
    assert our_lines[0] == theirs_lines[0]  # the separator: the same widths
    assert our_lines[-1].split(":")[0] == theirs_lines[-1].split(":")[0]


def test_table_rejects_an_unknown_sort_key_and_time_unit():
    prof = _program()
    with pytest.raises(ValueError, match="sort_by must be one of"):
        prof.key_averages().table(sort_by="cpu_time_totl")
    with pytest.raises(ValueError, match="time_unit"):
        prof.key_averages().table(time_unit="ns")
    assert "ms" in prof.key_averages().table(time_unit="ms").splitlines()[3]


# -- Chrome traces --------------------------------------------------------------------------------

def test_chrome_trace_is_valid_json_written_atomically(tmp_path):
    x = cr.randn(3, 3, requires_grad=True)
    with profile(record_shapes=True) as prof:
        with record_function("block"):
            (x @ x).sum().backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    assert os.listdir(tmp_path) == ["trace.json"]  # no temporary file left behind
    data = json.loads(path.read_text())
    events = [e for e in data["traceEvents"] if e["ph"] == "X"]
    names = [e["name"] for e in events]
    assert names.count("matmul") == 1 and "matmul_backward" in names and "block" in names
    for e in events:
        assert e["dur"] >= 0 and isinstance(e["ts"], float) and e["pid"] == os.getpid()
    block = next(e for e in events if e["name"] == "block")
    assert block["cat"] == "user_annotation"
    matmul = next(e for e in events if e["name"] == "matmul")
    assert matmul["args"]["Input Dims"] == [[3, 3], [3, 3]]
    assert block["ts"] <= matmul["ts"] and matmul["ts"] + matmul["dur"] <= block["ts"] + block["dur"]
    gz = tmp_path / "trace.json.gz"
    prof.export_chrome_trace(gz)
    assert json.loads(gzip.decompress(gz.read_bytes()))["traceEvents"] == data["traceEvents"]


# -- schedules: PyTorch's semantics ----------------------------------------------------------------

SCHEDULES = [
    dict(wait=1, warmup=1, active=2),
    dict(wait=1, warmup=1, active=2, repeat=2),
    dict(wait=0, warmup=2, active=1, repeat=1, skip_first=3),
    dict(wait=2, warmup=1, active=3, repeat=0, skip_first=1),
    dict(wait=2, warmup=1, active=1, repeat=3, skip_first=2, skip_first_wait=1),
]


@pytest.mark.parametrize("args", SCHEDULES)
def test_schedule_gives_pytorchs_actions(args):
    torch = pytest.importorskip("torch")
    ours = schedule(**args)
    theirs = torch.profiler.schedule(**args)
    assert [ours(s).name for s in range(40)] == [theirs(s).name for s in range(40)]


def _run_scheduled(lib, args: dict, steps: int):
    """Profile ``steps`` steps of one op each under ``schedule(**args)``: when on_trace_ready fired
    (the step number) and which ProfilerStep#N ranges each trace holds."""
    fired: list = []

    def handler(p):
        counts = {a.key.replace("aten::", ""): a.count for a in p.key_averages()}
        fired.append((p.step_num, counts.get("ProfilerStep*"), counts.get("exp")))

    x = lib.ones(2)
    with lib.profiler.profile(activities=[lib.profiler.ProfilerActivity.CPU],
                              schedule=lib.profiler.schedule(**args), on_trace_ready=handler) as p:
        for _ in range(steps):
            x.exp()
            p.step()
    return fired


@pytest.mark.parametrize("args", SCHEDULES[:4])
def test_scheduled_recordings_and_trace_handler_calls_match_pytorch(args):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _run_scheduled(torch, args, 11)
        ours = _run_scheduled(cr, args, 11)
    assert ours == theirs
    assert ours, "some trace was handed over"


def test_a_recording_in_progress_is_handed_over_at_the_end_of_the_block():
    fired = []
    with profile(schedule=schedule(wait=0, warmup=1, active=5), on_trace_ready=fired.append) as p:
        for _ in range(3):  # steps 0 (warmup), 1, 2 (recording), then the block ends
            cr.ones(1).exp()
            p.step()
    assert fired == [p]
    assert [e.trace_name for e in p.events() if e.name == "ProfilerStep*"] == [
        "ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3"]
    assert _counts(p) == {"ProfilerStep*": 3, "exp": 2}  # step 3 ran no op
    _assert_off()


def test_only_recorded_steps_ops_are_events():
    with profile(schedule=schedule(wait=1, warmup=1, active=1)) as p:
        for i in range(3):
            cr.ones(1).exp() if i != 2 else cr.ones(1).tanh()
            p.step()
            if i == 0:
                assert STATE.profiler is None  # waiting: nothing installed
    counts = _counts(p)
    assert counts.get("tanh") == 1 and "exp" not in counts


def test_tensorboard_trace_handler_writes_one_file_per_trace(tmp_path):
    handler = cr.profiler.tensorboard_trace_handler(str(tmp_path / "logs"), worker_name="w0")
    with profile(schedule=schedule(wait=0, warmup=1, active=1, repeat=2), on_trace_ready=handler) as p:
        for _ in range(6):
            cr.ones(1).exp()
            p.step()
    files = sorted(os.listdir(tmp_path / "logs"))
    assert len(files) == 2
    assert all(f.startswith("w0.") and f.endswith(".pt.trace.json") for f in files)
    for f in files:
        assert "traceEvents" in json.loads((tmp_path / "logs" / f).read_text())
    gz = cr.profiler.tensorboard_trace_handler(str(tmp_path / "gz"), use_gzip=True)
    with profile(on_trace_ready=gz):
        cr.ones(1).exp()
    (name,) = os.listdir(tmp_path / "gz")
    assert name.endswith(".pt.trace.json.gz")
    json.loads(gzip.decompress((tmp_path / "gz" / name).read_bytes()))


# -- on, off, errors ------------------------------------------------------------------------------

def test_nothing_is_recorded_and_the_fast_path_is_back_after_the_block():
    x = cr.randn(3, requires_grad=True)
    with profile() as prof:
        x.exp()
    _assert_off()
    n = len(prof.events())
    x.tanh().sum().backward()
    with record_function("after"):
        x.exp()
    assert len(prof.events()) == n


def test_an_exception_inside_the_block_leaves_the_profiler_off():
    fired = []
    with pytest.raises(ZeroDivisionError):
        with profile(on_trace_ready=fired.append) as prof:
            with record_function("doomed"):
                cr.ones(2).exp()
                raise ZeroDivisionError
    _assert_off()
    assert fired == [prof]
    doomed = next(e for e in prof.events() if e.name == "doomed")
    assert doomed.cpu_time_total >= doomed.cpu_children[0].cpu_time_total
    with profile() as again:  # a new profiler starts cleanly
        cr.ones(2).exp()
    assert _counts(again) == {"exp": 1}


def test_an_exception_inside_an_op_closes_its_event():
    with pytest.raises(Exception) as plain:
        cr.ones(2, 3) + cr.ones(4, 5)
    with profile() as prof:
        with pytest.raises(plain.type):  # the error the op raises without a profiler
            cr.ones(2, 3) + cr.ones(4, 5)
        cr.ones(1).exp()
    events = prof.events()
    assert [e.name for e in events] == ["add", "exp"]
    assert events[1].cpu_parent is None


def test_a_failing_trace_handler_still_turns_the_profiler_off():
    def handler(p):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with profile(on_trace_ready=handler):
            cr.ones(1).exp()
    _assert_off()


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="iterable of ProfilerActivity"):
        profile(activities=ProfilerActivity.CPU)
    with pytest.raises(TypeError, match="ProfilerActivity values"):
        profile(activities=["cpu"])
    with pytest.raises(ValueError, match="no activities"):
        profile(activities=[])
    with pytest.raises(TypeError, match="schedule must be a callable"):
        profile(schedule=3)
    with pytest.raises(TypeError, match="on_trace_ready must be callable"):
        profile(on_trace_ready="handler")
    with pytest.raises(ValueError, match="active=0"):
        schedule(wait=1, warmup=1, active=0)
    with pytest.raises(ValueError, match="wait=-1"):
        schedule(wait=-1, warmup=1, active=1)
    with pytest.raises(TypeError, match="warmup must be an int"):
        schedule(wait=1, warmup=1.5, active=1)
    with pytest.warns(UserWarning, match="warmup"):
        schedule(wait=1, warmup=0, active=1)
    with pytest.raises(TypeError, match="name must be a str"):
        record_function(3)
    with pytest.raises(TypeError, match="must return a ProfilerAction"):
        profile(schedule=lambda step: "RECORD")
    with pytest.raises(RuntimeError, match="nothing was recorded"):
        profile().key_averages()
    with profile():
        with pytest.raises(RuntimeError, match="already recording"):
            with profile():
                pass
    _assert_off()


def test_cuda_activity_is_accepted_and_records_nothing():
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        cr.ones(2).exp()
    assert len(prof.events()) == 0 and prof.key_averages().table() == ""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        cr.ones(2).exp()
    assert _counts(prof) == {"exp": 1}
    assert cr.profiler.supported_activities() == {ProfilerActivity.CPU}


# -- the older API and the torch spellings --------------------------------------------------------

def test_autograd_profiler_is_the_older_api_on_the_same_recorder():
    import chainrule as torch

    assert torch.autograd.profiler.record_function is torch.profiler.record_function
    x = torch.randn(3, 3)
    with torch.autograd.profiler.profile(record_shapes=True) as prof:
        with torch.autograd.profiler.record_function("label"):
            x @ x
    assert {e.name for e in prof.function_events} == {"label", "matmul"}
    assert "matmul" in prof.table(sort_by="self_cpu_time_total")
    assert prof.key_averages().table().count("\n") == 7
    assert prof.self_cpu_time_total > 0
    with torch.autograd.profiler.profile(enabled=False) as off:
        x @ x
    assert len(off.function_events) == 0
    _assert_off()


def test_profiler_action_and_activity_spellings():
    assert {a.name for a in ProfilerAction} == {"NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE"}
    assert ProfilerActivity.CPU in ProfilerActivity
    assert cr.profiler.profile is profile


def test_optimizer_step_and_zero_grad_are_ranges_named_as_pytorch_names_them():
    from chainrule import nn, optim

    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = cr.randn(4, 3)
    with profile() as prof:
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    counts = _counts(prof)
    assert counts["Optimizer.step#SGD.step"] == 1
    assert counts["Optimizer.zero_grad#SGD.zero_grad"] == 1
    torch = pytest.importorskip("torch")
    tm = torch.nn.Linear(3, 2)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    with torch.profiler.profile() as tprof:
        topt.zero_grad()
        tm(torch.randn(4, 3)).sum().backward()
        topt.step()
    theirs = {a.key for a in tprof.key_averages()}
    assert {"Optimizer.step#SGD.step", "Optimizer.zero_grad#SGD.zero_grad"} <= theirs


def test_a_compiled_function_runs_eagerly_and_is_seen_while_profiling():
    @cr.compile
    def f(a, b):
        return (a @ b).tanh()

    a, b = cr.randn(3, 3), cr.randn(3, 3)
    expected = (a @ b).tanh()
    for _ in range(3):
        f(a, b)  # captured and replayed
    with profile() as prof:
        out = f(a, b)
    assert cr.allclose(out, expected)
    assert _counts(prof) == {"matmul": 1, "tanh": 1}
    _assert_off()
    assert cr.allclose(f(a, b), expected)


def test_top_level_events_only_leaves_out_what_runs_inside_a_range():
    with profile() as prof:
        with record_function("outer"):
            cr.ones(2).exp()
        cr.ones(2).tanh()
    rows = _rows(prof.key_averages().table(top_level_events_only=True))
    assert sorted(r.split()[0] for r in rows) == ["outer", "tanh"]


def test_total_average_adds_up_the_flops_too():
    # two (8 × 16)·(16 × 4) products: 2·8·16·4 = 1024 multiply-adds counted as flops each
    a, b = cr.randn(8, 16), cr.randn(16, 4)
    with cr.profiler.profile(with_flops=True) as prof:
        a @ b
        a @ b
    for events in (prof.key_averages(), prof.events()):
        total = events.total_average()
        assert total.key == "Total" and total.count == 2
        assert total.flops == 2 * (2 * 8 * 16 * 4)
