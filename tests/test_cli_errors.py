"""The ``chainrule`` command on a user's mistakes: one ``chainrule: error: ...`` line, no traceback.

Every case runs the command in a subprocess (``python -m chainrule``) on tiny data (a 40-row CSV,
one epoch) and checks the exit status (2 for a usage error, as argparse, 1 for another error,
130 for Ctrl-C) and that stderr holds exactly one line, starting ``chainrule: error:`` and naming
what went wrong.  ``--debug`` and ``CHAINRULE_DEBUG=1`` show the traceback instead.
"""

import os
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
    env.pop("CHAINRULE_DEBUG", None)  # the outer environment must not switch tracebacks on
    env.update(extra)
    return env


def _run(*args, cwd, timeout=120, **env):
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=_env(**env), timeout=timeout)


def _one_error_line(r, code, *needles):
    """Exit status ``code``; stderr is exactly one ``chainrule: error:`` line containing every needle."""
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(PREFIX), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _write_csv(path, rows=40, seed=0):
    """Two numeric features and a Yes/No label that depends on them: a 40-row classification table."""
    rng = np.random.default_rng(seed)
    lines = ["x1,x2,label"]
    for _ in range(rows):
        a, b = rng.normal(size=2)
        lines.append(f"{a:.3f},{b:.3f},{'Yes' if a + b > 0 else 'No'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _train_args(csv, out, epochs=1):
    return ["train", "--dataset", csv, "--target", "label", "--epochs", epochs, "--hidden", "4", "--batch-size", "8",
            "--quiet", "--no-plots", "--out", out]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint written by one epoch of ``chainrule train`` on the tiny CSV: (folder, csv, checkpoint)."""
    d = tmp_path_factory.mktemp("cli_errors")
    csv = _write_csv(d / "tiny.csv")
    r = _run(*_train_args(csv, d / "run"), cwd=d)
    assert r.returncode == 0, r.stderr
    return d, csv, d / "run" / "checkpoint.safetensors"


# -- evaluate: missing, corrupt, foreign checkpoints ------------------------------------------------
def test_evaluate_missing_checkpoint(tmp_path):
    _one_error_line(_run("evaluate", tmp_path / "nope.safetensors", cwd=tmp_path), 1, "nope.safetensors")


def test_evaluate_random_bytes(tmp_path):
    bad = tmp_path / "random.safetensors"
    bad.write_bytes(np.random.default_rng(0).bytes(300))
    _one_error_line(_run("evaluate", bad, cwd=tmp_path), 1, "random.safetensors")


def test_evaluate_truncated_checkpoint(trained, tmp_path):
    _, _, ckpt = trained
    blob = ckpt.read_bytes()
    for n, name in ((len(blob) // 2, "half"), (len(blob) - 1, "one_short"), (5, "five")):
        cut = tmp_path / f"{name}.safetensors"
        cut.write_bytes(blob[:n])
        _one_error_line(_run("evaluate", cut, cwd=tmp_path), 1, f"{name}.safetensors")


def test_evaluate_a_directory(tmp_path):
    _one_error_line(_run("evaluate", tmp_path, cwd=tmp_path), 1, str(tmp_path))


def test_evaluate_checkpoint_not_from_chainrule_train(tmp_path):
    plain = tmp_path / "weights.safetensors"
    cr.save({"w": cr.ones(3)}, plain)  # a valid file with no run configuration
    _one_error_line(_run("evaluate", plain, cwd=tmp_path), 1, "weights.safetensors", "configuration")
    a_list = tmp_path / "list.safetensors"
    cr.save([1, 2, 3], a_list)  # a valid file whose content is not a dict at all
    _one_error_line(_run("evaluate", a_list, cwd=tmp_path), 1, "list.safetensors")


def test_evaluate_checkpoint_of_the_wrong_model(trained, tmp_path):
    """The recorded configuration says 16 hidden units but the weights have 4: the shapes do not fit."""
    import json

    d, _, ckpt = trained
    state = cr.load(ckpt)
    cfg = json.loads(state["extra"]["config"])
    assert cfg["hidden"] == [4]
    state["extra"]["config"] = json.dumps({**cfg, "hidden": [16]})
    wrong = tmp_path / "wrong.safetensors"
    cr.save(state, wrong)
    line = _one_error_line(_run("evaluate", wrong, cwd=d), 1, "wrong.safetensors")
    assert "size mismatch" in line or "does not match" in line
    state["extra"]["config"] = "{not json"
    cr.save(state, wrong)
    _one_error_line(_run("evaluate", wrong, cwd=d), 1, "wrong.safetensors")


def test_evaluate_when_the_recorded_csv_is_gone(trained, tmp_path):
    """The checkpoint records a CSV path that no longer exists."""
    import json

    d, _, ckpt = trained
    state = cr.load(ckpt)
    cfg = json.loads(state["extra"]["config"])
    state["extra"]["config"] = json.dumps({**cfg, "dataset": str(tmp_path / "gone.csv")})
    moved = tmp_path / "ckpt.safetensors"
    cr.save(state, moved)
    _one_error_line(_run("evaluate", moved, cwd=tmp_path), 1, "gone.csv")


# -- train: bad CSV files --------------------------------------------------------------------------
def test_train_missing_csv(tmp_path):
    _one_error_line(_run(*_train_args(tmp_path / "absent.csv", tmp_path / "o"), cwd=tmp_path), 1, "absent.csv")


def test_train_csv_without_the_target_column(tmp_path):
    csv = _write_csv(tmp_path / "t.csv")
    args = _train_args(csv, tmp_path / "o")
    args[args.index("label")] = "AHD"
    _one_error_line(_run(*args, cwd=tmp_path), 1, "'AHD'", "t.csv", "x1")


def test_train_csv_with_garbage(tmp_path):
    csv = _write_csv(tmp_path / "g.csv")
    lines = csv.read_text().splitlines()
    lines[5] = "1.0,oops,Yes"  # line 6 of the file
    csv.write_text("\n".join(lines) + "\n")
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "'oops'", "'x2'", "line 6")
    csv.write_bytes(b"x1,x2,label\n\xff\xfe\x00garbage\x81,1,Yes\n")  # not UTF-8 at all
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "g.csv")


def test_train_empty_csv(tmp_path):
    csv = tmp_path / "empty.csv"
    csv.write_text("")
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "empty.csv", "empty")
    csv.write_text("x1,x2,label\n")  # a header and no rows
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "empty.csv", "no data rows")


def test_train_ragged_csv(tmp_path):
    csv = _write_csv(tmp_path / "r.csv")
    csv.write_text(csv.read_text() + "1.0,2.0\n")
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "r.csv", "fields")


def test_train_csv_too_small_to_split(tmp_path):
    csv = _write_csv(tmp_path / "two.csv", rows=2)
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), cwd=tmp_path), 1, "two.csv", "too few")


# -- train: bad options and config files (usage errors: status 2) ---------------------------------
@pytest.mark.parametrize("flag, value, needle", [
    ("--epochs", "0", "epochs"),
    ("--batch-size", "-3", "batch_size"),
    ("--lr", "-0.1", "lr"),
    ("--val-size", "1.5", "val_size"),
    ("--test-size", "-0.2", "test_size"),
    ("--dropout", "1.0", "dropout"),
    ("--model", "transformer", "transformer"),
    ("--hidden", "0", "hidden"),
    ("--patience", "-1", "patience"),
    ("--augment", "-2", "augment"),
])
def test_train_bad_option_value(tmp_path, flag, value, needle):
    csv = _write_csv(tmp_path / "t.csv")
    _one_error_line(_run(*_train_args(csv, tmp_path / "o"), flag, value, cwd=tmp_path), 2, needle, value)


def test_argparse_usage_errors_keep_their_form(tmp_path):
    """argparse's own errors: usage, then 'chainrule ...: error: ...' as the last line, status 2."""
    r = _run("train", "--epochs", "x", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("chainrule") and "error: argument --epochs: invalid int value: 'x'" in last
    r = _run("frobnicate", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("chainrule: error: ")


def test_config_file_errors(tmp_path):
    csv = _write_csv(tmp_path / "t.csv")
    _one_error_line(_run("train", "--config", tmp_path / "none.toml", cwd=tmp_path), 1, "none.toml")
    (tmp_path / "broken.toml").write_text("epochs = = 3\n")
    _one_error_line(_run("train", "--config", tmp_path / "broken.toml", cwd=tmp_path), 1, "broken.toml", "TOML")
    (tmp_path / "typo.toml").write_text("epoch = 3\n")
    _one_error_line(_run("train", "--config", tmp_path / "typo.toml", cwd=tmp_path), 2, "typo.toml", "'epoch'")
    (tmp_path / "wrongtype.toml").write_text(f'dataset = "{csv.as_posix()}"\ntarget = "label"\nepochs = "ten"\n')
    _one_error_line(_run("train", "--config", tmp_path / "wrongtype.toml", cwd=tmp_path), 2, "epochs", "'ten'")
    (tmp_path / "lr.toml").write_text(f'dataset = "{csv.as_posix()}"\ntarget = "label"\nlr = "fast"\n')
    _one_error_line(_run("train", "--config", tmp_path / "lr.toml", cwd=tmp_path), 2, "lr", "'fast'")


def test_csv_without_target_option(tmp_path):
    csv = _write_csv(tmp_path / "t.csv")
    _one_error_line(_run("train", "--dataset", csv, "--quiet", cwd=tmp_path), 2, "--target")


def test_unknown_bundled_dataset(tmp_path):
    _one_error_line(_run("train", "--dataset", "nonesuch", "--quiet", cwd=tmp_path), 2, "nonesuch")


def test_resume_from_a_corrupt_checkpoint(trained, tmp_path):
    _, csv, ckpt = trained
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(ckpt.read_bytes()[:100])
    _one_error_line(_run(*_train_args(csv, out, epochs=2), "--resume", cwd=tmp_path), 1, "checkpoint.safetensors")


def test_output_folder_that_cannot_be_created(tmp_path):
    csv = _write_csv(tmp_path / "t.csv")
    (tmp_path / "afile").write_text("a file, not a folder")
    _one_error_line(_run(*_train_args(csv, tmp_path / "afile" / "run"), cwd=tmp_path), 1, "afile")


def test_unknown_example_is_one_error_line(tmp_path):
    r = _run("example", "no_such_example", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()] == [
        f"{PREFIX}no example named 'no_such_example'"]


# -- --debug and CHAINRULE_DEBUG ------------------------------------------------------------------
def test_debug_flag_and_environment_show_the_traceback(tmp_path):
    missing = tmp_path / "nope.safetensors"
    for args, env in ((["--debug", "evaluate", missing], {}),
                      (["evaluate", missing, "--debug"], {}),
                      (["evaluate", missing], {"CHAINRULE_DEBUG": "1"})):
        r = _run(*args, cwd=tmp_path, **env)
        assert r.returncode == 1, r.stderr
        assert "Traceback (most recent call last)" in r.stderr and "FileNotFoundError" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith(PREFIX)  # the summary line still comes last
    for off in ("0", "", "false"):
        _one_error_line(_run("evaluate", missing, cwd=tmp_path, CHAINRULE_DEBUG=off), 1)


def test_debug_is_documented_in_help(tmp_path):
    for args in (["--help"], ["train", "--help"], ["evaluate", "--help"]):
        r = _run(*args, cwd=tmp_path)
        assert r.returncode == 0 and "--debug" in r.stdout
    assert "CHAINRULE_DEBUG" in _run("--help", cwd=tmp_path).stdout


# -- internal errors and interrupts, in process ---------------------------------------------------
def test_internal_error_is_one_line_with_a_hint(monkeypatch, capsys):
    def broken(path, split):
        return {}["no such key"]  # a bug, not a user's mistake

    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)
    monkeypatch.setattr(cli, "evaluate_checkpoint", broken)
    assert cli.main(["evaluate", "x.safetensors"]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), err
    assert "KeyError" in lines[0] and "--debug" in lines[0] and "CHAINRULE_DEBUG" in lines[0]
    assert cli.main(["--debug", "evaluate", "x.safetensors"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err


def test_keyboard_interrupt_in_process(monkeypatch, capsys):
    def interrupted(path, split):
        raise KeyboardInterrupt

    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)
    monkeypatch.setattr(cli, "evaluate_checkpoint", interrupted)
    assert cli.main(["evaluate", "x.safetensors"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX + "interrupted")


# -- Ctrl-C during training ------------------------------------------------------------------------
@pytest.mark.parametrize("quiet", [True, False])
def test_ctrl_c_during_training(tmp_path, quiet):
    """SIGINT after a few epochs: status 130, one error line, and the checkpoint on disk is whole."""
    csv = _write_csv(tmp_path / "t.csv")
    out = tmp_path / "run"
    args = _train_args(csv, out, epochs=100000)
    if not quiet:
        args.remove("--quiet")  # with the progress bar: the error line must still start a line
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *map(str, args)], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.safetensors"
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists():  # the first epoch has been written: training is under way
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "training did not start within 60 s"
            time.sleep(0.05)
        time.sleep(0.3)  # a few more epochs, so the signal lands mid-epoch or mid-save
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    errors = [line for line in err.split("\n") if "chainrule: error:" in line]
    assert len(errors) == 1 and errors[0].startswith(PREFIX + "interrupted"), err
    assert str(ckpt) in errors[0] and "--resume" in errors[0]
    if quiet:
        assert [line for line in err.splitlines() if line.strip()] == errors
    # the checkpoint is whole: it loads, and holds finite weights of a finished epoch
    state = cr.load(ckpt)
    assert state["epoch"] >= 1
    assert all(np.isfinite(v.numpy()).all() for v in state["model"].values())
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no half-written temporary file left
    r = _run("evaluate", ckpt, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_interrupted_epoch_closes_its_progress_bar(capsys):
    """Ctrl-C in the middle of an epoch: the tqdm bar is closed (its line ended) before the exception
    reaches the command, so the error line printed next starts a line of its own."""
    pytest.importorskip("tqdm")
    from chainrule import nn, optim
    from chainrule.train import LambdaCallback, Trainer
    from chainrule.utils.data import DataLoader, TensorDataset

    X = np.zeros((8, 2), np.float32)
    y = np.zeros(8, np.int64)
    model = nn.Linear(2, 2)

    def interrupt(trainer, batch, logs):
        if batch == 1:
            raise KeyboardInterrupt

    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[LambdaCallback(on_batch_end=interrupt)], verbose=1)
    with pytest.raises(KeyboardInterrupt) as caught:
        trainer.fit(DataLoader(TensorDataset(X, y), batch_size=2), epochs=3)
    # `caught` holds the traceback and so the epoch's frame: as in the command's except clause, a bar
    # left open would not be garbage-collected (and closed) before the error line is printed
    assert caught.traceback
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and err.endswith("\n"), repr(err[-200:])


def test_ctrl_c_just_after_the_temporary_file_is_created(tmp_path, monkeypatch):
    """cr.save's atomic write, interrupted right after the temporary file appears (where a SIGINT
    can land: Python checks for signals after each system call): the old file stays whole and no
    temporary file is left behind."""
    target = tmp_path / "checkpoint.safetensors"
    cr.save({"w": cr.ones(3)}, target)
    before = target.read_bytes()
    real_open = os.open

    def open_then_interrupt(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if flags & os.O_CREAT:
            os.close(fd)  # (only so that the test leaks no descriptor)
            raise KeyboardInterrupt  # the file exists now; the caller never sees its descriptor
        return fd

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        cr.save({"w": cr.zeros(3)}, target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors"]
    assert target.read_bytes() == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_that_lands_inside_a_finalizer_still_stops_training(tmp_path, monkeypatch, capsys):
    """Python swallows an exception raised in a ``__del__`` ("Exception ignored in ..."): a Ctrl-C
    arriving there must still stop training, with status 130 and the usual message."""
    from chainrule.train import HistoryLogger

    class DiesAtCtrlC:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10000):  # Python runs the handler here, inside __del__
                pass

    def on_batch_end(self, trainer, batch, logs):
        if trainer.epoch == 2 and batch == 0:
            DiesAtCtrlC()

    monkeypatch.setattr(HistoryLogger, "on_batch_end", on_batch_end, raising=False)
    csv = _write_csv(tmp_path / "t.csv")
    out = tmp_path / "run"
    status = cli.main([str(a) for a in _train_args(csv, out, epochs=30)])
    err = capsys.readouterr().err
    assert status == 130, err
    assert _epochs_finished(out) < 30
    assert [line for line in err.split("\n") if line.startswith(PREFIX)][0].startswith(PREFIX + "interrupted"), err


def _epochs_finished(out: Path) -> int:
    """How many epochs the interrupted run finished, from the history.csv written after every epoch."""
    return len((out / "history.csv").read_text().splitlines()) - 1


def test_ctrl_c_inside_the_progress_bars_constructor(tmp_path, monkeypatch, capsys):
    """A Ctrl-C that lands while tqdm builds an epoch's bar is held until the bar is whole: no
    "Exception ignored in tqdm.__del__" traceback (half a bar has no ``pos``), and training stops
    with status 130 and the usual message."""
    import tqdm.auto

    real = tqdm.auto.tqdm

    class InterruptedBar(real):  # type: ignore[misc, valid-type]
        built = 0

        @classmethod
        def _get_free_pos(cls, instance=None):  # called by tqdm's constructor before it sets .pos
            if instance is not None:
                InterruptedBar.built += 1
                if InterruptedBar.built == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                    for _ in range(10000):  # Python runs the handler here, inside the constructor
                        pass
            return super()._get_free_pos(instance)

    monkeypatch.setattr(tqdm.auto, "tqdm", InterruptedBar)
    unraisable = []  # what Python would print as "Exception ignored in ..."
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    csv = _write_csv(tmp_path / "t.csv")
    out = tmp_path / "run"
    args = [str(a) for a in _train_args(csv, out, epochs=30) if a != "--quiet"]  # (with the progress bar)
    status = cli.main(args)
    err = capsys.readouterr().err
    assert status == 130, err
    assert "Traceback" not in err and not unraisable, (err, [u.exc_value for u in unraisable])
    assert [line for line in err.split("\n") if line.startswith(PREFIX)][0].startswith(PREFIX + "interrupted"), err
