"""Workload w4: character LSTM language model — one training step.

Embedding(65, 64) -> LSTM(64, 256, batch_first=True) -> Linear(256, 65), a batch
of 32 sequences × 64 steps of random token ids, CrossEntropyLoss over all
positions, Adam (lr 1e-3).  Almost all the time goes to the LSTM: 64 sequential
(32×256)·(256×1024) matmuls forward and again backward, plus the stacked
input/weight-gradient matmuls, so this measures the fused sequence kernel
(chainrule.nn.functional._rnn_kernel) against PyTorch's (oneDNN) LSTM.
Target: ratio >= 1.0.  Run: ``python bench/bench_w4_lstm.py``.

Note on BLAS: chainrule's matmuls go to NumPy's OpenBLAS, PyTorch's to oneDNN/MKL.
Almost all of this step is matrix products, so the ratio is mostly the ratio of
the two GEMM implementations; the script prints which OpenBLAS kernel NumPy uses
(``OPENBLAS_CORETYPE`` from the environment) and never changes it itself.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import run_workload  # noqa: E402

VOCAB, EMBED, HIDDEN = 65, 64, 256
BATCH, STEPS = 32, 64


def _batches(n: int = 8):
    rng = np.random.default_rng(0)
    return [
        (rng.integers(0, VOCAB, (BATCH, STEPS)), rng.integers(0, VOCAB, (BATCH, STEPS)))
        for _ in range(n)
    ]


def build(nn, optim, as_tensor):
    """The same code builds the chainrule and the PyTorch side; each step takes the next of 8 batches."""
    batches = itertools.cycle([(as_tensor(x), as_tensor(y.reshape(-1))) for x, y in _batches()])
    emb = nn.Embedding(VOCAB, EMBED)
    lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
    head = nn.Linear(HIDDEN, VOCAB)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    criterion = nn.CrossEntropyLoss()
    opt = optim.Adam(params, lr=1e-3)

    def loss_of(x, y):
        out, _ = lstm(emb(x))
        return criterion(head(out).reshape(-1, VOCAB), y)

    def loss():
        return loss_of(*next(batches))

    # for a compiled step, which takes the batch as arguments (bench_compile.py): next() inside
    # a compiled function is a Python side effect a replay would not repeat
    loss.of, loss.batches = loss_of, batches
    return loss, opt


def _blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                return f"{info.get('internal_api')} {info.get('architecture')}"
    except Exception:  # pragma: no cover - threadpoolctl missing
        pass
    return "unknown"


if __name__ == "__main__":
    if "--mem" not in sys.argv:
        print(f"NumPy BLAS: {_blas_kernel()} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})",
              flush=True)
    run_workload("w4: Embedding(65,64)-LSTM(64,256)-Linear(256,65), batch 32x64, CE, Adam", build, target=1.0,
                 script=os.path.abspath(__file__))
