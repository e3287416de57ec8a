"""Porting check: PyTorch programs written for GPUs, run unchanged on chainrule's CPU.

Each program is written as people write them for CUDA machines (``device = "cuda" if
available else "cpu"``, ``nn.DataParallel``, ``cudnn.benchmark``, ``pin_memory``,
``non_blocking``, ``torch.cuda.amp``, ``GradScaler``, saving ``model.module.state_dict()``,
TF32 flags, ``torch.version.cuda``, checkpoints with the scaler's and the GPUs' generator
states, a custom Function under ``torch.amp.custom_fwd``, ``torch.backends.cuda.sdp_kernel``)
and takes the ``torch`` module as an argument: it runs once with ``chainrule`` and once
with PyTorch (the oracle, skipped when missing) from the same initial weights and data,
and the losses must decrease and agree.  Only the initial weights and the data come from
outside (NumPy arrays), so that both runs start from the same numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule

# the process-wide flags the programs set, in both libraries: put back after each test, so that
# later tests (which compare the defaults with PyTorch's) see them as they were
_FLAGS = (("cudnn", "benchmark"), ("cudnn", "deterministic"), ("cudnn", "allow_tf32"), ("cuda.matmul", "allow_tf32"))


@pytest.fixture(autouse=True)
def _restore_backend_flags():
    libraries = [chainrule]
    try:
        import torch

        libraries.append(torch)
    except ImportError:
        pass

    def holder(lib: Any, path: str) -> Any:
        obj = lib.backends
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    saved = [(holder(lib, path), flag, getattr(holder(lib, path), flag)) for lib in libraries for path, flag in _FLAGS]
    precision = [(lib, lib.get_float32_matmul_precision()) for lib in libraries]
    yield
    for obj, flag, value in saved:
        setattr(obj, flag, value)
    for lib, value in precision:
        lib.set_float32_matmul_precision(value)


def _data(seed: int, n: int, shape: tuple[int, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    w = rng.standard_normal((int(np.prod(shape)), classes)).astype(np.float32)
    y = (x.reshape(n, -1) @ w).argmax(1).astype(np.int64)
    return x, y


def _init(state: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """Fresh float32 weights for every floating entry of a state dict (NumPy, so both libraries share them)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in state.items():
        a = np.asarray(v.detach().cpu().numpy())
        if a.dtype.kind == "f" and "running" not in k:
            a = (rng.standard_normal(a.shape) * 0.3).astype(np.float32)
        out[k] = a
    return out


# -- program 1: an MLP classifier, DataParallel unconditionally, torch.cuda.amp ------------------


def program_mlp(torch: Any, init: dict[str, np.ndarray] | None, x: np.ndarray, y: np.ndarray, path: str) -> Any:
    nn = torch.nn
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    use_amp = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {device}")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.bn = nn.BatchNorm1d(16)
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x: Any) -> Any:
            return self.fc2(torch.relu(self.bn(self.fc1(x))))

    model = Net()
    if init is None:
        return model.state_dict()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    model = model.to(device)
    model = nn.DataParallel(model)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=False, pin_memory=True, num_workers=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss().to(device)
    scaler = torch.cuda.amp.GradScaler(enabled=use_amp)
    losses = []
    for _epoch in range(6):
        model.train()
        total = 0.0
        for xb, yb in loader:
            xb = xb.to(device, non_blocking=True)
            yb = yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.amp.autocast(enabled=use_amp):
                out = model(xb)
                loss = criterion(out, yb)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * xb.size(0)
        losses.append(total / len(ds))
    torch.save(model.module.state_dict(), path)
    ckpt_path = path + ".ckpt"
    torch.save(
        {
            "model": model.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all(),
        },
        ckpt_path,
    )
    ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
    scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"])
    torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
    fresh = Net()
    fresh.load_state_dict(torch.load(path, map_location=device))
    fresh.eval()
    model.eval()
    with torch.no_grad():
        xs = torch.from_numpy(x[:8]).to(device)
        same = torch.allclose(fresh(xs), model(xs))
        pred = model(torch.from_numpy(x).to(device)).argmax(dim=1).cpu().numpy()
    return losses, same, pred


