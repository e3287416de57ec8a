"""The ``chainrule`` command: train and evaluate models, run the notes' examples.

    chainrule train                         the main demo: a small CNN on the 8x8 digits (>= 97% test accuracy)
    chainrule train --dataset breast_cancer --model mlp --hidden 32 --epochs 30
    chainrule train --config run.toml       the same options from a TOML file (flags override it)
    chainrule train --dataset heart.csv --target AHD     any CSV with a header (categorical columns one-hot)
    chainrule evaluate runs/digits-cnn/checkpoint.safetensors
    chainrule example                       list the runnable examples; chainrule example NAME [args...]
    chainrule datasets                      list the data sets that need no download

A training run writes into its output folder: checkpoint.safetensors (model, optimiser,
scheduler, epoch, random states and this run's configuration; ``--resume`` continues from it),
history.csv / history.json (one row per epoch), metrics.json (test metrics, wall time) and,
if matplotlib is installed, history.png and confusion_matrix.png (and diagnostics plots
with ``--diagnostics``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "target": None,
    "categorical": None,
    "model": None,  # cnn for image data, mlp otherwise
    "hidden": [64],
    "channels": [32, 64],
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": None,  # on for cnn, off for mlp
    "optimizer": "adam",
    "lr": None,  # 0.01 for adam/rmsprop/adagrad, 0.1 for sgd
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "cosine",
    "epochs": 20,
    "batch_size": 64,
    "seed": 0,
    "val_size": 0.15,
    "test_size": 0.2,
    "augment": 0,  # max translation in pixels (0: off)
    "flip": False,
    "patience": 0,  # early stopping patience (0: off)
    "grad_clip": None,
    "out": None,  # runs/<dataset>-<model>
    "quiet": False,
    "plots": True,
    "diagnostics": False,
    "resume": False,
}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau", "inverse_time")


# -- argument parsing ---------------------------------------------------------------------------
def _ints(s: str) -> list[int]:
    try:
        return [int(v) for v in s.replace(" ", "").split(",") if v]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32, got {s!r}") from e


def _strs(s: str) -> list[str]:
    return [v.strip() for v in s.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: a readable deep-learning library on NumPy. Train and evaluate models on small "
        "data sets, and run the lecture notes' examples.",
        epilog="Run 'chainrule train' with no options for the demo: a small CNN on the 8x8 digits data set "
        "with batch normalisation (about 99% test accuracy in well under a minute). "
        "'chainrule COMMAND --help' explains each command.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="train a model (no options: the digits CNN demo)",
        description="Train a model and write checkpoint, history, metrics and plots to the output folder. "
        "Options can also come from --config FILE.toml (keys named like the options, e.g. batch_size = 64); "
        "options given on the command line override the file.",
    )
    S = argparse.SUPPRESS  # unset flags stay absent, so config-file values survive
    t.add_argument("--config", help="TOML file with any of the options below")
    g = t.add_argument_group("data")
    g.add_argument("--dataset", default=S, help="digits (default), iris, wine, breast_cancer, diabetes, or a .csv path")
    g.add_argument("--target", default=S, help="label column of a CSV data set")
    g.add_argument("--categorical", type=_strs, default=S, help="CSV columns to one-hot encode (default: detect)")
    g.add_argument("--val-size", dest="val_size", type=float, default=S, help="validation fraction (default 0.15)")
    g.add_argument("--test-size", dest="test_size", type=float, default=S, help="test fraction (default 0.2)")
    g.add_argument("--augment", type=int, default=S, metavar="PIXELS",
                   help="random translation of training images by up to PIXELS (default 0: off)")
    g.add_argument("--flip", action="store_true", default=S, help="random horizontal flips (off: wrong for digits)")
    g = t.add_argument_group("model")
    g.add_argument("--model", default=S, help="mlp or cnn (default: cnn for images, mlp otherwise)")
    g.add_argument("--hidden", type=_ints, default=S, help="MLP hidden widths, e.g. 64,32 (default 64)")
    g.add_argument("--channels", type=_ints, default=S, help="CNN channels per block (default 32,64)")
    g.add_argument("--activation", default=S, help="relu (default), tanh, sigmoid, leaky_relu, elu, gelu")
    g.add_argument("--dropout", type=float, default=S, help="dropout probability (default 0)")
    g.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=S,
                   help="batch normalisation after each layer (default: on for cnn, off for mlp)")
    g = t.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=S, choices=OPTIMIZERS, help="default adam")
    g.add_argument("--lr", type=float, default=S, help="learning rate (default 0.01; 0.1 for sgd)")
    g.add_argument("--momentum", type=float, default=S, help="SGD momentum (default 0.9)")
    g.add_argument("--weight-decay", dest="weight_decay", type=float, default=S, help="L2 weight decay (default 0)")
    g.add_argument("--schedule", default=S, choices=SCHEDULES, help="learning-rate schedule per epoch (default cosine)")
    g.add_argument("--epochs", type=int, default=S, help="default 20")
    g.add_argument("--batch-size", dest="batch_size", type=int, default=S, help="mini-batch size (default 64)")
    g.add_argument("--patience", type=int, default=S, help="early-stopping patience on val_loss (default 0: off)")
    g.add_argument("--grad-clip", dest="grad_clip", type=float, default=S, help="clip the gradient norm to this")
    g.add_argument("--seed", type=int, default=S, help="seed for split, initialisation, shuffling (default 0)")
    g = t.add_argument_group("output")
    g.add_argument("--out", default=S, help="output folder (default runs/<dataset>-<model>)")
    g.add_argument("--quiet", "-q", action="store_true", default=S, help="no progress bar")
    g.add_argument("--no-plots", dest="plots", action="store_false", default=S, help="skip the PNG plots")
    g.add_argument("--diagnostics", action="store_true", default=S,
                   help="record activation/gradient statistics, warn on dead/saturated units, plot them")
    g.add_argument("--resume", action="store_true", default=S,
                   help="continue from <out>/checkpoint.safetensors up to --epochs")

    e = sub.add_parser("evaluate", help="evaluate a saved checkpoint on its data set's test split",
                       description="Rebuild the data split and model recorded in a checkpoint and report its metrics.")
    e.add_argument("checkpoint", help="a checkpoint.safetensors written by 'chainrule train'")
    e.add_argument("--split", default="test", choices=("train", "val", "test"), help="default test")

    x = sub.add_parser("example", help="run one of the notes' examples: chainrule example NAME [args...]",
                       description="Run chainrule.examples.NAME.main(args); without NAME, list the examples.")
    x.add_argument("name", nargs="?", help="the example's name")
    x.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the example")

    sub.add_parser("datasets", help="list the data sets that need no download")
    return p


def load_config(path: str | Path) -> dict:
    """Options from a TOML file: top-level keys, and keys inside any table (flattened), named like the flags."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser as the tomli package (a dependency there)
        import tomli as tomllib

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as e:
        raise SystemExit(f"chainrule: config file {path} not found") from e
    except tomllib.TOMLDecodeError as e:
        raise SystemExit(f"chainrule: {path} is not valid TOML: {e}") from e
    flat: dict = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            flat.update({kk.replace("-", "_"): vv for kk, vv in v.items()})
        else:
            flat[k.replace("-", "_")] = v
    unknown = sorted(set(flat) - set(DEFAULTS))
    if unknown:
        raise SystemExit(f"chainrule: unknown option(s) {unknown} in {path}; known: {sorted(DEFAULTS)}")
    return flat


