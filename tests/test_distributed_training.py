"""Data-parallel training (issue 15 items 3-4): DistributedSampler, the Trainer and the CLI under MPI.

The sampler tests need no MPI (num_replicas and rank are passed).  The tests marked
``mpi`` really launch 2 processes with ``mpiexec`` (from the venv or PATH) and skip when
mpi4py or mpiexec is missing (``pip install "chainrule[distributed]"``); deselect them with
``-m "not mpi"``.  Launches are few and short: each costs ~1-2 s of start-up per process.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from chainrule.utils.data import DataLoader, DistributedSampler, TensorDataset

ROOT = Path(__file__).resolve().parents[1]


# -- DistributedSampler, no MPI needed -----------------------------------------------------------
def _shares(n: int, world: int, **kw) -> list[list[int]]:
    return [list(DistributedSampler(range(n), num_replicas=world, rank=r, **kw)) for r in range(world)]


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5), (1, 1), (12, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_covers_the_data_set_once_per_epoch_padding_only_with_duplicates(n, world, shuffle):
    shares = _shares(n, world, shuffle=shuffle, seed=3)
    m = -(-n // world)  # ceil(n / N)
    assert [len(s) for s in shares] == [m] * world  # every rank the same number of indices
    assert all(len(DistributedSampler(range(n), num_replicas=world, rank=r)) == m for r in range(world))
    flat = list(itertools.chain(*shares))
    assert set(flat) == set(range(n))  # every example at least once
    counts = np.bincount(flat, minlength=n)
    assert counts.sum() - n == world * m - n  # exactly the padding is repeated
    assert counts.max() <= -(-world * m // n)  # repeats spread cyclically, never piled on one example


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (13, 5)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_drop_last_reads_distinct_examples_and_drops_fewer_than_world(n, world, shuffle):
    shares = _shares(n, world, shuffle=shuffle, drop_last=True)
    m = n // world
    assert [len(s) for s in shares] == [m] * world
    flat = list(itertools.chain(*shares))
    assert len(set(flat)) == len(flat) == world * m  # no duplicates
    assert n - len(flat) < world


def test_sampler_reshuffles_with_set_epoch_identically_on_every_rank():
    n, world = 50, 2
    samplers = [DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=True, seed=7) for r in range(world)]

    def epoch(e: int) -> list[list[int]]:
        for s in samplers:
            s.set_epoch(e)
        return [list(s) for s in samplers]

    e0, e0_again, e1 = epoch(0), epoch(0), epoch(1)
    assert e0 == e0_again  # the same epoch gives the same order (resumable, and ranks agree)
    assert e0 != e1  # a new epoch reshuffles
    for shares in (e0, e1):
        assert sorted(itertools.chain(*shares)) == list(range(n))
    assert list(itertools.chain(*e0)) != list(range(n))  # shuffled at all
    other_seed = DistributedSampler(range(n), num_replicas=world, rank=0, shuffle=True, seed=8)
    assert list(other_seed) != e0[0]


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (10, 3), (7, 4), (2, 5), (13, 5)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_without_shuffle(n, world, drop_last):
    """Unshuffled, the index lists are torch's exactly (padding and dropping included).

    Shuffled lists cannot be equal: torch draws the permutation with torch.randperm from its own
    generator, chainrule with NumPy's; the properties above check the shuffled case."""
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for r in range(world):
        ours = DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=world, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) == ours.num_samples and ours.total_size == theirs.total_size
    del torch


@pytest.mark.parametrize("n,world", [(10, 3), (11, 2)])
def test_sampler_shuffled_lengths_and_padding_pattern_match_torch(n, world):
    """Shuffled: the same number of indices per rank as torch, and the same padding rule (the
    first total_size - n positions of the permutation repeated)."""
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    ours = [DistributedSampler(range(n), num_replicas=world, rank=r, seed=1) for r in range(world)]
    theirs = [TorchSampler(range(n), num_replicas=world, rank=r, seed=1) for r in range(world)]
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    perm = np.empty(world * len(ours[0]), dtype=np.int64)
    for r, s in enumerate(ours):
        perm[r::world] = list(s)  # interleave the ranks back into the padded permutation
    assert sorted(perm[:n]) == list(range(n))
    assert list(perm[n:]) == list(perm[: perm.size - n])


def test_sampler_with_dataloader_gives_each_rank_its_batches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = TensorDataset(x, np.arange(10))
    rows = []
    for r in range(2):
        loader = DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, num_replicas=2, rank=r, shuffle=False))
        batches = [b[1].numpy().tolist() for b in loader]
        assert batches == [[r, r + 2], [r + 4, r + 6], [r + 8]]
        rows += list(itertools.chain(*batches))
    assert sorted(rows) == list(range(10))


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 2.*\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        DistributedSampler(range(4), num_replicas=1, rank=0, seed=1.5)


