"""Compiled mode benchmark (issue 14): a whole training step, eager and compiled, beside its yardsticks.

For each workload — w1-w4 (``bench_w*.py``, built by their own ``build``) and w5 (bench_core's
chain: 50 × (mul, add, tanh) on 10 elements, then ``sum().backward()``) — one process, the same
threads, alternating rounds as ``_harness.compare`` does, and the median steps/s of (beside it,
the ratio of the fastest rounds, each entrant's best against PyTorch's best):

* PyTorch eager (the reference: every ratio is "/ PyTorch eager");
* chainrule eager;
* chainrule compiled: ``cstep = chainrule.compile(step)``, ``step`` being the WHOLE training step
  (``opt.zero_grad(); loss = loss_fn(); loss.backward(); opt.step(); return loss``). Its first
  calls capture (once without gradients, once with), and a plan is generated at its first replay;
  ``chainrule.compile(step)`` and the first three calls are timed on their own and reported as the
  compile time. Before anything is timed, the compiled step's first losses, and the
  parameters and their gradients after them, must agree with the eager step's (``--rtol``);
  otherwise it is reported as WRONG and not timed. Where ``chainrule.compile`` is missing or
  raises, the row reads "n/a (reason)" and the rest runs. Warnings raised by its first calls (a
  fallback to eager) are shown beside its row;
* w1, w2: the hand-written NumPy step of ``numpy_steps.py`` (no framework);
* w1, w2, w5: JAX's ``jax.jit`` of the whole step (``value_and_grad`` and the same optimiser
  update in ``jax.numpy``, parameters and optimiser state as a pytree, float32), with
  ``jax.block_until_ready`` on the step's results every step; its compile time is its first call.

Every entrant starts from PyTorch's initial parameters (chainrule's when PyTorch is missing), and
each one's first loss is checked against chainrule eager's before the timing.

Threads: the harness's ``bench_threads()`` (chainrule's intra-op count) for all; ``torch.set_num_threads``
with it. JAX has no thread-count setting that its CPU client still reads, so with fewer threads than
cores the whole process is pinned to that many cores before anything runs (``configure_jax``);
with as many threads as cores there is nothing to limit.

``--memory`` also measures the peak resident set (VmHWM) of chainrule eager and compiled, each
in a child process running 20 steps of the workload alone (``_harness.measure_peak_mib``).

Run: ``python bench/bench_compile.py [--workloads w1,w5] [--seconds 2] [--rounds 5]
[--json out.json] [--memory]``. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_core  # noqa: E402
import bench_w1_mlp  # noqa: E402
import bench_w2_mlp  # noqa: E402
import bench_w3_lenet  # noqa: E402
import bench_w4_lstm  # noqa: E402
import numpy_steps  # noqa: E402
from _harness import _params_of, _time_round, bench_threads, framework, have_torch, measure_peak_mib, mem_child  # noqa: E402

SCRIPT = os.path.abspath(__file__)
CHECK_STEPS = 3  # eager and compiled steps compared before the timing
MATCH_RTOL = 1e-4  # first loss of another framework against chainrule eager's (as _harness.matched_steps)

TORCH, CR_EAGER, CR_COMPILED, NUMPY, JAX = (
    "PyTorch eager", "chainrule eager", "chainrule compiled", "NumPy by hand", "JAX jit")


# ---- w5: bench_core's chain as a workload with build(nn, optim, as_tensor) ------------------------
class _GradsOnly:
    """w5's "optimiser": bench_core's step clears the gradients and updates nothing."""

    def __init__(self, params: list) -> None:
        self.param_groups = [{"params": params}]

    def zero_grad(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self) -> None:
        pass


def _w5_arrays() -> list:
    """bench_core.make_cr_step's x, w, b (same generator, same draws, float32)."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal(10).astype(np.float32) for _ in range(3)]


def build_w5(nn: Any, optim: Any, as_tensor: Callable) -> tuple:
    """bench_core's model: h = x; 50 × h = tanh(h w + b); loss = Σ h; gradients for x, w and b."""
    x, w, b = (as_tensor(a).requires_grad_() for a in _w5_arrays())

    def loss() -> Any:
        h = x
        for _ in range(bench_core.DEPTH):
            h = (h * w + b).tanh()
        return h.sum()

    return loss, _GradsOnly([x, w, b])