def resolve_config(ns: argparse.Namespace) -> dict:
    """Defaults < config file < command-line flags."""
    cfg = dict(DEFAULTS)
    if getattr(ns, "config", None):
        cfg.update(load_config(ns.config))
    cfg.update({k: v for k, v in vars(ns).items() if k in DEFAULTS})
    for k in ("hidden", "channels"):
        if isinstance(cfg[k], int):
            cfg[k] = [cfg[k]]
    if isinstance(cfg["categorical"], str):
        cfg["categorical"] = _strs(cfg["categorical"])
    if cfg["lr"] is None:
        cfg["lr"] = 0.1 if cfg["optimizer"] == "sgd" else 0.01
    if cfg["optimizer"] not in OPTIMIZERS:
        raise SystemExit(f"chainrule: unknown optimizer {cfg['optimizer']!r}; choose from {', '.join(OPTIMIZERS)}")
    if cfg["schedule"] not in SCHEDULES:
        raise SystemExit(f"chainrule: unknown schedule {cfg['schedule']!r}; choose from {', '.join(SCHEDULES)}")
    if not isinstance(cfg["epochs"], int) or cfg["epochs"] < 1:
        raise SystemExit(f"chainrule: epochs must be a positive integer, got {cfg['epochs']!r}")
    if not isinstance(cfg["batch_size"], int) or cfg["batch_size"] < 1:
        raise SystemExit(f"chainrule: batch_size must be a positive integer, got {cfg['batch_size']!r}")
    return cfg