def test_sampler_without_process_group_asks_for_rank_and_world_size():
    try:
        from chainrule import distributed as dist
    except ImportError:
        dist = None
    if dist is not None and dist.is_initialized():
        pytest.skip("a process group is initialised in this process")
    with pytest.raises(RuntimeError, match="no process group is initialised.*num_replicas= and rank="):
        DistributedSampler(range(4))


def test_sampler_refuses_a_data_set_that_changed_length():
    data = list(range(6))
    s = DistributedSampler(data, num_replicas=2, rank=0)
    data.append(6)
    with pytest.raises(RuntimeError, match="length changed from 6 to 7"):
        list(s)


# -- the command line without MPI ----------------------------------------------------------------
def test_nproc_without_mpi_is_one_line_naming_the_extra(monkeypatch, capsys):
    from chainrule import cli

    monkeypatch.setattr(cli, "find_mpiexec", lambda: None)
    for var in cli._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["train", "--nproc", "2", "--dataset", "iris"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("chainrule: error: --nproc 2: data-parallel training needs MPI")
    assert 'pip install "chainrule[distributed]"' in err[0]


def test_nproc_must_be_positive(capsys):
    from chainrule import cli

    assert cli.main(["train", "--nproc", "0"]) == 2
    assert "--nproc must be a positive integer, got 0" in capsys.readouterr().err


def test_launcher_world_size_reads_mpich_openmpi_and_slurm(monkeypatch):
    from chainrule import cli

    for var in cli._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    assert cli.launcher_world_size() == 1
    for var in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.setenv(var, "3")
        assert cli.launcher_world_size() == 3
        monkeypatch.delenv(var)


# -- 2 processes under mpiexec ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpiexec() -> str:
    import importlib.util

    from chainrule import cli

    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip('mpi4py is not installed (pip install "chainrule[distributed]")')
    path = cli.find_mpiexec()
    if path is None:
        pytest.skip("no mpiexec beside this Python or on PATH")
    return path


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # 2 ranks on 2 cores: no oversubscription
    return env


def _launch(mpiexec: str, args: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([mpiexec, "-n", "2", *args], capture_output=True, text=True, env=_env(), timeout=timeout)


# One script serves the Trainer tests: train a small MLP with dropout on 2 ranks; each rank seeds its
# own random stream (different dropout masks), so a resume that gave every rank rank 0's states would
# change the result.  argv: out_dir epochs [kill_after_epoch|resume]
TRAIN_SCRIPT = textwrap.dedent('''
    import json, os, signal, sys
    from pathlib import Path
    import numpy as np
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule import nn, optim
    from chainrule.train import HistoryLogger, LambdaCallback, ModelCheckpoint, Trainer
    from chainrule.utils.data import DataLoader, DistributedSampler, TensorDataset

    dist.init_process_group("mpi")
    rank = dist.get_rank()
    out, epochs, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float64)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    ds = TensorDataset(X, y)
    cr.manual_seed(100 + rank)  # a different stream per rank: different initial weights and dropout masks
    model = nn.Sequential(nn.Linear(4, 16, dtype=cr.float64), nn.Tanh(), nn.Dropout(0.3),
                          nn.Linear(16, 3, dtype=cr.float64))
    train = DataLoader(ds, batch_size=6, sampler=DistributedSampler(ds, seed=5))
    val = DataLoader(ds, batch_size=7, sampler=DistributedSampler(ds, shuffle=False))
    batches = []  # (local loss, local batch size) of every training batch on this rank
    cbs = [ModelCheckpoint(out / f"ckpt{rank}"), HistoryLogger(out / f"logs{rank}"),
           LambdaCallback(on_batch_end=lambda t, b, logs: batches.append(logs["loss"]))]
    if mode.isdigit():
        kill_at = int(mode)
        def die(t, epoch, logs):
            if epoch == kill_at:  # after the checkpoint of this epoch, every rank dies at once
                os.kill(os.getpid(), signal.SIGKILL)
        cbs.append(LambdaCallback(on_epoch_end=die))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), callbacks=cbs,
                      verbose=2)
    if mode == "resume":
        trainer.load_checkpoint(out / "ckpt0" / "last.safetensors")
    trainer.fit(train, val, epochs=epochs)
    net = trainer.model.module
    net.eval()
    with cr.no_grad():
        logits = net(cr.tensor(X)).numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    result = {"rank": rank, "history": trainer.history.records, "batches": batches,
              "full_val_loss": float(-np.log(p[np.arange(40), y]).mean()),
              "full_val_accuracy": float((logits.argmax(1) == y).mean()),
              "weights": {k: v.numpy().tolist() for k, v in net.state_dict().items()},
              "is_ddp": type(trainer.model).__name__}
    (out / f"result{rank}.json").write_text(json.dumps(result))
''')


def _train(mpiexec: str, tmp: Path, out: str, epochs: int, mode: str) -> subprocess.CompletedProcess:
    script = tmp / "train_ddp.py"
    script.write_text(TRAIN_SCRIPT)
    return _launch(mpiexec, [sys.executable, str(script), str(tmp / out), str(epochs), mode])


def _results(folder: Path) -> list[dict]:
    return [json.loads((folder / f"result{r}.json").read_text()) for r in range(2)]


@pytest.mark.mpi
def test_trainer_on_two_ranks_rank0_writes_and_metrics_are_over_all_ranks(mpiexec, tmp_path):
    run = _train(mpiexec, tmp_path, "run", 2, "full")
    assert run.returncode == 0, run.stderr[-3000:]
    r0, r1 = _results(tmp_path / "run")
    assert r0["is_ddp"] == "DistributedDataParallel"  # the Trainer wrapped the plain model
    # rank 0 alone wrote the checkpoint and the history files (rank 1 was given its own folders)
    assert (tmp_path / "run" / "ckpt0" / "last.safetensors").is_file()
    assert (tmp_path / "run" / "logs0" / "history.csv").is_file()
    assert not (tmp_path / "run" / "ckpt1").exists() and not (tmp_path / "run" / "logs1").exists()
    # DDP kept the replicas identical (rank 1 started from other weights: the broadcast replaced them)
    for k, w in r0["weights"].items():
        np.testing.assert_array_equal(w, r1["weights"][k])
    # the epoch loss is the mean over both ranks' examples of the losses each rank computed:
    # 40 examples -> 20 per rank -> local batches of 6, 6, 6, 2 per epoch
    sizes = [6, 6, 6, 2]
    for e in range(2):
        sums = [sum(v * n for v, n in zip(r["batches"][4 * e: 4 * e + 4], sizes)) for r in (r0, r1)]
        expected = sum(sums) / 40
        for r in (r0, r1):
            assert r["history"][e]["loss"] == pytest.approx(expected, rel=1e-12)
    # the validation numbers of the last epoch are those of the whole data set with the final weights
    for r in (r0, r1):
        assert r["history"][-1]["val_loss"] == pytest.approx(r0["full_val_loss"], rel=1e-10)
        assert r["history"][-1]["val_accuracy"] == pytest.approx(r0["full_val_accuracy"], abs=1e-12)
    assert r0["history"][-1]["val_accuracy"] != pytest.approx(0.0)
    csv_lines = (tmp_path / "run" / "logs0" / "history.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 3  # header + 2 epochs


@pytest.mark.mpi
def test_run_killed_on_every_rank_resumes_from_last_checkpoint_on_every_rank(mpiexec, tmp_path):
    full = _train(mpiexec, tmp_path, "full", 4, "full")
    assert full.returncode == 0, full.stderr[-3000:]
    killed = _train(mpiexec, tmp_path, "cut", 4, "2")
    assert killed.returncode != 0  # SIGKILL on both ranks after epoch 2's checkpoint
    assert not (tmp_path / "cut" / "result0.json").exists()
    resumed = _train(mpiexec, tmp_path, "cut", 4, "resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref, res = _results(tmp_path / "full"), _results(tmp_path / "cut")
    for r in range(2):
        assert len(res[r]["history"]) == 4
        for e in range(4):
            assert res[r]["history"][e]["loss"] == pytest.approx(ref[r]["history"][e]["loss"], rel=1e-12)
        # the same weights as the run never interrupted: each rank got back its own dropout stream
        for k, w in ref[r]["weights"].items():
            np.testing.assert_allclose(res[r]["weights"][k], w, rtol=0, atol=1e-13)


@pytest.mark.mpi
def test_cli_nproc_2_trains_on_a_tiny_data_set(mpiexec, tmp_path):
    out = tmp_path / "iris"
    cmd = [sys.executable, "-m", "chainrule", "train", "--nproc", "2", "--dataset", "iris", "--epochs", "3",
           "--batch-size", "16", "--out", str(out), "--quiet", "--no-plots"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=180, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("test loss=") == 1  # rank 0 alone prints
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["processes"] == 2 and summary["epochs"] == 3
    assert len(json.loads((out / "history.json").read_text())) == 3
    # the checkpoint holds the unwrapped model: it evaluates in one process
    from chainrule import cli

    metrics = cli.evaluate_checkpoint(out / "checkpoint.safetensors")
    assert metrics["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-12)
    assert metrics["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-6)


@pytest.mark.mpi
def test_a_bad_option_under_mpiexec_is_one_line_from_rank_0_and_status_2(mpiexec, tmp_path):
    """The options are the same on every rank: one error line (not one per rank, not interleaved)."""
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "chainrule", "train", "--dataset", "iris", "--batch-size", "15",
           "--out", str(tmp_path / "x"), "--quiet"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path)
    assert run.returncode == 2
    lines = [ln for ln in run.stderr.splitlines() if "error" in ln.lower()]
    assert lines == ["chainrule: error: [rank 0] batch_size 15 is the global batch and must be divisible by the "
                     "number of processes, 2"]
    assert not (tmp_path / "x").exists()
