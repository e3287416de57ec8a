"""Shared benchmark harness: chainrule's steps/s beside PyTorch's, same process, same threads.

Benchmarks are not tests.  A workload script (``bench/bench_w*.py``) writes its
model once, ``build(nn, optim, as_tensor) -> (loss_fn, optimizer)``, and
:func:`run_workload` builds it with chainrule and with PyTorch (when installed)
and times a training step of each; ``bench_core.py`` gives its own step closures
to :func:`main` / :func:`compare`.  Timing alternates the two frameworks in rounds so that
machine noise hits both; the figure reported is the median round.  Rounds last two
seconds: PyTorch's first steps after each switch are slower, and short rounds
favour chainrule (w4, same code, same hour: 0.5-s rounds 1.09, 1 s 0.94-1.01,
2 s and 4 s 0.90-0.99); a round should show each framework running steadily, as
in training.
Peak memory is measured in a child process per framework (its peak resident
set size, VmHWM, after running the steps: interpreter and library included),
because both frameworks share this one.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np


def bench_threads() -> int:
    """The thread count both frameworks get: chainrule's intra-op setting (``set_num_threads``, else
    ``OMP_NUM_THREADS`` & co., else the cores).  Not NumPy's BLAS count: once a oneDNN layer has
    run, chainrule leaves BLAS one thread and gives the cores to oneDNN, so reading BLAS's count
    after a first step gave PyTorch one thread against chainrule's two."""
    import chainrule as cr

    return cr.get_num_threads()


def have_torch() -> bool:
    try:
        import torch  # noqa: F401

        return True
    except ImportError:
        return False


SETTLE_S = 0.5  # untimed steps before every timed round


def _time_round(step: Callable[[], None], seconds: float) -> float:
    """Steps/s over ``seconds``, after ``SETTLE_S`` of untimed steps: the other framework's
    threads (OpenBLAS's worker spins for 0.1-0.2 s after its last call) must have gone quiet
    before this one is timed, or it is timed while competing with them (issue 13)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < SETTLE_S:
        step()
    n = 0
    t0 = time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def measure_peak_mib(script: str, framework: str, steps: int = 20) -> float | None:
    """Run ``script --mem FRAMEWORK`` in a child process; it reports its peak-RSS growth in MiB."""
    try:
        out = subprocess.run(
            [sys.executable, script, "--mem", framework, str(steps)],
            capture_output=True, text=True, timeout=600, check=True,
        ).stdout
        return float(json.loads(out.strip().splitlines()[-1])["peak_mib"])
    except Exception:
        return None


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss would include the forking parent's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mem_child(make_step: Callable[[], Callable[[], None]], steps: int) -> None:
    """Body of the ``--mem`` child: build the step, run it, print the peak RSS (MiB) as JSON."""
    before = _peak_rss_kib()
    step = make_step()
    for _ in range(steps):
        step()
    after = _peak_rss_kib()
    print(json.dumps({"peak_mib": round(after / 1024.0, 1), "growth_mib": round((after - before) / 1024.0, 1)}))


def compare(
    name: str,
    make_cr_step: Callable[[], Callable[[], None]],
    make_torch_step: Callable[[], Callable[[], None]] | None,
    target: float | None = None,
    rounds: int = 5,
    seconds: float = 2.0,
    script: str | None = None,
) -> dict:
    """Time both frameworks and print one line each plus the ratio chainrule/PyTorch."""
    threads = bench_threads()
    cr_step = make_cr_step()
    torch_step = None
    if make_torch_step is not None and have_torch():
        import torch

        torch.set_num_threads(threads)
        torch_step = make_torch_step()
    for _ in range(3):  # warm up
        cr_step()
        if torch_step:
            torch_step()
    cr_rates, torch_rates = [], []
    for _ in range(rounds):
        cr_rates.append(_time_round(cr_step, seconds))
        if torch_step:
            torch_rates.append(_time_round(torch_step, seconds))
    result = {"name": name, "threads": threads, "chainrule_steps_per_s": statistics.median(cr_rates)}
    line = f"{name}: chainrule {result['chainrule_steps_per_s']:.1f} steps/s"
    if torch_step:
        result["torch_steps_per_s"] = statistics.median(torch_rates)
        result["ratio"] = result["chainrule_steps_per_s"] / result["torch_steps_per_s"]
        line += f" | PyTorch {result['torch_steps_per_s']:.1f} steps/s | ratio {result['ratio']:.2f}"
        if target is not None:
            line += f" (target >= {target})"
    else:
        line += " | PyTorch not installed: no ratio"
    if script is not None:
        result["chainrule_peak_mib"] = measure_peak_mib(script, "chainrule")
        if torch_step:
            result["torch_peak_mib"] = measure_peak_mib(script, "torch")
        line += f" | peak RSS chainrule {result['chainrule_peak_mib']} MiB"
        if torch_step:
            line += f", PyTorch {result.get('torch_peak_mib')} MiB"
    line += f" | threads {threads}"
    print(line, flush=True)
    return result


def main(name: str, make_cr_step, make_torch_step, target: float | None = None, script: str | None = None) -> None:
    """Entry point for a bench script: ``--mem FRAMEWORK N`` runs the memory child, else compares."""
    if len(sys.argv) >= 3 and sys.argv[1] == "--mem":
        steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
        if sys.argv[2] == "torch":
            import torch

            torch.set_num_threads(bench_threads())
            mem_child(make_torch_step, steps)
        else:
            mem_child(make_cr_step, steps)
        return
    compare(name, make_cr_step, make_torch_step, target=target, script=script)


def framework(name: str) -> tuple:
    """(nn, optim, as_tensor) of ``name`` ('chainrule' or 'torch'), seeded with manual_seed(0).

    The workloads are written once against this triple: chainrule's API is PyTorch's, so the
    same model code runs on both sides."""
    if name == "torch":
        import torch

        torch.manual_seed(0)
        return torch.nn, torch.optim, torch.from_numpy
    import chainrule as cr
    from chainrule import nn, optim

    cr.manual_seed(0)
    return nn, optim, cr.tensor


def step_maker(name: str, build: Callable) -> Callable[[], Callable[[], None]]:
    """make_step for one framework: ``build(nn, optim, as_tensor)`` returns (loss_fn, optimizer),
    where ``loss_fn()`` computes the loss of the next batch; a step is zero_grad, backward, step."""

    def make_step() -> Callable[[], None]:
        loss_fn, opt = build(*framework(name))

        def step() -> None:
            opt.zero_grad()
            loss_fn().backward()
            opt.step()

        return step

    return make_step


def _params_of(opt_or_params) -> list:
    """The parameters in creation order: an optimiser's groups, or a list as given."""
    if hasattr(opt_or_params, "param_groups"):
        return [p for g in opt_or_params.param_groups for p in g["params"]]
    return list(opt_or_params)