# -- data and model from a configuration --------------------------------------------------------
def load_data(cfg: dict) -> Any:
    """The DataSplits for a configuration (a bundled data set name or a CSV path)."""
    from chainrule.data import DataSplits, Split, StandardScaler, load_csv, load_dataset, train_val_test_split

    name = str(cfg["dataset"])
    if name.lower().endswith((".csv", ".tsv", ".txt")):
        if not cfg.get("target"):
            raise SystemExit(f"chainrule: a CSV data set needs --target COLUMN (the label column of {name})")
        tab = load_csv(name, target=cfg["target"], categorical=cfg.get("categorical"))
        Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(
            tab.X, tab.y, val_size=cfg["val_size"], test_size=cfg["test_size"], stratify=tab.y, seed=cfg["seed"]
        )
        scaler = StandardScaler().fit(Xtr)  # statistics of the training split only
        Xtr, Xva, Xte = (scaler.transform(a).astype("float32") for a in (Xtr, Xva, Xte))
        return DataSplits(Path(name).stem, "classification", Split(Xtr, ytr), Split(Xva, yva), Split(Xte, yte),
                          num_classes=len(tab.classes), input_shape=(tab.X.shape[1],),
                          feature_names=tab.feature_names, target_names=[str(c) for c in tab.classes], scaler=scaler)
    try:
        return load_dataset(name, val_size=cfg["val_size"], test_size=cfg["test_size"], seed=cfg["seed"])
    except ValueError as e:
        raise SystemExit(f"chainrule: {e}") from e


def model_name(cfg: dict, data: Any) -> str:
    return cfg["model"] or ("cnn" if len(data.input_shape) == 3 else "mlp")


def make_model(cfg: dict, data: Any) -> Any:
    from chainrule import nn
    from chainrule.models import build_model

    if not hasattr(nn, "Module"):
        raise SystemExit("chainrule: this build has no chainrule.nn modules (nn.Module, Linear, Conv2d...); "
                         "the command needs them to build a model")
    name = model_name(cfg, data)
    out = data.num_classes if data.task == "classification" else 1
    bn = cfg.get("batch_norm")
    bn = (name == "cnn") if bn is None else bool(bn)  # default: on for cnn, off for mlp
    if name == "cnn":
        opts = {"channels": cfg["channels"], "dropout": cfg["dropout"], "batch_norm": bn}
    else:
        opts = {"hidden": cfg["hidden"], "activation": cfg["activation"], "dropout": cfg["dropout"],
                "batch_norm": bn}
    try:
        return build_model(name, data.input_shape, out, **opts)
    except ValueError as e:
        raise SystemExit(f"chainrule: {e}") from e


def make_optimizer(cfg: dict, params: Any) -> Any:
    from chainrule import optim

    lr, wd = cfg["lr"], cfg["weight_decay"]
    kind = cfg["optimizer"]
    if kind == "sgd":
        return optim.SGD(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}[kind]
    return cls(params, lr=lr, weight_decay=wd)


def make_scheduler(cfg: dict, opt: Any) -> Any:
    from chainrule.optim import lr_scheduler as ls

    kind, epochs = cfg["schedule"], cfg["epochs"]
    if kind == "none":
        return None
    if kind == "step":
        return ls.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1)
    if kind == "exponential":
        return ls.ExponentialLR(opt, gamma=0.9)
    if kind == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=epochs)
    if kind == "plateau":
        return ls.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    return ls.InverseTimeLR(opt, decay_rate=0.1)


def make_loss(data: Any) -> Any:
    from chainrule import nn

    return nn.CrossEntropyLoss() if data.task == "classification" else nn.MSELoss()