WORKLOADS: dict[str, tuple] = {
    "w1": (bench_w1_mlp, bench_w1_mlp.build, "MLP 13-32-32-1, BCEWithLogits, batch 64, Adam"),
    "w2": (bench_w2_mlp, bench_w2_mlp.build, "MLP 784-512-512-10, CrossEntropy, batch 128, SGD momentum 0.9"),
    "w3": (bench_w3_lenet, bench_w3_lenet.build, "LeNet-5, batch 64x1x28x28, CrossEntropy, SGD momentum 0.9"),
    "w4": (bench_w4_lstm, bench_w4_lstm.build, "Embedding(65,64)-LSTM(64,256)-Linear(256,65), batch 32x64, Adam"),
    "w5": (bench_core, build_w5, "50 x (mul, add, tanh) on 10 elements + sum().backward()"),
}
NUMPY_STEPS = {"w1": numpy_steps.W1Adam, "w2": numpy_steps.W2SGD}


def train_step(loss_fn: Callable, opt: Any) -> Callable[[], Any]:
    """The whole training step as one function (what ``chainrule.compile`` is given)."""

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss

    return step


def _compiled_step(loss_fn: Callable, opt: Any) -> Callable[[], Any]:
    """The compiled training step; a workload whose loss draws its next batch itself (w4)
    exposes ``loss_fn.of(x, y)`` and ``loss_fn.batches``, and the batch is passed in."""
    of = getattr(loss_fn, "of", None)
    if of is None:
        return _compile(train_step(loss_fn, opt))
    batches = loss_fn.batches

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = of(x, y)
        loss.backward()
        opt.step()
        return loss

    cstep = _compile(step)
    return lambda: cstep(*next(batches))


def _loss_value(loss: Any) -> float:
    return float(loss.item()) if hasattr(loss, "item") else float(loss)


def _build_chainrule(build: Callable, initial: list | None) -> tuple:
    """(loss_fn, optimizer) of chainrule, its parameters set to ``initial`` when given."""
    import chainrule as cr

    loss_fn, opt = build(*framework("chainrule"))
    if initial is not None:
        with cr.no_grad():
            for p, a in zip(_params_of(opt), initial):
                p.copy_(cr.tensor(a.copy()))
    return loss_fn, opt


def _compile(step: Callable) -> Callable:
    import chainrule as cr

    compile_fn = getattr(cr, "compile", None)
    if compile_fn is None:
        raise NotImplementedError("chainrule.compile does not exist yet")
    return compile_fn(step)


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:160] if not isinstance(e, NotImplementedError) else text


# ---- JAX ---------------------------------------------------------------------------------------
def configure_jax(threads: int) -> str:
    """Set JAX's environment before its first import: CPU, and no more cores than ``threads``.

    XLA's CPU client no longer reads ``--xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=1`` (jax 0.10: a 1024² product ran at 190-210 GFLOP/s with
    them on a 2-core machine, where one core peaks near 100), so with fewer threads than cores
    the whole process is pinned to ``threads`` cores (Linux's ``sched_setaffinity``): every
    framework then runs on the same cores, and XLA cannot take more."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    cores = os.cpu_count() or 1
    if threads < cores and hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, allowed)
        return f"JAX: the process is pinned to cores {allowed} (XLA would use all {cores} otherwise)"
    if threads < cores:
        return f"JAX: note: XLA's CPU pool uses the machine's {cores} cores; it cannot be limited to {threads} here"
    return f"JAX: XLA's CPU pool, {cores} cores = {threads} threads"


def have_jax() -> bool:
    try:
        import jax  # noqa: F401

        return True
    except ImportError:
        return False


class JaxStep:
    """``fn(state, *data) -> (state, loss)`` jitted; each call runs one step and waits for all its results."""

    def __init__(self, fn: Callable, state: Any, data: tuple) -> None:
        import jax

        self._jax = jax
        self.fn = jax.jit(fn)
        self.state = jax.device_put(state)
        self.data = tuple(jax.device_put(d) for d in data)

    def __call__(self) -> Any:
        out = self._jax.block_until_ready(self.fn(self.state, *self.data))
        self.state = out[0]
        return out[1]


def _jax_mlp(params: list, x: Any) -> Any:
    """Linear layers (W (out, in), b) with ReLU between them, as the workloads' nn.Sequential."""
    import jax

    h = x
    n = len(params) // 2
    for i in range(n):
        h = h @ params[2 * i].T + params[2 * i + 1]
        if i < n - 1:
            h = jax.nn.relu(h)
    return h