def matched_steps(build: Callable, inference: bool = False, rtol: float = 1e-4) -> tuple:
    """Build both frameworks' side of a workload, give chainrule PyTorch's initial parameters,
    and check that the first losses agree before anything is timed (a benchmark of two
    different computations is not a comparison).

    ``build(nn, optim, as_tensor)`` returns ``(loss_fn, optimizer)`` for a training step, or,
    with ``inference=True``, ``(forward_fn, parameters)`` for a ``no_grad`` forward pass whose
    output is compared.  The same code makes the parameters in the same order on both sides,
    so they are matched by position.  Returns (chainrule step, PyTorch step); PyTorch's is None
    when it is not installed (then nothing is checked).
    """
    import chainrule as cr

    cr_fn, cr_opt = build(*framework("chainrule"))
    if not have_torch():
        return _as_step(cr_fn, cr_opt, inference, cr), None
    import torch

    torch.set_num_threads(bench_threads())
    t_fn, t_opt = build(*framework("torch"))
    cr_ps, t_ps = _params_of(cr_opt), _params_of(t_opt)
    if [tuple(p.shape) for p in cr_ps] != [tuple(p.shape) for p in t_ps]:
        raise RuntimeError("matched_steps: the two sides made different parameters")
    with cr.no_grad():
        for p, q in zip(cr_ps, t_ps):
            p.copy_(cr.tensor(q.detach().numpy()))
    ctx = (cr.no_grad(), torch.no_grad()) if inference else (cr.enable_grad(), torch.enable_grad())
    with ctx[0]:
        a = cr_fn().detach().numpy()
    with ctx[1]:
        b = t_fn().detach().numpy()
    if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=rtol * float(np.abs(b).max() or 1.0)):
        diff = float(np.abs(a - b).max()) if a.shape == b.shape else "shapes differ"
        raise RuntimeError(f"matched_steps: the frameworks disagree before timing (max |diff| {diff})")
    return _as_step(cr_fn, cr_opt, inference, cr), _as_step(t_fn, t_opt, inference, torch)


def _as_step(fn: Callable, opt, inference: bool, lib) -> Callable[[], None]:
    if inference:
        def infer() -> None:
            with lib.no_grad():
                fn()

        return infer

    def step() -> None:
        opt.zero_grad()
        fn().backward()
        opt.step()

    return step


def run_workload(name: str, build: Callable, target: float | None = None, script: str | None = None) -> None:
    """Entry point of a workload written once with :func:`framework`'s (nn, optim, as_tensor):
    the first losses are checked to agree (:func:`matched_steps`) before the timing."""
    if len(sys.argv) >= 3 and sys.argv[1] == "--mem":
        main(name, step_maker("chainrule", build), step_maker("torch", build), target=target, script=script)
        return
    cr_step, torch_step = matched_steps(build)
    compare(name, lambda: cr_step, (lambda: torch_step) if torch_step else None, target=target, script=script)
