"""torch.utils.benchmark (chainrule.utils.benchmark): Timer, Measurement, Compare — with fake
clocks, so that every number is known in advance."""

import inspect
import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.benchmark import Compare, Measurement, TaskSpec, Timer, select_unit, trim_sigfig


def _clock():
    """A clock that the statement advances: stmt 'tick()' moves it by the next step."""
    state = {"now": 0.0}

    def now():
        return state["now"]

    return state, now


def _ticking_timer(steps, **kwargs):
    state, now = _clock()
    cycle = itertools.cycle(steps)

    def tick():
        state["now"] += next(cycle)

    return Timer("tick()", timer=now, globals={"tick": tick}, **kwargs)


def test_timeit_one_measurement_of_number_runs():
    t = _ticking_timer([2e-6], label="tick")
    m = t.timeit(500)
    assert m.number_per_run == 500 and len(m.raw_times) == 1
    assert m.raw_times[0] == pytest.approx(500 * 2e-6)
    assert m.times == [pytest.approx(2e-6)] and m.median == pytest.approx(2e-6) and m.mean == pytest.approx(2e-6)
    assert inspect.signature(Timer.timeit).parameters["number"].default == 1000000


def test_blocked_autorange_block_size_and_total_time():
    # overhead: an empty block takes 0, floored at 1e-9 s; blocks of 1, 10, 100 runs at 1 µs each
    # have an overhead above 1e-4 or last under min_run_time / 1000, 1000 runs (1 ms) do not
    m = _ticking_timer([1e-6]).blocked_autorange(min_run_time=0.2)
    assert m.number_per_run == 1000
    assert sum(m.raw_times) >= 0.2 and sum(m.raw_times[:-1]) < 0.2
    assert len(m.raw_times) in (200, 201)  # (the float sum of 200 blocks may land just below 0.2)
    assert m.median == pytest.approx(1e-6) and m.iqr == pytest.approx(0, abs=1e-15)
    assert m.significant_figures == 1  # IQR 0: the 25 ns floor of the interval, log10(1 µs / 25 ns) = 1.6
    calls = []
    _ticking_timer([1e-3]).blocked_autorange(callback=lambda n, t: calls.append((n, t)), min_run_time=0.005)
    assert [n for n, _ in calls] == [1] * len(calls) and sum(t for _, t in calls) >= 0.005


def test_adaptive_autorange_stops_on_small_spread():
    m = _ticking_timer([1e-6]).adaptive_autorange(threshold=0.1, min_run_time=0.01)
    assert len(m.raw_times) >= 4 and sum(m.raw_times) >= 0.01
    # a spread that never falls under the threshold runs until max_run_time
    varying = _ticking_timer([1e-6 * k for k in range(1, 8)])  # blocks of 100 runs differ a little
    m2 = varying.adaptive_autorange(threshold=1e-9, min_run_time=0.001, max_run_time=0.05)
    assert sum(m2.raw_times) > 0.05 and sum(m2.raw_times[:-1]) <= 0.05


def test_repeat_and_autorange_are_not_provided_as_in_pytorch():
    t = Timer()
    with pytest.raises(NotImplementedError, match="blocked_autorange"):
        t.repeat()
    with pytest.raises(NotImplementedError, match="blocked_autorange"):
        t.autorange()


def test_timer_arguments():
    with pytest.raises(ValueError, match="str"):
        Timer(stmt=lambda: None)
    with pytest.raises(ValueError, match="C\\+\\+ only"):
        Timer(global_setup="#include <x>")
    with pytest.raises(ValueError, match="Invalid language"):
        Timer(language="fortran")
    t = Timer("y = torch.ones(2) + x", setup="""
        x = 1
        """, globals={"x": 3}, num_threads=2)
    assert t._task_spec.setup == "x = 1" and t._task_spec.num_threads == 2
    assert t._globals["torch"] is cr
    before = cr.get_num_threads()
    t.timeit(3)
    assert cr.get_num_threads() == before


def test_measurement_statistics():
    raw = [4.0, 1.0, 3.0, 2.0, 10.0, 6.0, 5.0, 8.0]
    m = Measurement(number_per_run=2, raw_times=raw, task_spec=TaskSpec("f()", "pass", label="f"))
    per_run = np.array(raw) / 2
    assert m.times == list(per_run)
    assert m.mean == pytest.approx(per_run.mean())
    assert m.median == pytest.approx(np.percentile(per_run, 50))
    assert m.iqr == pytest.approx(np.percentile(per_run, 75) - np.percentile(per_run, 25))
    # interquartile points (sorted 2..8): 1.5, 2, 2.5, 3 -> σ = 0.559, interval 1.645σ/2 = 0.46, median 2.75
    assert m.significant_figures == 1
    assert m.has_warnings and not m.meets_confidence(0.1)
    assert m.label == "f" and m.stmt == "f()" and m.num_threads == 1 and m.env is None
    tight = Measurement(1, [1.0 + 1e-6 * i for i in range(8)], TaskSpec("g()", "pass"))
    assert tight.significant_figures == 4 and not tight.has_warnings
    assert Measurement.merge([m, m])[0].times == m.times * 2