def jax_w1(initial: list, x: np.ndarray, y: np.ndarray, lr: float = 1e-3,
           betas: tuple = (0.9, 0.999), eps: float = 1e-8) -> JaxStep:
    """w1 in JAX: BCE on logits (mean), Adam as PyTorch's (bias-corrected), state (params, M, S, t)."""
    import jax
    import jax.numpy as jnp

    b1, b2 = betas

    def loss_fn(params: list, x: Any, y: Any) -> Any:
        z = _jax_mlp(params, x)
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def step(state: tuple, x: Any, y: Any) -> tuple:
        params, m, v, t = state
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        params = jax.tree.map(lambda p, m, v: p - (lr / bc1) * m / (jnp.sqrt(v) / jnp.sqrt(bc2) + eps), params, m, v)
        return (params, m, v, t), loss

    params = [jnp.asarray(a, jnp.float32) for a in initial]
    zeros = [jnp.zeros_like(p) for p in params]
    state = (params, zeros, list(zeros), jnp.zeros((), jnp.float32))
    return JaxStep(step, state, (x.astype(np.float32), y.astype(np.float32)))


def jax_w2(initial: list, x: np.ndarray, y: np.ndarray, lr: float = 0.01, momentum: float = 0.9) -> JaxStep:
    """w2 in JAX: cross-entropy (mean), SGD with momentum as PyTorch's (v starts at 0: μ·0 + g = g)."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params: list, x: Any, y: Any) -> Any:
        logp = jax.nn.log_softmax(_jax_mlp(params, x), axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(state: tuple, x: Any, y: Any) -> tuple:
        params, v = state
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        v = jax.tree.map(lambda v, g: momentum * v + g, v, g)
        params = jax.tree.map(lambda p, v: p - lr * v, params, v)
        return (params, v), loss

    params = [jnp.asarray(a, jnp.float32) for a in initial]
    state = (params, [jnp.zeros_like(p) for p in params])
    return JaxStep(step, state, (x.astype(np.float32), y.astype(np.int32)))


def jax_w5(initial: list) -> JaxStep:
    """w5 in JAX: the loss and its gradients for x, w and b (bench_core's step updates nothing)."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params: tuple) -> Any:
        h, w, b = params
        for _ in range(bench_core.DEPTH):
            h = jnp.tanh(h * w + b)
        return jnp.sum(h)

    def step(state: tuple) -> tuple:
        params, _ = state
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return (params, grads), loss

    params = tuple(jnp.asarray(a, jnp.float32) for a in initial)
    return JaxStep(step, (params, params), ())


JAX_STEPS = {
    "w1": lambda module, initial: jax_w1(initial, *module._data()),
    "w2": lambda module, initial: jax_w2(initial, *module._data()),
    "w5": lambda module, initial: jax_w5(initial),
}


# ---- one workload ------------------------------------------------------------------------------
class Entrant:
    """One framework's step in the race, with what the table reports about it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.step: Callable[[], Any] | None = None
        self.status = "ok"  # or "n/a", "WRONG"
        self.note = ""
        self.compile_time_s: float | None = None
        self.rates: list[float] = []
        self.peak_mib: float | None = None
        self.mem_measured = False

    def fail(self, status: str, note: str) -> None:
        self.status, self.note, self.step = status, note, None
        print(f"  {self.name}: {status} ({note})", flush=True)


def _first_call(step: Callable[[], Any]) -> tuple:
    t0 = time.perf_counter()
    loss = _loss_value(step())
    return loss, time.perf_counter() - t0


def _check_first_loss(e: Entrant, loss: float, want: float) -> None:
    if not np.isclose(loss, want, rtol=MATCH_RTOL, atol=0.0):
        e.fail("WRONG", f"first loss {loss!r}, chainrule eager {want!r}: not timed")


def _snapshot(opt: Any) -> list:
    """The parameters and their gradients (None where a parameter has none), as host arrays."""
    params = _params_of(opt)
    return [p.detach().numpy().copy() for p in params] + [
        None if p.grad is None else p.grad.detach().numpy().copy() for p in params]


def _setup_compiled(e: Entrant, build: Callable, initial: list | None, eager_losses: list,
                    eager_state: list, rtol: float) -> None:
    """Compile a fresh chainrule step; its first CHECK_STEPS losses, and the parameters and
    gradients after them, must agree with the eager step's, else it is not timed."""
    try:
        loss_fn, opt = _build_chainrule(build, initial)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            cstep = _compiled_step(loss_fn, opt)
            t_compile = time.perf_counter() - t0
            first, t_first = _first_call(cstep)
            second, t_second = _first_call(cstep)
            third, t_third = _first_call(cstep)
            # chainrule.compile(step) and the calls until a plan has replayed once: a training step
            # captures twice (without gradients, then with), and a plan is generated at its first replay
            e.compile_time_s = t_compile + t_first + t_second + t_third
            losses = [first, second, third] + [_loss_value(cstep()) for _ in range(CHECK_STEPS - 3)]
        state = _snapshot(opt)
    except Exception as exc:  # the lead's code lands later: report and go on
        e.fail("n/a", _reason(exc))
        return
    if caught:
        e.note = "warned: " + "; ".join(sorted({str(w.message).splitlines()[0][:100] for w in caught}))
        print(f"  {e.name}: {e.note}", flush=True)
    n = len(state) // 2
    if not np.allclose(losses, eager_losses, rtol=rtol, atol=0.0):
        e.fail("WRONG", f"losses {losses} vs eager {eager_losses}: not timed")
        return
    for i, (a, b) in enumerate(zip(state, eager_state)):
        what = f"parameter {i}" if i < n else f"the gradient of parameter {i - n}"
        if (a is None) != (b is None):
            e.fail("WRONG", f"{what} is {'None' if a is None else 'set'} after the compiled steps, "
                            f"{'None' if b is None else 'set'} after eager's: not timed")
            return
        if a is not None and not np.allclose(a, b, rtol=rtol, atol=rtol * 0.1):
            worst = float(np.max(np.abs(a - b)))
            e.fail("WRONG", f"{what} after {CHECK_STEPS} steps differs from eager's (max |diff| {worst:.3g}): "
                            "not timed")
            return
    e.step = cstep


def run_workload(key: str, threads: int, rounds: int, seconds: float, rtol: float, memory: bool,
                 use_jax: bool) -> dict:
    module, build, title = WORKLOADS[key]
    print(f"\n{key}: {title}  (threads {threads}; {rounds} rounds of {seconds:g} s)", flush=True)
    entrants = {name: Entrant(name) for name in (TORCH, CR_EAGER, CR_COMPILED)}
    if key in NUMPY_STEPS:
        entrants[NUMPY] = Entrant(NUMPY)
    if key in JAX_STEPS:
        entrants[JAX] = Entrant(JAX)

    # PyTorch first: its initial parameters are everybody's
    initial = None
    if have_torch():
        import torch

        torch.set_num_threads(threads)
        t_fn, t_opt = build(*framework("torch"))
        initial = [p.detach().numpy().copy() for p in _params_of(t_opt)]
        entrants[TORCH].step = train_step(t_fn, t_opt)
    else:
        entrants[TORCH].fail("n/a", "PyTorch not installed: no ratios")

    # chainrule eager: the reference losses of the first steps
    loss_fn, opt = _build_chainrule(build, initial)
    if initial is None:
        initial = [p.detach().numpy().copy() for p in _params_of(opt)]
    eager = entrants[CR_EAGER]
    eager.step = train_step(loss_fn, opt)
    eager_losses = [_loss_value(eager.step()) for _ in range(CHECK_STEPS)]
    eager_state = _snapshot(opt)

    if entrants[TORCH].step is not None:
        loss = _loss_value(entrants[TORCH].step())
        if not np.isclose(loss, eager_losses[0], rtol=MATCH_RTOL):
            raise RuntimeError(f"{key}: PyTorch's first loss {loss} and chainrule's {eager_losses[0]} disagree")

    _setup_compiled(entrants[CR_COMPILED], build, initial, eager_losses, eager_state, rtol)

    if NUMPY in entrants:
        ns = NUMPY_STEPS[key]([a.copy() for a in initial], *module._data())
        entrants[NUMPY].step = ns.step
        _check_first_loss(entrants[NUMPY], ns.step(), eager_losses[0])

    if JAX in entrants:
        if not use_jax:
            entrants[JAX].fail("n/a", "jax is not installed (pip install jax)")
        else:
            try:
                js = JAX_STEPS[key](module, [a.copy() for a in initial])
                loss, entrants[JAX].compile_time_s = _first_call(js)
                entrants[JAX].step = js
                _check_first_loss(entrants[JAX], loss, eager_losses[0])
            except Exception as exc:
                entrants[JAX].fail("n/a", _reason(exc))

    racing = [e for e in entrants.values() if e.step is not None]
    for e in racing:  # warm up
        for _ in range(3):
            e.step()  # type: ignore[misc]
    for _ in range(rounds):
        for e in racing:
            if e.step is None:
                continue
            try:
                e.rates.append(_time_round(e.step, seconds))
            except Exception as exc:
                e.fail("n/a", f"raised while timed: {_reason(exc)}")
                e.rates = []

    if memory:
        for e, kind in ((eager, "eager"), (entrants[CR_COMPILED], "compiled")):
            if e.status == "ok":
                e.peak_mib = measure_peak_mib(SCRIPT, f"{kind}:{key}")
                e.mem_measured = True
    return _report(key, title, threads, list(entrants.values()))


def _report(key: str, title: str, threads: int, entrants: list) -> dict:
    rates = {e.name: statistics.median(e.rates) for e in entrants if e.rates}
    ref = rates.get(TORCH)
    # the fastest round of each entrant: the machine's speed for it, where a VM's slow phase
    # caught some rounds of one entrant and not of another (the median reads the phases)
    bests = {e.name: max(e.rates) for e in entrants if e.rates}
    best_ref = bests.get(TORCH)
    print(f"  {'framework':<20} {'steps/s':>10} {'/ PyTorch eager':>16} {'best rounds':>12} "
          f"{'compile time':>13} {'peak RSS':>10}")
    figures: dict[str, dict] = {}
    for e in entrants:
        rate = rates.get(e.name)
        ratio = rate / ref if rate is not None and ref else None
        best = bests[e.name] / best_ref if e.name in bests and best_ref else None
        figures[e.name] = {
            "status": e.status if rate is not None or e.status != "ok" else "n/a",
            "steps_per_s": rate, "ratio_to_pytorch_eager": ratio, "round_steps_per_s": e.rates,
            "best_ratio_to_pytorch_eager": best,
            "compile_time_s": e.compile_time_s, "peak_mib": e.peak_mib, "note": e.note,
        }
        if rate is None:
            print(f"  {e.name:<20} {e.status} ({e.note})")
            continue
        ct = f"{e.compile_time_s:.3f} s" if e.compile_time_s is not None else ""
        mem = f"{e.peak_mib:.0f} MiB" if e.peak_mib is not None else ("n/a" if e.mem_measured else "")
        rt = f"{ratio:.2f}" if ratio is not None else "-"
        bt = f"{best:.2f}" if best is not None else "-"
        note = f"  ({e.note})" if e.note else ""
        print(f"  {e.name:<20} {rate:>10.1f} {rt:>16} {bt:>12} {ct:>13} {mem:>10}" + note)
    sys.stdout.flush()
    return {"title": title, "threads": threads, "frameworks": figures}


# ---- the --mem child: peak RSS of chainrule eager or compiled alone ---------------------------
def _mem_child(what: str, steps: int) -> None:
    kind, key = what.split(":")
    _, build, _ = WORKLOADS[key]

    def make_step() -> Callable[[], Any]:
        loss_fn, opt = _build_chainrule(build, None)
        return _compiled_step(loss_fn, opt) if kind == "compiled" else train_step(loss_fn, opt)

    mem_child(make_step, steps)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "--mem":  # the child of measure_peak_mib: --mem KIND:WORKLOAD [N]
        _mem_child(argv[1], int(argv[2]) if len(argv) > 2 else 20)
        return {}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="w1,w2,w3,w4,w5", help="comma-separated, of w1..w5")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timed round (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--rtol", type=float, default=1e-5,
                        help="compiled vs eager: tolerance on the first losses and parameters (default 1e-5)")
    parser.add_argument("--memory", action="store_true", help="peak RSS of chainrule eager and compiled (children)")
    parser.add_argument("--json", metavar="PATH", help="write all figures to PATH")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")

    threads = bench_threads()
    jax_note = configure_jax(threads)
    use_jax = have_jax()
    print(jax_note if use_jax else "JAX: not installed: its rows are skipped (pip install jax)", flush=True)
    results = {key: run_workload(key, threads, args.rounds, args.seconds, args.rtol, args.memory, use_jax)
               for key in keys}
    out = {
        "threads": threads, "rounds": args.rounds, "seconds": args.seconds, "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
        "torch": _version("torch"), "jax": _version("jax") if use_jax else None, "workloads": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nfigures written to {args.json}")
    return out


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


if __name__ == "__main__":
    main()
