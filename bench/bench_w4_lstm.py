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

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import main  # noqa: E402

VOCAB, EMBED, HIDDEN = 65, 64, 256
BATCH, STEPS = 32, 64


def _batches(n: int = 8):
    rng = np.random.default_rng(0)
    return [
        (rng.integers(0, VOCAB, (BATCH, STEPS)), rng.integers(0, VOCAB, (BATCH, STEPS)))
        for _ in range(n)
    ]


def make_cr_step():
    import chainrule as cr
    from chainrule import nn, optim

    cr.manual_seed(0)
    batches = [(cr.tensor(x), cr.tensor(y.reshape(-1))) for x, y in _batches()]
    emb = nn.Embedding(VOCAB, EMBED)
    lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
    head = nn.Linear(HIDDEN, VOCAB)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(params, lr=1e-3)
    it = [0]

    def step():
        x, y = batches[it[0] % len(batches)]
        it[0] += 1
        opt.zero_grad()
        out, _ = lstm(emb(x))
        loss = loss_fn(head(out).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()

    return step


def make_torch_step():
    import torch
    from torch import nn

    torch.manual_seed(0)
    batches = [(torch.from_numpy(x), torch.from_numpy(y.reshape(-1))) for x, y in _batches()]
    emb = nn.Embedding(VOCAB, EMBED)
    lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
    head = nn.Linear(HIDDEN, VOCAB)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(params, lr=1e-3)
    it = [0]

    def step():
        x, y = batches[it[0] % len(batches)]
        it[0] += 1
        opt.zero_grad()
        out, _ = lstm(emb(x))
        loss = loss_fn(head(out).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()

    return step


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
    main("w4: Embedding(65,64)-LSTM(64,256)-Linear(256,65), batch 32x64, CE, Adam", make_cr_step, make_torch_step,
         target=1.0, script=os.path.abspath(__file__))
