"""The ``chainrule`` command with a practitioner's CSV file (issue 16, item 3).

* a regression target is detected (integer-valued with many distinct values, like scikit-learn's
  diabetes target with 214 values) and reported as MSE/MAE/R² in its own units, better than a
  least-squares line on the same split when the relation is non-linear;
* a classification CSV with a categorical string column trains, and ``chainrule predict`` on new
  rows applies the saved preprocessing and reproduces ``chainrule evaluate``'s numbers;
* the run folder holds what later use needs (config, preprocessing state, absolute data path)
  and is written fresh; every CSV option is reachable from flags and the TOML file;
* resume with other options says which it keeps, early stopping says why it stopped, a missing
  matplotlib or scikit-learn is one sentence, bad input to ``predict`` is one error line;
* Ctrl-C then ``--resume`` finishes the run with the history of an uninterrupted one.

The numbers asserted come from NumPy (least squares, MSE/MAE/R² of the written predictions),
never from the command's own printout.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "chainrule: error: "


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CHAINRULE_DEBUG", None)
    env.update(extra)
    return env


def _run(*args, cwd, timeout=180, **env):
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=_env(**env), timeout=timeout)


def _ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def _one_error_line(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(PREFIX), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _write_rows(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _nonlinear_regression_csv(path, n=360, seed=0):
    """y = round(100 (sin 2 x1 + x2² - x3/2) + 500): integer-valued with hundreds of distinct values, and a
    relation no straight line captures (a linear model's R² on it is about 0.1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    y = np.round(100 * (np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]) + 500).astype(int)
    rows = [[f"{a:.4f}", f"{b:.4f}", f"{c:.4f}", int(t)] for (a, b, c), t in zip(X, y)]
    return _write_rows(path, ["x1", "x2", "x3", "y"], rows)


def _classification_csv(path, n=240, seed=0):
    """Two numeric columns, a categorical string column and a Yes/No label that depends on all three."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "green", "blue"])
        shift = {"red": 1.5, "green": 0.0, "blue": -1.5}[colour]
        rows.append([f"{a:.3f}", f"{b:.3f}", colour, "Yes" if a + 0.5 * b + shift > 0 else "No"])
    return _write_rows(path, ["a", "b", "colour", "label"], rows)


def _train(csv_path, out, *extra, cwd, epochs=30, hidden="32"):
    return _run("train", "--dataset", csv_path, "--epochs", epochs, "--hidden", hidden, "--batch-size", 32,
                "--quiet", "--out", out, *extra, cwd=cwd)


def _split_rows(csv_path, cfg, classification):
    """The data rows of the CSV in the test part of the command's split (same seed and fractions)."""
    from chainrule.data import train_val_test_split

    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    labels = [r[header.index(cfg["target"])] for r in body] if classification else None
    idx = np.arange(len(body))
    parts = train_val_test_split(idx, val_size=cfg["val_size"], test_size=cfg["test_size"],
                                 stratify=labels, seed=cfg["seed"])
    return header, [[body[i] for i in p] for p in parts]


def _printed_metrics(text):
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[0-9.]+(?:e-?\d+)?)", text)}


# -- regression -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("reg")
    data = _nonlinear_regression_csv(d / "curve.csv")
    r = _train("curve.csv", "run", "--target", "y", "--lr", "0.01", cwd=d, epochs=60, hidden="64,64")
    return d, data, d / "run", _ok(r)


def test_regression_target_detected_and_reported_in_its_units(regression_run):
    d, data, out, r = regression_run
    assert "regression" in r.stderr + r.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression"
    test = metrics["test"]
    assert {"mse", "mae", "r2"} <= set(test) and "accuracy" not in test


def test_regression_beats_a_linear_model_on_the_same_split(regression_run):
    d, data, out, _ = regression_run
    cfg = json.loads((out / "config.json").read_text())
    header, (train, val, test) = _split_rows(data, cfg, classification=False)
    tr = np.array(train + val, dtype=float)
    te = np.array(test, dtype=float)
    A = np.c_[tr[:, :3], np.ones(len(tr))]
    w, *_ = np.linalg.lstsq(A, tr[:, 3], rcond=None)
    pred = np.c_[te[:, :3], np.ones(len(te))] @ w
    linear_r2 = 1 - ((pred - te[:, 3]) ** 2).sum() / ((te[:, 3] - te[:, 3].mean()) ** 2).sum()
    r2 = json.loads((out / "metrics.json").read_text())["test"]["r2"]
    assert linear_r2 < 0.4  # the relation is far from linear ...
    assert r2 > linear_r2 + 0.3, (r2, linear_r2)  # ... and the network finds it


