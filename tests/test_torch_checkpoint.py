"""Loading ``torch.save`` checkpoints (zip archives) as PyTorch's ``weights_only=True`` loads
them, without running code from the file (``chainrule/torch_checkpoint.py``).

``tests/data/torch_checkpoint_v2_13.pt`` was written by PyTorch 2.13's ``torch.save`` (a
model's and an SGD optimiser's state dicts, tensors of several dtypes, a strided view, a
Parameter, plain values); the values the test asserts are the ones written into it, by
construction.  A checkpoint that names anything else (``os.system``) is refused before it can run."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.serialization import CheckpointError

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "torch_checkpoint_v2_13.pt")


def test_a_torch_checkpoint_loads_with_its_values_and_types():
    ck = cr.load(FIXTURE)
    assert ck["epoch"] == 7 and ck["best"] == 0.875 and isinstance(ck["best"], np.float64)
    assert ck["names"] == ["a", "b"] and ck["pair"] == (1, 2.5) and ck["blob"] == b"\x00\x01"
    assert tuple(ck["size"]) == (2, 3) and isinstance(ck["size"], cr.Size)
    model = ck["model"]
    assert isinstance(model, OrderedDict)
    assert list(model) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                           "1.num_batches_tracked"]
    np.testing.assert_array_equal(model["0.weight"].numpy(), [[0.5, -1.0, 0.25], [2.0, 0.0, -0.75]])
    np.testing.assert_array_equal(model["0.bias"].numpy(), [0.125, -0.5])
    assert model["0.weight"].dtype == cr.float32 and not model["0.weight"].requires_grad
    assert model["1.num_batches_tracked"].dtype == cr.int64 and model["1.num_batches_tracked"].item() == 1
    assert ck["half"].dtype == cr.float16 and ck["half"].tolist() == [1.5, -2.0]
    assert ck["bf16"].dtype == cr.float32 and ck["bf16"].tolist() == [1.5, -2.25, 3.0]  # (bfloat16 read exactly)
    np.testing.assert_array_equal(ck["strided"].numpy(), [[1.0, 9.0], [2.0, 10.0], [3.0, 11.0]])
    assert ck["ints"].dtype == cr.int32 and ck["ints"].tolist() == [3, -1]
    assert ck["mask"].dtype == cr.bool and ck["mask"].tolist() == [True, False]
    assert isinstance(ck["param"], nn.Parameter) and ck["param"].requires_grad and ck["param"].tolist() == [0.25, 0.5]


def test_its_state_dicts_load_into_chainrule_modules_and_optimisers():
    ck = cr.load(FIXTURE)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    result = model.load_state_dict(ck["model"])
    assert not result.missing_keys and not result.unexpected_keys
    opt = cr.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    opt.load_state_dict(ck["opt"])
    assert opt.param_groups[0]["lr"] == 0.1
    assert opt.state[model[0].weight]["momentum_buffer"].shape == (2, 3)
    with open(FIXTURE, "rb") as f:  # (a file object reads the same)
        assert list(cr.load(f)["model"]) == list(ck["model"])


def test_as_pytorch_reads_it():
    torch = pytest.importorskip("torch")
    want = torch.load(FIXTURE, weights_only=False)  # (our own fixture: it holds a NumPy float too)
    got = cr.load(FIXTURE)
    for k, v in want["model"].items():
        np.testing.assert_array_equal(got["model"][k].numpy(), v.numpy())
    for k, v in want["opt"]["state"][0].items():
        np.testing.assert_array_equal(got["opt"]["state"][0][k].numpy(), v.numpy())
    assert got["opt"]["param_groups"] == want["opt"]["param_groups"]


def _zip_checkpoint(payload: bytes, members: dict | None = None, compress: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        for name, data in (members or {}).items():
            z.writestr(f"archive/data/{name}", data)
    return buf.getvalue()


class _RunsCode:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_checkpoint_that_names_code_is_refused_without_running_it(tmp_path):
    target = tmp_path / "ran"
    blob = _zip_checkpoint(pickle.dumps({"x": _RunsCode(str(target))}, protocol=2))
    with pytest.raises(CheckpointError, match="io.open|builtins.open"):
        cr.load(io.BytesIO(blob))
    assert not target.exists()


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data  # BINUNICODE


def _int(v: int) -> bytes:
    return b"J" + v.to_bytes(4, "little", signed=True)  # BININT


def _tuple(items: list) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL


def _tensor_pickle(numel: int, size: tuple, stride: tuple) -> bytes:
    """{'t': _rebuild_tensor_v2(<storage 0 of numel floats>, 0, size, stride, False, OrderedDict())},
    written opcode by opcode as torch.save writes it (pickle protocol 2)."""
    storage = _tuple([_str("storage"), _global("torch", "FloatStorage"), _str("0"), _str("cpu"), _int(numel)]) + b"Q"
    args = _tuple([storage, _int(0), _tuple([_int(v) for v in size]), _tuple([_int(v) for v in stride]), b"\x89",
                   _global("collections", "OrderedDict") + b")R"])
    return b"\x80\x02}" + _str("t") + _global("torch._utils", "_rebuild_tensor_v2") + args + b"Rs."


def test_storages_and_views_are_checked_against_the_file():
    four = np.arange(4, dtype=np.float32).tobytes()
    ok = cr.load(io.BytesIO(_zip_checkpoint(_tensor_pickle(4, (2, 2), (1, 2)), {"0": four})))
    np.testing.assert_array_equal(ok["t"].numpy(), [[0.0, 2.0], [1.0, 3.0]])
    for numel, size, stride, why in [(8, (2, 2), (2, 1), "claims 8 elements"),
                                     (4, (3, 2), (2, 1), "does not lie within"),
                                     (4, (100, 4), (0, 1), "does not lie within")]:
        with pytest.raises(CheckpointError, match=why):
            cr.load(io.BytesIO(_zip_checkpoint(_tensor_pickle(numel, size, stride), {"0": four})))
    with pytest.raises(CheckpointError, match="compressed"):
        cr.load(io.BytesIO(_zip_checkpoint(_tensor_pickle(4, (4,), (1,)), {"0": four}, zipfile.ZIP_DEFLATED)))


def test_a_bare_pickle_is_still_refused(tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="bare pickle"):
        cr.load(path)


def test_a_huge_memo_index_is_refused_before_it_is_allocated():
    # LONG_BINPUT 2^31 - 1: the unpickler would grow its memo to that size from a 6-byte opcode
    payload = b"\x80\x02}r\xff\xff\xff\x7f."
    with pytest.raises(CheckpointError, match="memo index"):
        cr.load(io.BytesIO(_zip_checkpoint(payload)))


def test_damaged_checkpoints_raise_one_exception():
    import random

    with zipfile.ZipFile(FIXTURE) as z:
        members = {name: z.read(name) for name in z.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    rng = random.Random(0)
    for _ in range(300):
        data = bytearray(members[pkl])
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for name, content in members.items():
                out.writestr(name, bytes(data) if name == pkl else content)
        try:
            cr.load(io.BytesIO(buf.getvalue()))
        except CheckpointError:
            pass


def test_tensors_saved_on_one_storage_share_it_again(tmp_path):
    torch = pytest.importorskip("torch")
    w = torch.arange(6.0).reshape(2, 3)
    torch.save({"a": w, "tied": w, "row": w[1], "col": w[:, 1]}, tmp_path / "t.pt")
    got = cr.load(tmp_path / "t.pt")
    assert np.shares_memory(got["a"].numpy(), got["tied"].numpy())
    assert np.shares_memory(got["a"].numpy(), got["row"].numpy())  # (contiguous: a view, as in PyTorch)
    assert got["col"].tolist() == [1.0, 4.0]  # (strided: a copy)
    got["a"].add_(1.0)
    assert got["tied"].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
