"""Real models beyond w1-w4 (issue 13's table): chainrule's steps/s beside PyTorch's.

Every workload is written once against the torch API (``build(nn, optim, as_tensor)``, as
w1-w4 are) and run by both frameworks with the same initial parameters; the first losses (or
outputs, for inference) must agree before anything is timed (``_harness.matched_steps``).
Timing is ``_harness.compare``'s: alternating rounds of at least one second, each after
0.5 s of untimed settling steps, median of 5 rounds.

Run all: ``python bench/bench_models.py``; some: ``python bench/bench_models.py cifar_cnn
transformer``; ``--list`` names them; ``--seconds S --rounds R`` change the timing;
``--separate`` times each framework alone in its own child process instead (PyTorch's child
with glibc's default malloc settings, as PyTorch alone has them; no
alternation: the other framework's threads cannot disturb it), to compare the two methods;
``--json FILE`` writes the results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
from typing import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_w1_mlp  # noqa: E402
import bench_w2_mlp  # noqa: E402
import bench_w3_lenet  # noqa: E402
import bench_w4_lstm  # noqa: E402
from _harness import _as_step, _time_round, bench_threads, compare, framework, matched_steps, mem_child  # noqa: E402


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f32(*shape: int, seed: int = 0) -> np.ndarray:
    return _rng(seed).standard_normal(shape).astype(np.float32)


def _labels(n: int, classes: int, seed: int = 1) -> np.ndarray:
    return _rng(seed).integers(0, classes, n).astype(np.int64)


# ---------------------------------------------------------------- convolutional networks
def cifar_cnn(nn, optim, as_tensor):
    """conv 3→32→64→128 (k3, BN, ReLU, max-pool 2), adaptive avg-pool, linear; 32×3×32×32, SGD momentum."""
    x, y = as_tensor(_f32(32, 3, 32, 32)), as_tensor(_labels(32, 10))
    layers = []
    for c_in, c_out in [(3, 32), (32, 64), (64, 128)]:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    loss = nn.CrossEntropyLoss()
    return (lambda: loss(model(x), y)), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def resnet_blocks(nn, optim, as_tensor):
    """2 ResNet basic blocks (conv-BN-ReLU-conv-BN + identity, ReLU), 64 channels, 32×64×16×16."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.c2, self.b2 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.b2(self.c2(self.act(self.b1(self.c1(x))))) + x)

    x, y = as_tensor(_f32(32, 64, 16, 16)), as_tensor(_labels(32, 10))
    model = nn.Sequential(Block(), Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    loss = nn.CrossEntropyLoss()
    return (lambda: loss(model(x), y)), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def _conv_alone(px: int) -> Callable:
    def build(nn, optim, as_tensor):
        x = as_tensor(_f32(16, 16, px, px))
        conv = nn.Conv2d(16, 32, 3, padding=1)
        return (lambda: conv(x).square().mean()), optim.SGD(conv.parameters(), lr=0.01)

    build.__doc__ = f"one Conv2d(16, 32, 3, padding 1), batch 16 at {px}×{px}, loss mean(y²), SGD"
    return build


# ---------------------------------------------------------------- transformers
def _transformer(causal: bool) -> Callable:
    def build(nn, optim, as_tensor):
        x, y = as_tensor(_f32(16, 64, 128)), as_tensor(_labels(16 * 64, 10))
        layer = nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        head = nn.Linear(128, 10)
        mask = nn.Transformer.generate_square_subsequent_mask(64) if causal else None
        params = list(enc.parameters()) + list(head.parameters())
        loss = nn.CrossEntropyLoss()

        def fn():
            return loss(head(enc(x, mask=mask, is_causal=causal)).reshape(-1, 10), y)

        return fn, optim.AdamW(params, lr=1e-3)

    build.__doc__ = ("pre-norm TransformerEncoder, d 128, 4 heads, ff 512 (GELU), seq 64, batch 16, 2 layers, "
                     f"AdamW{', causal mask' if causal else ''}")
    return build


# ---------------------------------------------------------------- recurrent networks
def gru_lm(nn, optim, as_tensor):
    """w4 with a GRU: Embedding(65, 64) → GRU(64, 256) → Linear(256, 65), 32×64 tokens, Adam."""
    batches = itertools.cycle([(as_tensor(x), as_tensor(y.reshape(-1))) for x, y in bench_w4_lstm._batches()])
    V = bench_w4_lstm.VOCAB
    emb, rnn, head = nn.Embedding(V, 64), nn.GRU(64, 256, batch_first=True), nn.Linear(256, V)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
    loss = nn.CrossEntropyLoss()

    def fn():
        x, y = next(batches)
        return loss(head(rnn(emb(x))[0]).reshape(-1, V), y)

    return fn, optim.Adam(params, lr=1e-3)


def _lstm_regression(hidden: int, layers: int) -> Callable:
    def build(nn, optim, as_tensor):
        x, y = as_tensor(_f32(32, 100, 8)), as_tensor(_f32(32, 100, 1, seed=2))
        rnn, head = nn.LSTM(8, hidden, layers, batch_first=True), nn.Linear(hidden, 1)
        loss = nn.MSELoss()
        return (lambda: loss(head(rnn(x)[0]), y)), optim.Adam(list(rnn.parameters()) + list(head.parameters()))

    build.__doc__ = f"{layers}-layer LSTM, input 8, hidden {hidden}, seq 100, batch 32, linear read-out, MSE, Adam"
    return build


# ---------------------------------------------------------------- dense networks
def mlp_big(nn, optim, as_tensor):
    """MLP 1024-1024-1024-10 (ReLU), batch 512, CrossEntropy, SGD momentum."""
    x, y = as_tensor(_f32(512, 1024)), as_tensor(_labels(512, 10))
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    loss = nn.CrossEntropyLoss()
    return (lambda: loss(model(x), y)), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def _wide_softmax(adam: bool) -> Callable:
    def build(nn, optim, as_tensor):
        x, y = as_tensor(_f32(256, 256)), as_tensor(_labels(256, 10_000))
        lin, loss = nn.Linear(256, 10_000), nn.CrossEntropyLoss()
        opt = optim.Adam(lin.parameters(), lr=1e-3) if adam else optim.SGD(lin.parameters(), lr=0.01, momentum=0.9)
        return (lambda: loss(lin(x), y)), opt

    build.__doc__ = f"Linear 256→10,000 + cross-entropy, batch 256, {'Adam' if adam else 'SGD momentum'}"
    return build


def _w2_at(batch: int) -> Callable:
    def build(nn, optim, as_tensor):
        x, y = as_tensor(_rng().random((batch, 784)).astype(np.float32)), as_tensor(_labels(batch, 10))
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        loss = nn.CrossEntropyLoss()
        return (lambda: loss(model(x), y)), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    build.__doc__ = f"w2's MLP 784-512-512-10 at batch {batch}"
    return build


# ---------------------------------------------------------------- inference, batch 1
def _inference(kind: str, x_shape: tuple) -> Callable:
    """w1's MLP or w3's LeNet-5 on one sample, forward only under no_grad, in eval mode."""

    def build(nn, optim, as_tensor):
        if kind == "w1":
            a, b, c, d = bench_w1_mlp.SIZES
            model = nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(), nn.Linear(c, d))
        else:
            model = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
            )
        x = as_tensor(_f32(*x_shape))
        return (lambda: model(x)), list(model.eval().parameters())

    build.__doc__ = f"inference, batch 1, no_grad: {'the w1 MLP' if kind == 'w1' else 'LeNet-5'}"
    return build