# -- commands ---------------------------------------------------------------------------------
def run_training(cfg: dict) -> dict:
    """Train as configured; write the outputs; return {'test': metrics, 'out': folder, 'wall_time_s': ...}."""
    import chainrule as cr
    from chainrule.data import Compose, RandomHorizontalFlip, RandomTranslate
    from chainrule.train import EarlyStopping, HistoryLogger, ModelCheckpoint, Trainer
    from chainrule.utils.data import DataLoader, Generator

    t0 = time.perf_counter()
    cr.manual_seed(cfg["seed"])
    data = load_data(cfg)
    name = model_name(cfg, data)
    out = Path(cfg["out"] or f"runs/{data.name}-{name}")
    out.mkdir(parents=True, exist_ok=True)
    model = make_model(cfg, data)
    opt = make_optimizer(cfg, model.parameters())
    sched = make_scheduler(cfg, opt)

    transforms: list[Any] = []
    if cfg["augment"]:
        transforms.append(RandomTranslate(cfg["augment"], generator=Generator().manual_seed(cfg["seed"] + 1)))
    if cfg["flip"]:
        transforms.append(RandomHorizontalFlip(generator=Generator().manual_seed(cfg["seed"] + 2)))
    if transforms and len(data.input_shape) != 3:
        raise SystemExit("chainrule: --augment/--flip apply to image data sets only (e.g. digits)")
    train_ds = data.train.dataset(transform=Compose(transforms) if transforms else None)
    train_loader = DataLoader(train_ds, batch_size=cfg["batch_size"], shuffle=True,
                              generator=Generator().manual_seed(cfg["seed"]))
    val_loader = DataLoader(data.val.dataset(), batch_size=512)
    test_loader = DataLoader(data.test.dataset(), batch_size=512)

    callbacks: list = [ModelCheckpoint(out, filename="checkpoint"), HistoryLogger(out)]
    if cfg["patience"] > 0:
        callbacks.insert(0, EarlyStopping("val_loss", patience=cfg["patience"], restore_best_weights=True))
    monitors = []
    if cfg["diagnostics"]:
        from chainrule.train import ActivationMonitor, GradientMonitor

        monitors = [ActivationMonitor(model), GradientMonitor(model)]
        callbacks += monitors
    trainer = Trainer(model, make_loss(data), opt, scheduler=sched, callbacks=callbacks,
                      grad_clip=cfg["grad_clip"], verbose=0 if cfg["quiet"] else 1)
    trainer.extra = {"config": json.dumps({**cfg, "out": str(out)})}
    ckpt = out / "checkpoint.safetensors"
    if cfg["resume"]:
        if not ckpt.exists():
            raise SystemExit(f"chainrule: --resume but there is no checkpoint at {ckpt}")
        trainer.load_checkpoint(ckpt)
        trainer.extra = {"config": json.dumps({**cfg, "out": str(out)})}
        _say(cfg, f"resuming from {ckpt} at epoch {trainer.epoch}")
    _say(cfg, f"data: {data}\nmodel: {name}, {sum(p.numel() for p in model.parameters())} parameters; "
              f"optimizer {cfg['optimizer']} lr={cfg['lr']}, schedule {cfg['schedule']}, {cfg['epochs']} epochs")
    trainer.fit(train_loader, val_loader, epochs=cfg["epochs"])
    trainer.save_checkpoint(ckpt)  # the final model (best weights if early stopping restored them)
    test = trainer.evaluate(test_loader)
    wall = time.perf_counter() - t0
    summary = {"dataset": data.name, "model": name, "epochs": trainer.epoch, "test": test,
               "wall_time_s": round(wall, 2), "out": str(out)}
    trainer.history.to_csv(out / "history.csv")
    trainer.history.to_json(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(summary, indent=1))
    if cfg["plots"]:
        _plots(out, trainer, data, test_loader, monitors, cfg)
    print(f"test {_fmt_metrics(test)}  ({data.test.n} examples)")
    print(f"wrote {out}/: checkpoint.safetensors, history.csv, history.json, metrics.json"
          + (", plots" if cfg["plots"] else "") + f"  [{wall:.1f} s]")
    return summary


