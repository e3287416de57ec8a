"""LeNet- and small AlexNet-style CNNs on the 8×8 digits, with the notes' size table (notes 004).

For each network the example prints the notes' per-layer table (``chainrule.models.lenet``):
output units, weights K²·I·J (conv) or M·N (fully connected), biases, fan-in, and
connections = output units × fan-in (W·H·K²·I·J for a convolution with a W×H output), then
trains it on scikit-learn's digits (1 168 train / 270 validation / 359 test images, the
stratified split of ``load_dataset('digits')``, pixels / 16) and prints the test accuracy.

* LeNet-5 as in 1998, scaled to 8×8: tanh, average pooling (subsampling);
* the same LeNet with ReLU and max pooling (the usual modern variant; the one the tests check);
* AlexNetSmall with the notes' AlexNet tricks: ReLU, dropout 0.5 before the fully
  connected layers, weight decay 5e-4, data augmentation by random translation of ±1 pixel
  (training set only, a new shift every time an image is drawn), SGD with momentum 0.9.

All three train with SGD + momentum 0.9, weight decay 5e-4, learning rate 0.05 on a cosine
schedule, cross-entropy with label smoothing 0.1, mini-batches of 32, 60 epochs.

Run:  python -m chainrule.examples.digits_cnn [--epochs 60] [--models lenet5,lenet,alexnet] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

MODELS = {
    "lenet5": "LeNet-5 (tanh, average pooling)",
    "lenet": "LeNet (ReLU, max pooling)",
    "alexnet": "AlexNetSmall (ReLU, dropout, augmentation)",
}


def build(name: str) -> Any:
    """The network called ``name`` ('lenet5', 'lenet' or 'alexnet') for (1, 8, 8) digits."""
    from chainrule.models.lenet import AlexNetSmall, LeNet

    if name == "lenet5":
        return LeNet(activation="tanh", pool="avg")
    if name == "lenet":
        return LeNet(activation="relu", pool="max")
    if name == "alexnet":
        return AlexNetSmall(dropout=0.5)
    raise ValueError(f"digits_cnn: unknown model {name!r}; choose from {', '.join(MODELS)}")


def train_digits(
    model: Any,
    data: Any,
    epochs: int = 60,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    label_smoothing: float = 0.1,
    augment: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``model`` on data.train (SGD + momentum, cosine schedule), return val/test accuracy and time.

    ``augment`` > 0 shifts each training image by a random (dy, dx) in [-augment, augment]².
    """
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import RandomTranslate
    from chainrule.train import Trainer
    from chainrule.utils.data import DataLoader

    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    trainer = Trainer(model, nn.CrossEntropyLoss(label_smoothing=label_smoothing), opt, scheduler=sched, verbose=0)
    transform = RandomTranslate(augment, generator=cr.Generator().manual_seed(seed + 1)) if augment else None
    loader = DataLoader(data.train.dataset(transform=transform), batch_size=32, shuffle=True,
                        generator=cr.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    history = trainer.fit(loader, DataLoader(data.val.dataset(), batch_size=512), epochs=epochs)
    seconds = time.perf_counter() - t0
    test = trainer.evaluate(DataLoader(data.test.dataset(), batch_size=512))
    return {"val_accuracy": history["val_accuracy"][-1], "test_accuracy": test["accuracy"], "seconds": seconds,
            "history": history}


def run(
    models: Sequence[str] = tuple(MODELS),
    epochs: int = 60,
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, Any]:
    import chainrule as cr
    from chainrule.data import load_dataset
    from chainrule.models.lenet import format_layer_table, layer_table

    say = print if verbose else (lambda *a, **k: None)
    data = load_dataset("digits")
    say(f"digits: train {data.train.n}, val {data.val.n}, test {data.test.n} images of shape {data.input_shape}")
    out: dict[str, Any] = {}
    for name in models:
        cr.manual_seed(seed)
        model = build(name)
        rows = layer_table(model, data.input_shape)
        say(f"\n{MODELS[name]}\n{format_layer_table(rows)}")
        res = train_digits(model, data, epochs=epochs, augment=1 if name == "alexnet" else 0, seed=seed)
        res.update(table=rows, model=model, params=model.num_parameters())
        out[name] = res
        say(f"{name}: test accuracy {res['test_accuracy']:.4f} (val {res['val_accuracy']:.4f}) after {epochs} epochs, "
            f"{res['seconds']:.1f} s")
    say(f"\n{'model':45} {'params':>7} {'connections':>11} {'test acc':>8} {'time':>6}")
    for name, r in out.items():
        conn = sum(row.connections for row in r["table"])
        say(f"{MODELS[name]:45} {r['params']:>7} {conn:>11} {r['test_accuracy']:>8.4f} {r['seconds']:>5.1f}s")
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="chainrule.examples.digits_cnn", description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return run(models=[m.strip() for m in a.models.split(",") if m.strip()], epochs=a.epochs, seed=a.seed)


if __name__ == "__main__":
    main()