def test_units():
    assert select_unit(5e-9) == ("ns", 1e-9) and select_unit(5e-6) == ("us", 1e-6)
    assert select_unit(5e-3) == ("ms", 1e-3) and select_unit(5.0) == ("s", 1)
    assert trim_sigfig(3.14159, 2) == pytest.approx(3.1) and trim_sigfig(1234.5, 3) == pytest.approx(1230)


def test_repr_layout():
    spec = TaskSpec("x + 1", "x = 2", label="add", sub_label="int", description="n=1")
    m = Measurement(100, [1e-4, 2e-4, 4e-4, 8e-4], spec)  # 1, 2, 4, 8 µs per run
    lines = repr(m).splitlines()
    assert lines[0].startswith("<chainrule.utils.benchmark.common.Measurement object at 0x")
    assert lines[1:] == ["add: int", "n=1", "setup: x = 2", "  Median: 3.00 us", "  IQR:    3.25 us (1.75 to 5.00)",
                         "  4 measurements, 100 runs per measurement, 1 thread",
                         "  WARNING: Interquartile range is 108.3% of the median measurement.",
                         "           This suggests significant environmental influence."]
    one = Measurement(10, [5e-3], TaskSpec("f()", "pass"))
    assert repr(one).splitlines()[1:] == ["f()", "  500.00 us", "  1 measurement, 10 runs , 1 thread"]


def _measurements(lib_common):
    out = []
    for label, sub, desc, base in (("op", "a", "n=1", 1e-6), ("op", "a", "n=2", 2e-6), ("op", "b", "n=1", 5e-6),
                                   ("other", "c", "n=1", 3e-3)):
        spec = lib_common.TaskSpec(f"f({sub})", "pass", label=label, sub_label=sub, description=desc)
        out.append(lib_common.Measurement(10, [base * 10 * (1 + 0.01 * i) for i in range(8)], spec))
    return out


def test_compare_table():
    from chainrule.utils.benchmark import common

    c = Compare(_measurements(common))
    text = str(c)
    assert text.splitlines()[:5] == ["[--------- op --------]", "         |  n=1  |  n=2", "1 threads: ------------",
                                     "      a  |  1.0  |  2.1", "      b  |  5.2  |     "]
    assert "Times are in microseconds (us)." in text and "Times are in milliseconds (ms)." in text
    with pytest.raises(ValueError, match="Measurement"):
        Compare([1.0])


def test_against_torch():
    torch = pytest.importorskip("torch")
    from torch.utils import benchmark as tb
    from torch.utils.benchmark.utils import common as tcommon

    from chainrule.utils.benchmark import common

    for name in ("timeit", "blocked_autorange", "adaptive_autorange", "repeat", "autorange"):
        theirs, ours = inspect.signature(getattr(tb.Timer, name)), inspect.signature(getattr(Timer, name))
        assert [(p.name, p.default, p.kind) for p in theirs.parameters.values()] == \
            [(p.name, p.default, p.kind) for p in ours.parameters.values()], name
    assert [p for p in inspect.signature(tb.Timer.__init__).parameters if p != "timer"] == \
        [p for p in inspect.signature(Timer.__init__).parameters if p != "timer"]
    # the same fake clock: the same block size and number of blocks
    for steps in ([1e-6], [1e-4, 3e-4]):
        st, now = _clock()
        cyc = itertools.cycle(steps)

        def tick():
            st["now"] += next(cyc)  # noqa: B023

        theirs = tb.Timer("tick()", timer=now, globals={"tick": tick}).blocked_autorange(min_run_time=0.05)
        ours = _ticking_timer(steps).blocked_autorange(min_run_time=0.05)
        assert theirs.number_per_run == ours.number_per_run
        assert len(theirs.raw_times) == len(ours.raw_times)
    # statistics, repr and the Compare table from the same raw times
    rng = np.random.default_rng(0)
    for n in (1, 3, 4, 9, 30):
        raw = list(rng.uniform(1e-5, 3e-5, n))
        spec_args = dict(stmt="x + y", setup="x = 1\ny = 2", label="L", sub_label="s", description="d", num_threads=4)
        t = tcommon.Measurement(7, raw, tcommon.TaskSpec(**spec_args))
        o = common.Measurement(7, raw, common.TaskSpec(**spec_args))
        for attr in ("mean", "median", "iqr"):
            assert getattr(o, attr) == pytest.approx(getattr(t, attr), rel=1e-12), attr
        assert o.significant_figures == t.significant_figures and o.has_warnings == t.has_warnings
        assert repr(o).splitlines()[1:] == repr(t).splitlines()[1:]
    theirs_c, ours_c = tb.Compare(_measurements(tcommon)), Compare(_measurements(common))
    assert str(ours_c) == str(theirs_c)
    for c in (theirs_c, ours_c):
        c.trim_significant_figures()
        c.colorize()
        c.highlight_warnings()
    assert str(ours_c) == str(theirs_c)
    del torch