WORKLOADS: dict[str, tuple[Callable, bool]] = {  # name -> (build, inference?)
    "cifar_cnn": (cifar_cnn, False),
    "resnet_blocks": (resnet_blocks, False),
    "transformer": (_transformer(False), False),
    "transformer_causal": (_transformer(True), False),
    "gru_lm": (gru_lm, False),
    "lstm2_h128": (_lstm_regression(128, 2), False),
    "mlp_big": (mlp_big, False),
    "infer_lenet_b1": (_inference("lenet", (1, 1, 28, 28)), True),
    "infer_w1_b1": (_inference("w1", (1, 13)), True),
    "wide_softmax_adam": (_wide_softmax(True), False),
    "wide_softmax_sgd": (_wide_softmax(False), False),
    "w2_b16": (_w2_at(16), False),
    "w2_b128": (_w2_at(128), False),
    "w2_b1024": (_w2_at(1024), False),
    **{f"conv_{px}px": (_conv_alone(px), False) for px in (16, 32, 64, 128)},
    **{f"lstm_h{h}": (_lstm_regression(h, 1), False) for h in (64, 256, 1024)},
}
# w1, w3 and w4 (w2 is w2_b128), by name only (not in "all", issue 13's table): so that
# --separate can time them too
TUNED: dict[str, tuple[Callable, bool]] = {
    "w1": (bench_w1_mlp.build, False), "w3": (bench_w3_lenet.build, False), "w4": (bench_w4_lstm.build, False),
}
assert bench_w2_mlp.SIZES == (784, 512, 512, 10)  # _w2_at repeats w2's model


def _separate(name: str, seconds: float, rounds: int, turns: int = 1) -> dict:
    """Each framework timed alone in a child process (``--child NAME FRAMEWORK``), ``turns``
    children each, taking turns (chainrule, PyTorch, chainrule, ...): the median of the
    children's medians.  On a shared machine whose speed drifts over a minute, turns keep
    both frameworks' figures from the same stretch of time."""
    import statistics

    per_child: dict[str, list] = {"chainrule": [], "torch": []}
    for _ in range(turns):
        for fw in ("chainrule", "torch"):
            # chainrule sets glibc's malloc thresholds at import (backend/allocator.py), which would
            # speed PyTorch's allocations too: its child keeps glibc's defaults, as PyTorch alone would
            env = {**os.environ, "CHAINRULE_MALLOC": "0"} if fw == "torch" else None
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", name, fw, str(seconds), str(rounds)],
                capture_output=True, text=True, check=True, timeout=1800, env=env,
            ).stdout
            per_child[fw].append(json.loads(out.strip().splitlines()[-1])["steps_per_s"])
    rates = {fw: statistics.median(v) for fw, v in per_child.items()}
    res = {"name": name, "chainrule_steps_per_s": rates["chainrule"], "torch_steps_per_s": rates["torch"],
           "ratio": rates["chainrule"] / rates["torch"], "method": "separate processes"}
    print(f"{name}: chainrule {rates['chainrule']:.1f} | PyTorch {rates['torch']:.1f} steps/s | "
          f"ratio {res['ratio']:.2f} (separate processes)", flush=True)
    return res