# -- program 2: a small CNN, DataParallel when there are several GPUs, torch.amp ------------------


def program_cnn(torch: Any, init: dict[str, np.ndarray] | None, x: np.ndarray, y: np.ndarray, path: str) -> Any:
    nn = torch.nn
    F = nn.functional
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.cuda.manual_seed_all(0)
    use_amp = device == "cuda"

    class ScaledReLU(torch.autograd.Function):
        @staticmethod
        @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x.clamp(min=0) * 1.5

        @staticmethod
        @torch.amp.custom_bwd(device_type="cuda")
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g * (x > 0).to(g.dtype) * 1.5

    class CNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(4 * 4 * 4, 3)

        def forward(self, x: Any) -> Any:
            x = self.pool(ScaledReLU.apply(self.conv(x)))
            return self.head(torch.flatten(x, 1))

    model = CNN()
    if init is None:
        return model.state_dict()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    if torch.cuda.device_count() > 1:
        print("Let's use", torch.cuda.device_count(), "GPUs!")
        model = nn.DataParallel(model)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    xt = torch.tensor(x).pin_memory() if torch.cuda.is_available() else torch.tensor(x)
    yt = torch.tensor(y)
    losses = []
    for _epoch in range(6):
        model.train()
        for i in range(0, len(xt), 16):
            xb = xt[i : i + 16].to(device, non_blocking=True)
            yb = yt[i : i + 16].to(device, non_blocking=True)
            with torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True):
                with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
                    loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            scaler.step(optimizer)
            scaler.update()
        scheduler.step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        model.eval()
        with torch.inference_mode():
            losses.append(F.cross_entropy(model(xt.to(device)), yt.to(device)).item())
    to_save = model.module if isinstance(model, nn.DataParallel) else model
    torch.save({"model": to_save.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 6}, path)
    return losses, torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0


# -- program 3: a checkpoint saved from a DataParallel model, reloaded without it ------------------


def program_checkpoint(torch: Any, init: dict[str, np.ndarray] | None, x: np.ndarray, y: np.ndarray, path: str) -> Any:
    nn = torch.nn
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3))
    if init is None:
        return model.state_dict()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    model = nn.DataParallel(model, device_ids=[0]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.01)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    losses = []
    for _step in range(20):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    torch.save({"state_dict": model.state_dict(), "opt": optimizer.state_dict()}, path)
    # reload on a machine without DataParallel: strip the "module." prefix, as people do
    ckpt = torch.load(path, map_location="cpu")
    plain = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3))
    plain.load_state_dict({k.replace("module.", "", 1): v for k, v in ckpt["state_dict"].items()})
    with torch.no_grad():
        same = torch.allclose(plain(xt.cpu()), model(xt).cpu())
    return losses, same, sorted(ckpt["state_dict"])


pytestmark = [
    pytest.mark.filterwarnings("ignore:.*deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*sdp_kernel.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*pin_memory:UserWarning"),
]

PROGRAMS = {
    "mlp": (program_mlp, (8,), 3),
    "cnn": (program_cnn, (1, 8, 8), 3),
    "checkpoint": (program_checkpoint, (8,), 3),
}


def _run(name: str, torch: Any, tmp_path: Path) -> Any:
    prog, shape, classes = PROGRAMS[name]
    x, y = _data(1, 64, shape, classes)
    init = _init(prog(chainrule, None, x, y, ""), 2)
    return prog(torch, init, x, y, os.fspath(tmp_path / f"{name}_{torch.__name__}.pt"))


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_trains_on_chainrule(name: str, tmp_path: Path) -> None:
    res = _run(name, chainrule, tmp_path)
    losses = res[0]
    assert losses[-1] < 0.8 * losses[0], losses
    if name != "cnn":
        assert res[1] is True  # the reloaded weights give the same outputs


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_pytorch(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU: the programs would take their CUDA branches")
    ours = _run(name, chainrule, tmp_path)
    theirs = _run(name, torch, tmp_path)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-4, atol=1e-5)
    if name == "mlp":
        np.testing.assert_array_equal(ours[2], theirs[2])
    if name == "checkpoint":
        assert ours[2] == theirs[2]
