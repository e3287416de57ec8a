"""DataLoader throughput: one epoch with num_workers=0 against worker processes.

Two data sets (issue 12 item 5):

* cheap: a TensorDataset of 8192 x 784 float32 images and int64 labels, batch 64,
  shuffled -- loading costs next to nothing, so workers can only add overhead
  (chainrule gathers such a data set in the main process even with workers);
* cheap, custom: the same arrays behind a user's ``__getitem__`` (64 calls and a
  collate per batch, in the workers);
* slow: 512 examples whose ``__getitem__`` sleeps 1 ms (a stand-in for decoding a file),
  batch 32 -- the case workers exist for.

Each figure is the median of several epochs (workers started per epoch, as without
``persistent_workers``; and with persistent workers).  PyTorch's DataLoader runs the same
data sets when it is installed.  Usage: ``python bench/bench_data_loader.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _epoch_seconds(make_loader: Callable[[], Any], repeats: int) -> float:
    times = []
    loader = make_loader()
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _batch in loader:
            pass
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _datasets(data: Any, as_tensor: Callable[[np.ndarray], Any]) -> dict[str, tuple[Any, int]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8192, 784)).astype(np.float32)
    y = rng.integers(0, 10, 8192)
    cheap = data.TensorDataset(as_tensor(X), as_tensor(y))

    class Sleepy(data.Dataset):
        def __len__(self) -> int:
            return 512

        def __getitem__(self, i: int) -> Any:
            time.sleep(0.001)
            return np.full(32, i, dtype=np.float32), i

    class Custom(data.Dataset):
        def __len__(self) -> int:
            return 8192

        def __getitem__(self, i: int) -> Any:
            return X[i], int(y[i])

    return {
        "cheap TensorDataset (b=64)": (cheap, 64),
        "cheap __getitem__ (b=64)": (Custom(), 64),
        "1-ms __getitem__ (b=32)": (Sleepy(), 32),
    }


def run(name: str, data: Any, as_tensor: Callable[[np.ndarray], Any], repeats: int) -> None:
    for label, (ds, bs) in _datasets(data, as_tensor).items():
        row = []
        for nw, persistent in [(0, False), (2, False), (2, True)]:
            kw = {"num_workers": nw, "persistent_workers": persistent}
            s = _epoch_seconds(
                lambda ds=ds, bs=bs, kw=kw: data.DataLoader(ds, batch_size=bs, shuffle=True, **kw), repeats
            )
            row.append(f"workers={nw}{'p' if persistent else ''}: {s * 1e3:7.1f} ms")
        print(f"{name:10s} {label:28s} " + "   ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import chainrule.utils.data as crdata

    run("chainrule", crdata, np.asarray, args.repeats)
    try:
        import torch
        import torch.utils.data as tdata
    except ImportError:
        return
    torch.set_num_threads(1)
    run("torch", tdata, torch.from_numpy, args.repeats)


if __name__ == "__main__":
    main()