def _child(name: str, fw: str, seconds: float, rounds: int) -> None:
    import statistics

    build, inference = {**WORKLOADS, **TUNED}[name]
    cr_step, torch_step = matched_steps(build, inference)
    step = cr_step if fw == "chainrule" else torch_step
    del cr_step, torch_step
    print(json.dumps({"steps_per_s": statistics.median(_time_round(step, seconds) for _ in range(rounds))}))


def _memory(name: str, steps: int) -> dict:
    """Peak memory of each framework alone (``--mem-child NAME FRAMEWORK STEPS``), two ways:
    the process's whole peak resident set at the end of ``steps`` steps (what a user's machine
    sees: the libraries' code included, loaded at import or on first use), and how far it grew
    from after the imports (the model, its data, the optimiser state and the steps' arrays, plus
    any library loaded on first use, such as oneDNN on chainrule's first convolution)."""
    peak, growth = {}, {}
    for fw in ("chainrule", "torch"):
        env = {**os.environ, "CHAINRULE_MALLOC": "0"} if fw == "torch" else None  # (as in _separate)
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--mem-child", name, fw, str(steps)],
            capture_output=True, text=True, check=True, timeout=1800, env=env,
        ).stdout
        res = json.loads(out.strip().splitlines()[-1])
        peak[fw], growth[fw] = res["peak_mib"], res["growth_mib"]
    res = {"name": name, "chainrule_peak_mib": peak["chainrule"], "torch_peak_mib": peak["torch"],
           "chainrule_peak_growth_mib": growth["chainrule"], "torch_peak_growth_mib": growth["torch"],
           "memory_ratio": peak["chainrule"] / peak["torch"],
           "growth_ratio": growth["chainrule"] / max(growth["torch"], 0.1)}
    print(f"{name}: peak memory chainrule {peak['chainrule']:.1f} | PyTorch {peak['torch']:.1f} MiB "
          f"(ratio {res['memory_ratio']:.2f}); growth after the imports {growth['chainrule']:.1f} | "
          f"{growth['torch']:.1f} MiB (ratio {res['growth_ratio']:.2f})", flush=True)
    return res


def _mem_child(name: str, fw: str, steps: int) -> None:
    build, inference = {**WORKLOADS, **TUNED}[name]
    lib = __import__("chainrule" if fw == "chainrule" else "torch")
    if fw == "torch":
        lib.set_num_threads(bench_threads())  # (as matched_steps sets it)
    mem_child(lambda: _as_step(*build(*framework(fw)), inference, lib), steps)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--mem-child":
        _mem_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="workloads to run (default: all)")
    ap.add_argument("--list", action="store_true", help="name and describe the workloads")
    ap.add_argument("--seconds", type=float, default=1.0, help="length of a timed round (default 1)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per framework (default 5)")
    ap.add_argument("--separate", action="store_true", help="time each framework alone in its own process")
    ap.add_argument("--turns", type=int, default=1,
                    help="with --separate: children per framework, taking turns (default 1)")
    ap.add_argument("--memory", action="store_true",
                    help="measure each framework's peak memory (whole, and growth after the imports) over 20 steps "
                         "instead of its speed")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    if args.list:
        for name, (build, _) in {**WORKLOADS, **TUNED}.items():
            print(f"{name:20s} {(build.__doc__ or '').strip()}")
        return
    unknown = [n for n in args.names if n not in WORKLOADS and n not in TUNED]
    if unknown:
        ap.error(f"unknown workloads {unknown}; --list names them")
    results = []
    for name in args.names or list(WORKLOADS):
        build, inference = {**WORKLOADS, **TUNED}[name]
        if args.memory:
            results.append(_memory(name, 20))
            continue
        if args.separate:
            results.append(_separate(name, args.seconds, args.rounds, args.turns))
            continue
        cr_step, torch_step = matched_steps(build, inference)
        results.append(compare(name, lambda s=cr_step: s, (lambda s=torch_step: s) if torch_step else None,
                               rounds=args.rounds, seconds=args.seconds))
    for key in ("ratio", "memory_ratio", "growth_ratio"):
        ratios = [r[key] for r in results if key in r]
        if ratios:
            print(f"geometric mean of {len(ratios)} {key.replace('_', ' ')}s: "
                  f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
