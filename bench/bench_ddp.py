"""Data-parallel scaling: steps/s of w2 and w3 in 1 process against 2 processes under DDP (MPI).

Workloads (one training step each, SGD momentum 0.9, fixed random data):

* w2: MLP 784-512-512-10, global batch 256;
* w3: LeNet-5, global batch 128 (see bench_w3_lenet.py).

Three runs per workload, every process with ONE BLAS thread (OMP/OPENBLAS/MKL_NUM_THREADS=1
and threadpoolctl), so the comparison is one core against two:

    1 x 1     one process, the global batch B, no DDP                    -> s1 steps/s
    2 x 1     mpiexec -n 2, B/2 per rank, DistributedDataParallel        -> s2 steps/s
    1 x 1/2   one process, batch B/2, no DDP (a rank's share of the work) -> sh steps/s
    2 x 1, no communication
              mpiexec -n 2, B/2 per rank, each rank trains alone (no DDP)  -> s0 steps/s

    speed-up = s2 / s1;  scaling efficiency = speed-up / 2  (target >= 0.85)
    per CPU second = (s2 / (2 c2)) / (s1 / c1), c = the share of a core a process got (CPU time /
                     wall time): the efficiency with the machine's load divided out, an estimate
                     of what two free cores would give (rank 1 assumed to get rank 0's share)
    ceiling = s0 / s1 / 2: the efficiency with communication free -- what two processes sharing
              this machine's caches and memory bandwidth give at best
    DDP overhead per step = 1/s2 - 1/sh   (communication not hidden behind backward, waiting
                                           for the slower rank, the hooks' bookkeeping)
    all-reduce alone = the time of one all_reduce of all the gradients (one flat float32 buffer)
                       on 2 ranks, outside training: back to back (a throughput), and once from a
                       synchronised start (the latency a step pays when nothing overlaps it)
    floor = 1 / (1/s0 + that latency) / s1 / 2: the efficiency if DDP cost a step nothing but
            one all-reduce of its gradients on top of the no-communication run -- on two busy
            cores the all-reduce's copies are CPU work that backward cannot hide

Each run is repeated (``--repeat``, default 3) and the median reported: the machine may be
shared, and a second process only speeds things up when a second core is free.

Run: ``python bench/bench_ddp.py [--repeat 3] [--seconds 3]`` (needs the ``distributed`` extra).
Internally the script also runs as a worker: ``bench_ddp.py --worker w2 BATCH SECONDS [alone]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WORKLOADS = {"w2": ("MLP 784-512-512-10", 256), "w3": ("LeNet-5", 128)}


# -- the worker: one process of a run ------------------------------------------------------------
def _build(name: str, batch: int, rank: int):
    import numpy as np

    import chainrule as cr
    from chainrule import nn

    rng = np.random.default_rng(1000 + rank)  # each rank its own examples
    if name == "w2":
        x = cr.tensor(rng.random((batch, 784)).astype(np.float32))
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    else:
        x = cr.tensor(rng.random((batch, 1, 28, 28)).astype(np.float32))
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )
    y = cr.tensor(rng.integers(0, 10, batch).astype(np.int64))
    return model, x, y


def worker(name: str, batch: int, seconds: float, alone: bool = False) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # the environment variables set by the launcher suffice
        pass
    import chainrule as cr
    from chainrule import nn, optim

    world = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1")))
    dist = None
    if world > 1:
        import chainrule.distributed as dist

        dist.init_process_group("mpi")
    rank = dist.get_rank() if dist else 0
    cr.manual_seed(0)
    model, x, y = _build(name, batch, rank)
    net = model
    if dist and not alone:
        from chainrule.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)
    criterion = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        opt.zero_grad()
        criterion(net(x), y).backward()
        opt.step()

    for _ in range(5):  # warm-up: buffers, caches, MPI connections
        step()
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    steps = max(10, int(seconds / ((time.perf_counter() - t0) / 5)))
    if dist:  # every rank must run the same number of steps: rank 0 decides
        box = [steps]
        dist.broadcast_object_list(box, src=0)
        steps = int(box[0])
        dist.barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if dist:
        dist.barrier()
    elapsed = time.perf_counter() - t0
    # the share of a core this process got (CPU time / wall time): below 1 on a loaded machine
    # (a wait for the other rank spins for its first millisecond, then sleeps: mostly not counted)
    result = {"workload": name, "world": world, "batch_per_rank": batch, "steps": steps,
              "steps_per_s": steps / elapsed, "cpu_share": (time.process_time() - c0) / elapsed}
    if dist and not alone:
        # one all-reduce of every gradient at once, outside training: the raw communication cost
        flat = cr.zeros(sum(p.numel() for p in model.parameters()))
        for _ in range(3):
            dist.all_reduce(flat)
        dist.barrier()
        t0 = time.perf_counter()
        reps = 20
        for _ in range(reps):
            dist.all_reduce(flat)
        dist.barrier()
        result["allreduce_ms"] = (time.perf_counter() - t0) / reps * 1e3
        # the same all-reduce from a synchronised start, one at a time: what a step pays for it.
        # Back to back (above), each call overlaps the previous one's tail on the other rank, so
        # that figure is a throughput; a training step starts its all-reduce from rest.
        single = []
        for _ in range(reps):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(flat)
            single.append(time.perf_counter() - t0)
        result["allreduce_once_ms"] = statistics.median(single) * 1e3
        result["grad_mib"] = flat.numel() * 4 / 2**20
    if rank == 0:
        print(json.dumps(result), flush=True)


# -- the driver ------------------------------------------------------------------------------------
def _run(cmd: list[str]) -> dict:
    env = {**os.environ, **ONE_THREAD}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 3
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 3.0
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from chainrule.cli import find_mpiexec

    mpiexec = find_mpiexec()
    if mpiexec is None:
        sys.exit('bench_ddp: no mpiexec; pip install "chainrule[distributed]"')
    me = [sys.executable, os.path.abspath(__file__), "--worker"]
    print(f"bench_ddp: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; each process 1 BLAS thread; "
          f"median of {repeat} runs of ~{seconds:g} s")
    for name, (desc, batch) in WORKLOADS.items():
        s1, s2, sh, s0, ar, ar1, cpu1, cpu2 = [], [], [], [], [], [], [], []
        for _ in range(repeat):
            r = _run([*me, name, str(batch), str(seconds)])
            s1.append(r["steps_per_s"])
            cpu1.append(r["cpu_share"])
            r = _run([mpiexec, "-n", "2", *me, name, str(batch // 2), str(seconds)])
            s2.append(r["steps_per_s"])
            ar.append(r["allreduce_ms"])
            ar1.append(r["allreduce_once_ms"])
            cpu2.append(r["cpu_share"])
            sh.append(_run([*me, name, str(batch // 2), str(seconds)])["steps_per_s"])
            s0.append(_run([mpiexec, "-n", "2", *me, name, str(batch // 2), str(seconds), "alone"])["steps_per_s"])
        m1, m2, mh, m0 = (statistics.median(v) for v in (s1, s2, sh, s0))
        speedup = m2 / m1
        print(f"{name} {desc}, global batch {batch} ({r['grad_mib']:.2f} MiB of float32 gradients):")
        print(f"  1 x 1 thread : {m1:7.1f} steps/s   runs {', '.join(f'{v:.1f}' for v in s1)}   "
              f"share of a core {statistics.median(cpu1):.2f}")
        print(f"  2 x 1 thread : {m2:7.1f} steps/s   runs {', '.join(f'{v:.1f}' for v in s2)}   "
              f"share of a core (rank 0) {statistics.median(cpu2):.2f}")
        c1, c2 = statistics.median(cpu1), statistics.median(cpu2)
        print(f"  speed-up {speedup:.2f}, scaling efficiency {speedup / 2:.2f} (target >= 0.85); per CPU second "
              f"(steps/s / share of a core, both ranks counted): {(m2 / (2 * c2)) / (m1 / c1):.2f}")
        print(f"  2 x 1 thread, no communication: {m0:7.1f} steps/s -> ceiling on this machine {m0 / m1 / 2:.2f} "
              "(two processes sharing its caches and memory bandwidth)")
        print(f"  per step: 1 rank's half batch alone {1e3 / mh:.2f} ms, under DDP {1e3 / m2:.2f} ms -> DDP overhead "
              f"{1e3 / m2 - 1e3 / mh:.2f} ms; one all-reduce of all gradients alone {statistics.median(ar):.2f} ms "
              f"back to back, {statistics.median(ar1):.2f} ms from a synchronised start")
        floor = 1 / (1 / m0 + statistics.median(ar1) / 1e3)
        print(f"  floor: no-communication steps plus that one all-reduce: {floor:7.1f} steps/s -> efficiency "
              f"{floor / m1 / 2:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:6] == ["alone"])
    else:
        main(sys.argv[1:])
