"""The ``chainrule`` command: help, a small TOML-configured run as a subprocess, evaluate, the demo."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule import cli

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def test_help_explains_itself():
    r = _run("--help")
    assert r.returncode == 0
    for word in ("train", "evaluate", "example", "digits"):
        assert word in r.stdout
    r = _run("train", "--help")
    assert r.returncode == 0 and "--config" in r.stdout and "--batch-size" in r.stdout


def test_config_precedence_and_errors(tmp_path):
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text('dataset = "iris"\nepochs = 7\n[optim]\noptimizer = "sgd"\n')
    ns = cli.build_parser().parse_args(["train", "--config", str(cfg_file), "--epochs", "3"])
    cfg = cli.resolve_config(ns)
    assert cfg["dataset"] == "iris" and cfg["epochs"] == 3  # the flag wins over the file
    assert cfg["optimizer"] == "sgd" and cfg["lr"] == 0.1  # sgd's default learning rate
    assert cfg["batch_size"] == 64  # built-in default
    (tmp_path / "bad.toml").write_text("epoch = 3\n")
    with pytest.raises(SystemExit, match=r"unknown option\(s\) \['epoch'\]"):
        cli.resolve_config(cli.build_parser().parse_args(["train", "--config", str(tmp_path / "bad.toml")]))


def test_train_subprocess_small_config_then_evaluate(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    (tmp_path / "small.toml").write_text(
        f'dataset = "breast_cancer"\nmodel = "mlp"\nhidden = [16]\nepochs = 3\nbatch_size = 32\n'
        f'lr = 0.01\nseed = 1\nquiet = true\nplots = false\nout = "{out.as_posix()}"\n'
    )
    r = _run("train", "--config", str(tmp_path / "small.toml"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "test loss=" in r.stdout and "accuracy=" in r.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["model"] == "mlp"
    assert metrics["test"]["accuracy"] > 0.85  # 3 epochs of a 30-16-2 MLP (chance is 0.63)
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r_["epoch"]) for r_ in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    assert len(json.loads((out / "history.json").read_text())) == 3
    ckpt = out / "checkpoint.safetensors"
    assert ckpt.exists() and ckpt.read_bytes()[8:9] == b"{"  # safetensors: 8-byte header size, then JSON
    r = _run("evaluate", str(ckpt), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"accuracy={metrics['test']['accuracy']:.4f}" in r.stdout  # the same model on the same split
    assert "confusion matrix" in r.stdout


def test_example_lists_and_unknown_name():
    r = _run("example")
    assert r.returncode == 0 and "available examples" in r.stdout
    r = _run("example", "no_such_example")
    assert r.returncode == 2 and "no example named 'no_such_example'" in r.stderr


@pytest.mark.slow
def test_demo_digits_cnn_reaches_97_percent(tmp_path):
    """The main demo (`chainrule train` with no options) on the 8x8 digits: >= 97% test accuracy."""
    pytest.importorskip("sklearn")
    ns = cli.build_parser().parse_args(["train", "--quiet", "--no-plots", "--out", str(tmp_path)])
    summary = cli.run_training(cli.resolve_config(ns))
    assert summary["dataset"] == "digits" and summary["model"] == "cnn"
    assert summary["test"]["accuracy"] >= 0.97


def test_train_on_a_csv_with_categorical_column(tmp_path):
    """A Heart-shaped table (numeric + categorical columns, Yes/No target) through `chainrule train`."""
    rng = np.random.default_rng(0)
    lines = ["Age,Chol,ChestPain,AHD"]
    for _ in range(120):
        pain = rng.choice(["typical", "asymptomatic", "nonanginal"])
        age = rng.integers(30, 80)
        sick = pain == "asymptomatic" or age > 65  # a rule the network can learn
        lines.append(f"{age},{rng.integers(150, 300)},{pain},{'Yes' if sick else 'No'}")
    (tmp_path / "heart.csv").write_text("\n".join(lines) + "\n")
    ns = cli.build_parser().parse_args(["train", "--dataset", str(tmp_path / "heart.csv"), "--target", "AHD",
                                        "--epochs", "40", "--quiet", "--no-plots", "--out", str(tmp_path / "o"),
                                        "--hidden", "16", "--batch-size", "16"])
    summary = cli.run_training(cli.resolve_config(ns))
    assert summary["model"] == "mlp" and summary["dataset"] == "heart"
    assert summary["test"]["accuracy"] >= 0.8  # the rule is deterministic; chance is about 0.5


def test_train_compile_flag_gives_the_same_history(tmp_path):
    """``chainrule train --compile`` trains through chainrule.compile: the same per-epoch history."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{a:.3f},{b:.3f},{int(a + b > 0)}" for a, b in rng.normal(size=(120, 2))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    histories = []
    for flag in ([], ["--compile"]):
        out = tmp_path / ("run" + "".join(flag))
        status = cli.main(["train", "--dataset", str(tmp_path / "t.csv"), "--target", "label", "--epochs", "6",
                           "--quiet", "--no-plots", "--out", str(out), *flag])
        assert status == 0
        histories.append((out / "history.csv").read_text().splitlines())
    strip = [[",".join(c for i, c in enumerate(line.split(",")) if i != len(line.split(",")) - 1) for line in h]
             for h in histories]  # (the last column is the epoch's wall time)
    assert strip[0] == strip[1]