def test_regression_predict_reproduces_evaluate(regression_run, tmp_path):
    d, data, out, _ = regression_run
    cfg = json.loads((out / "config.json").read_text())
    header, (_, _, test) = _split_rows(data, cfg, classification=False)
    new = _write_rows(tmp_path / "new.csv", header, test)
    # predict and evaluate from another directory: the run folder records what they need
    _ok(_run("predict", out, new, "-o", tmp_path / "pred.csv", cwd=tmp_path))
    with open(tmp_path / "pred.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert len(got) == len(test)
    yhat = np.array([float(g["prediction"]) for g in got])
    y = np.array([float(t[3]) for t in test])
    mse, mae = ((yhat - y) ** 2).mean(), np.abs(yhat - y).mean()
    r2 = 1 - ((yhat - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    ev = _printed_metrics(_ok(_run("evaluate", out / "checkpoint.safetensors", cwd=tmp_path)).stdout)
    assert ev["mse"] == pytest.approx(mse, rel=1e-3) and ev["mae"] == pytest.approx(mae, rel=1e-3)
    assert ev["r2"] == pytest.approx(r2, abs=1e-3)
    saved = json.loads((out / "metrics.json").read_text())["test"]
    assert saved["mse"] == pytest.approx(mse, rel=1e-4) and saved["r2"] == pytest.approx(r2, abs=1e-4)


def test_diabetes_integer_target_is_regression(tmp_path):
    """The issue's case: scikit-learn's diabetes target is integer-valued with 214 distinct values."""
    sk = pytest.importorskip("sklearn.datasets")
    bunch = sk.load_diabetes(scaled=False)
    assert np.all(bunch.target == np.round(bunch.target)) and len(np.unique(bunch.target)) == 214
    rows = [[f"{v:g}" for v in x] + [int(t)] for x, t in zip(bunch.data, bunch.target)]
    _write_rows(tmp_path / "diabetes.csv", list(bunch.feature_names) + ["target"], rows)
    r = _ok(_run("train", "--dataset", "diabetes.csv", "--target", "target", "--epochs", 40, "--hidden", 16,
                 "--weight-decay", "0.001", "--no-plots", "--out", "run", cwd=tmp_path))
    assert re.search(r"regression.*214 distinct", r.stdout), r.stdout  # what it chose and why
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert "accuracy" not in test and test["r2"] > 0.3  # a least-squares line gets about 0.45 here


def test_task_flag_overrides_detection(tmp_path):
    rows = [[i % 7, (i * 3) % 5, i % 3] for i in range(90)]  # an integer target with 3 values: a class label
    _write_rows(tmp_path / "t.csv", ["p", "q", "k"], rows)
    _ok(_train("t.csv", "c", "--target", "k", cwd=tmp_path, epochs=2))
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["task"] == "classification"
    _ok(_train("t.csv", "r", "--target", "k", "--task", "regression", cwd=tmp_path, epochs=2))
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["task"] == "regression"
    r = _train("t.csv", "x", "--target", "k", "--task", "ranking", cwd=tmp_path)  # argparse's usage error form
    assert r.returncode == 2 and "argument --task: invalid choice: 'ranking'" in r.stderr.strip().splitlines()[-1]
    (tmp_path / "bad.toml").write_text('dataset = "t.csv"\ntarget = "k"\ntask = "ranking"\n')
    _one_error_line(_run("train", "--config", "bad.toml", cwd=tmp_path), 2, "task must be one of")


# -- classification with a categorical column; predict ---------------------------------------------
@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls")
    data = _classification_csv(d / "shop.csv")
    r = _train(data, d / "run", "--target", "label", cwd=d, epochs=25, hidden="16")
    return d, data, d / "run", _ok(r)


def test_classification_with_categorical_column_and_run_folder(classification_run):
    d, data, out, r = classification_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["test"]["accuracy"] >= 0.85
    cfg = json.loads((out / "config.json").read_text())
    assert Path(cfg["dataset"]).is_absolute() and Path(cfg["dataset"]) == data.resolve()
    assert cfg["target"] == "label" and cfg["task"] == "classification"
    assert (out / "config.toml").exists()
    state = cr.load(out / "checkpoint.safetensors")
    pre = json.loads(state["extra"]["preprocessing"])
    assert pre["columns"] == ["a", "b", "colour"]
    assert pre["categories"] == {"colour": ["blue", "green", "red"]}
    assert pre["classes"] == ["No", "Yes"]
    assert len(pre["scaler"]["mean"]) == len(pre["feature_names"]) == 5  # a, b and three one-hot columns
    # config.toml runs again as --config
    ns = cli.build_parser().parse_args(["train", "--config", str(out / "config.toml")])
    again = cli.resolve_config(ns)
    assert {k: again[k] for k in ("dataset", "target", "hidden", "epochs", "task")} == \
           {k: cfg[k] for k in ("dataset", "target", "hidden", "epochs", "task")}


def test_classification_predict_reproduces_evaluate(classification_run, tmp_path):
    d, data, out, _ = classification_run
    cfg = json.loads((out / "config.json").read_text())
    header, (_, _, test) = _split_rows(data, cfg, classification=True)
    # new rows without the label column, columns in another order: matched by name
    order = ["colour", "b", "a"]
    rows = [[t[header.index(c)] for c in order] for t in test]
    new = _write_rows(tmp_path / "new.csv", order, rows)
    _ok(_run("predict", out / "checkpoint.safetensors", new, "-o", tmp_path / "p.csv", cwd=tmp_path))
    with open(tmp_path / "p.csv", newline="") as f:
        got = list(csv.DictReader(f))
    probs = np.array([[float(g["probability_No"]), float(g["probability_Yes"])] for g in got])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert [g["prediction"] for g in got] == [["No", "Yes"][k] for k in probs.argmax(1)]
    acc = np.mean([g["prediction"] == t[3] for g, t in zip(got, test)])
    ev = _printed_metrics(_ok(_run("evaluate", out / "checkpoint.safetensors", cwd=tmp_path)).stdout)
    assert ev["accuracy"] == pytest.approx(acc, abs=1e-4)
    # without -o the predictions go to stdout as CSV
    r = _ok(_run("predict", out, new, cwd=tmp_path))
    assert r.stdout.splitlines()[0].startswith("prediction,probability_No,probability_Yes")


def test_predict_errors_are_one_line(classification_run, tmp_path):
    d, data, out, _ = classification_run
    _one_error_line(_run("predict", out, tmp_path / "absent.csv", cwd=tmp_path), 1, "absent.csv")
    _write_rows(tmp_path / "nocol.csv", ["a", "colour"], [["1.0", "red"]])
    _one_error_line(_run("predict", out, tmp_path / "nocol.csv", cwd=tmp_path), 1, "'b'", "nocol.csv")
    _write_rows(tmp_path / "cat.csv", ["a", "b", "colour"], [["1.0", "2.0", "red"], ["1.0", "2.0", "purple"]])
    _one_error_line(_run("predict", out, tmp_path / "cat.csv", cwd=tmp_path), 1, "'purple'", "colour", "line 3")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    _one_error_line(_run("predict", tmp_path / "bad.safetensors", data, cwd=tmp_path), 1, "bad.safetensors")
    _one_error_line(_run("predict", tmp_path, data, cwd=tmp_path), 1, "checkpoint.safetensors")


# -- CSV options from flags and TOML ------------------------------------------------------------------
def _messy_csv(path):
    """Semicolon-separated, an id column, an irrelevant column, a few missing values."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(150):
        a, b = rng.normal(size=2)
        rows.append([i, f"{a:.3f}", "" if i % 25 == 3 else f"{b:.3f}", "NA" if i % 40 == 7 else "z",
                     "Yes" if a - b > 0 else "No"])
    return _write_rows(path, ["id", "a", "b", "noise", "label"], rows, delimiter=";")


def test_csv_options_reachable_from_flags_and_toml(tmp_path):
    _messy_csv(tmp_path / "m.csv")
    _one_error_line(_train("m.csv", "o", "--target", "label", "--delimiter", ";", cwd=tmp_path, epochs=1), 1,
                    "missing value", "--dropna")
    r = _ok(_train("m.csv", "o", "--target", "label", "--delimiter", ";", "--dropna", "--features", "a,b",
                   cwd=tmp_path, epochs=2))
    pre = json.loads(cr.load(tmp_path / "o" / "checkpoint.safetensors")["extra"]["preprocessing"])
    assert pre["columns"] == ["a", "b"]
    n = json.loads((tmp_path / "o" / "metrics.json").read_text())["rows"]
    assert n == 150 - len([i for i in range(150) if i % 25 == 3])  # 'noise' is not a feature: its NA is kept
    del r
    (tmp_path / "run.toml").write_text(
        '[data]\ndataset = "m.csv"\ntarget = "label"\ndelimiter = ";"\ndropna = true\ndrop = ["id", "noise"]\n'
        'task = "classification"\n[train]\nepochs = 2\nquiet = true\nplots = false\nout = "t"\n')
    _ok(_run("train", "--config", "run.toml", cwd=tmp_path))
    pre = json.loads(cr.load(tmp_path / "t" / "checkpoint.safetensors")["extra"]["preprocessing"])
    assert pre["columns"] == ["a", "b"]
    _one_error_line(_train("m.csv", "o", "--target", "label", "--features", "a,zzz", cwd=tmp_path), 1, "'zzz'")


def test_run_folder_is_written_fresh(tmp_path):
    _nonlinear_regression_csv(tmp_path / "c.csv", n=80)
    out = tmp_path / "run"
    out.mkdir()
    for stale in ("confusion_matrix.png", "activations.png", "gradients.png"):
        (out / stale).write_bytes(b"old")
    (out / "notes.txt").write_text("mine")  # a file the command never writes stays
    _ok(_train("c.csv", out, "--target", "y", "--no-plots", cwd=tmp_path, epochs=1))
    names = {p.name for p in out.iterdir()}
    assert not names & {"confusion_matrix.png", "activations.png", "gradients.png"}
    assert {"checkpoint.safetensors", "metrics.json", "config.json", "notes.txt"} <= names


# -- resume, early stopping, missing extras -----------------------------------------------------------
def test_resume_with_other_options_says_what_it_keeps(tmp_path):
    _classification_csv(tmp_path / "s.csv", n=80)
    _ok(_train("s.csv", "run", "--target", "label", "--no-plots", cwd=tmp_path, epochs=2, hidden="8"))
    r = _ok(_run("train", "--dataset", "s.csv", "--target", "label", "--hidden", "16", "--epochs", 3,
                 "--no-plots", "--out", "run", "--resume", cwd=tmp_path))
    assert re.search(r"keep.*hidden.*\[8\]", r.stdout + r.stderr), r.stdout + r.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 3
    # --resume alone continues the recorded run (data set, target, model come from the checkpoint)
    r = _ok(_run("train", "--out", "run", "--resume", "--epochs", 4, "--quiet", "--no-plots", cwd=tmp_path))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 4


def test_early_stopping_says_when_and_why(tmp_path):
    _classification_csv(tmp_path / "s.csv", n=80)
    r = _ok(_train("s.csv", "run", "--target", "label", "--patience", 2, "--lr", "0.05", "--no-plots",
                   cwd=tmp_path, epochs=300))
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]
    assert epochs < 300
    m = re.search(r"early stopping.*epoch (\d+).*val_loss.*2 epochs.*best.*epoch (\d+)", r.stdout, re.S)
    assert m, r.stdout
    assert int(m.group(1)) == epochs and int(m.group(2)) <= epochs - 2


def test_without_matplotlib_plots_are_reported_skipped(tmp_path, monkeypatch, capsys):
    _nonlinear_regression_csv(tmp_path / "c.csv", n=60)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--dataset", "c.csv", "--target", "y", "--epochs", "1", "--quiet", "--out", "o"]) == 0
    out = capsys.readouterr().out
    assert "plots skipped" in out and "pip install" in out and "chainrule[plot]" in out
    assert "plots" not in out.split("wrote", 1)[1].split("\n")[0]  # the summary line does not claim plots
    assert not list((tmp_path / "o").glob("*.png"))


BLOCK = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('sklearn', 'matplotlib', 'scipy', 'torch'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "from chainrule.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_plain_install_without_extras(tmp_path):
    """No scikit-learn, no matplotlib: the demo says which extra to install; a CSV still trains."""
    r = subprocess.run([sys.executable, "-c", BLOCK, "train", "--quiet"], capture_output=True, text=True,
                       cwd=tmp_path, env=_env(), timeout=120)
    _one_error_line(r, 1, "pip install", "chainrule[data]")
    _classification_csv(tmp_path / "s.csv", n=60)
    r = subprocess.run([sys.executable, "-c", BLOCK, "train", "--dataset", "s.csv", "--target", "label",
                        "--epochs", "1", "--quiet", "--out", "o"], capture_output=True, text=True, cwd=tmp_path,
                       env=_env(), timeout=120)
    _ok(r)
    assert "plots skipped" in r.stdout and "chainrule[plot]" in r.stdout


def test_ctrl_c_then_resume_matches_an_uninterrupted_run(tmp_path):
    """SIGINT during a long run, then --resume up to N epochs: the same history as N uninterrupted epochs
    (the schedule is off, so the run's planned length does not change the learning rate)."""
    _classification_csv(tmp_path / "s.csv", n=120)
    args = ["train", "--dataset", "s.csv", "--target", "label", "--hidden", "8", "--batch-size", "16", "--quiet",
            "--no-plots", "--schedule", "none"]
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *args, "--epochs", "100000", "--out", "cut"],
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "cut" / "checkpoint.safetensors"
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    done = cr.load(ckpt)["epoch"]
    assert done >= 1
    n = done + 5
    _ok(_run(*args, "--epochs", n, "--out", "cut", "--resume", cwd=tmp_path))
    _ok(_run(*args, "--epochs", n, "--out", "whole", cwd=tmp_path))
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    cut = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["epoch"] for h in cut] == list(range(1, n + 1))
    for a, b in zip(whole, cut):
        assert a["loss"] == b["loss"] and a["val_loss"] == b["val_loss"], (a, b)


# -- the library pieces under the command ---------------------------------------------------------------
def test_infer_task_rules():
    from chainrule.data import infer_task

    assert infer_task(["Yes", "No", "Yes"])[0] == "classification"
    assert infer_task([str(v) for v in [0, 1, 2] * 10])[0] == "classification"
    task, why = infer_task([str(25 + i) for i in range(214)] * 2, "target")  # diabetes-like: 214 integers
    assert task == "regression" and "214 distinct" in why
    assert infer_task(["1.5", "2", "2"])[0] == "regression"  # a non-integer value: a quantity
    assert infer_task(["1", "2", "3", "4"])[0] == "regression"  # every value distinct: not class labels


def test_load_csv_schema_reads_new_rows_the_same_way(tmp_path):
    from chainrule.data import load_csv

    _write_rows(tmp_path / "train.csv", ["id", "size", "colour", "label"],
                [[1, "3.0", "red", "Yes"], [2, "1.0", "blue", "No"], [3, "2.0", "green", "No"]])
    tab, schema = load_csv(tmp_path / "train.csv", "label", drop=["id"], task="auto", return_schema=True)
    assert schema.task == "classification" and schema.columns == ["size", "colour"]
    assert schema.categories == {"colour": ["blue", "green", "red"]} and schema.classes == ["No", "Yes"]
    # new rows: columns in another order, an extra column, no label, one category only
    _write_rows(tmp_path / "new.csv", ["colour", "note", "size"], [["red", "x", "5.0"], ["red", "y", "0.5"]])
    new = load_csv(tmp_path / "new.csv", schema=schema)
    assert new.y is None and new.feature_names == tab.feature_names
    np.testing.assert_array_equal(new.X, [[5.0, 0, 0, 1], [0.5, 0, 0, 1]])
    _write_rows(tmp_path / "odd.csv", ["colour", "size"], [["red", "1"], ["pink", "2"]])
    with pytest.raises(ValueError, match=r"unknown category 'pink' in column 'colour' at line 3"):
        load_csv(tmp_path / "odd.csv", schema=schema)
    again = cr.data.CSVSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema


def test_mae_and_original_units_metrics():
    from chainrule.train.metrics import InOriginalUnits, MeanAbsoluteError

    rng = np.random.default_rng(0)
    z, zhat = rng.normal(size=50), rng.normal(size=50)
    mean, std = 150.0, 77.0
    mae, mse_units = MeanAbsoluteError(), InOriginalUnits("mse", mean, std)
    for s in (slice(0, 13), slice(13, 50)):  # two batches of different sizes
        mae.update(zhat[s], z[s])
        mse_units.update(zhat[s], z[s])
    assert mae.compute() == pytest.approx(np.abs(zhat - z).mean(), rel=1e-12)
    assert mse_units.compute() == pytest.approx(std**2 * ((zhat - z) ** 2).mean(), rel=1e-12)
    assert mse_units.name == "mse" and not mse_units.higher_is_better