def _plots(out: Path, trainer: Any, data: Any, test_loader: Any, monitors: list, cfg: dict) -> None:
    try:
        from chainrule import plot
        from chainrule.train.metrics import confusion_matrix

        plot.plot_history(trainer.history, out / "history.png", title=f"{data.name}")
        if data.task == "classification":
            pred = trainer.predict(test_loader)
            cm = confusion_matrix(pred, data.test.y, data.num_classes)
            plot.plot_confusion_matrix(cm, out / "confusion_matrix.png", labels=data.target_names or None,
                                       title="test set")
        for m in monitors:
            if hasattr(m, "kinds") and m.samples:
                named = {f"layer {n} ({m.kinds[n]})": v for n, v in m.samples.items()}
                plot.plot_histograms(named, out / "activations.png", title="activations (last epoch)")
            elif m.samples:
                plot.plot_histograms(m.samples, out / "gradients.png", title="gradients (last step)")
                plot.plot_series(m.history, out / "grad_norms.png", ylabel="gradient norm", logy=True)
    except ImportError as e:
        _say(cfg, f"(no plots: {e})")


def _say(cfg: dict, msg: str) -> None:
    if not cfg.get("quiet"):
        print(msg, file=sys.stderr)


def _fmt_metrics(m: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in m.items())


def evaluate_checkpoint(path: str | Path, split: str = "test") -> dict:
    """Rebuild data and model from a checkpoint's recorded configuration and evaluate it on ``split``."""
    from chainrule.train import Trainer
    from chainrule.train.checkpoint import load_checkpoint
    from chainrule.train.metrics import confusion_matrix
    from chainrule.utils.data import DataLoader

    path = Path(path)
    if not path.exists():
        raise SystemExit(f"chainrule: no checkpoint at {path}")
    state = load_checkpoint(path)
    if "config" not in state.get("extra", {}):
        raise SystemExit(f"chainrule: {path} has no run configuration (it was not written by 'chainrule train')")
    cfg = json.loads(state["extra"]["config"])
    data = load_data(cfg)
    model = make_model(cfg, data)
    model.load_state_dict(state["model"])
    part = data[split]
    trainer = Trainer(model, make_loss(data), make_optimizer(cfg, model.parameters()), verbose=0)
    loader = DataLoader(part.dataset(), batch_size=512)
    metrics = trainer.evaluate(loader)
    print(f"{data.name} {split} ({part.n} examples), model {model_name(cfg, data)} after {state['epoch']} epochs:")
    print(f"  {_fmt_metrics(metrics)}")
    if data.task == "classification":
        cm = confusion_matrix(trainer.predict(loader), part.y, data.num_classes)
        print("  confusion matrix (rows: true class, columns: predicted):")
        for row in cm:
            print("   " + " ".join(f"{v:4d}" for v in row))
    return metrics


def list_examples() -> list[str]:
    try:
        import chainrule.examples as ex
    except ImportError:
        return []
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(ex.__path__) if not m.name.startswith("_"))


def run_example(name: str | None, args: list[str]) -> int:
    import importlib

    names = list_examples()
    if not name or name not in names:
        if name:
            print(f"chainrule: no example named {name!r}.", file=sys.stderr)
        print("available examples: " + (", ".join(names) if names else "(none installed)"))
        print("run one with: chainrule example NAME [args...]")
        return 0 if not name else 2
    mod = importlib.import_module(f"chainrule.examples.{name}")
    if not hasattr(mod, "main"):
        raise SystemExit(f"chainrule: example {name!r} has no main(args) function")
    result = mod.main(list(args))
    return int(result) if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chainrule`` console script and ``python -m chainrule``."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        parser.print_help()
        return 0
    if ns.command == "train":
        run_training(resolve_config(ns))
        return 0
    if ns.command == "evaluate":
        evaluate_checkpoint(ns.checkpoint, ns.split)
        return 0
    if ns.command == "example":
        return run_example(ns.name, ns.args)
    if ns.command == "datasets":
        from chainrule.data import DATASETS

        print("bundled with scikit-learn: " + ", ".join(DATASETS))
        print("generated (chainrule.data): make_xor, make_spirals, make_moons, make_circles, "
              "make_linear_regression, make_polynomial_regression")
        print("your own: chainrule train --dataset FILE.csv --target COLUMN")
        return 0
    parser.error(f"unknown command {ns.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
