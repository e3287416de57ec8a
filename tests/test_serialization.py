"""cr.save / cr.load: nested state in a safetensors file, exact, atomic, never running code from the file."""

import io
import json
import os
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.serialization import pack, unpack


def small_model() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_state_dict_round_trip_is_bit_exact_and_keeps_dtypes(tmp_path):
    model = small_model()
    sd = model.state_dict()
    cr.save(sd, tmp_path / "m.safetensors")
    back = cr.load(tmp_path / "m.safetensors")
    assert list(back) == list(sd)  # order kept
    for k, v in sd.items():
        assert isinstance(back[k], cr.Tensor)
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    assert back["1.num_batches_tracked"].dtype == np.int64


def test_file_is_plain_safetensors_readable_by_the_reference_reader(tmp_path):
    from safetensors.numpy import load_file

    model = small_model()
    cr.save(model.state_dict(), tmp_path / "m.safetensors")
    arrays = load_file(str(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(arrays["0.weight"], model[0].weight.detach().numpy())


def test_plain_safetensors_file_from_another_tool_loads_as_a_dict_of_tensors(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.arange(3, dtype=np.float32)}, str(tmp_path / "x.safetensors"))
    back = cr.load(tmp_path / "x.safetensors")
    assert set(back) == {"a"} and isinstance(back["a"], cr.Tensor)
    np.testing.assert_array_equal(back["a"].numpy(), [0, 1, 2])


def test_nested_structure_types_survive():
    shared = cr.tensor([1.0, 2.0], requires_grad=True)
    obj = {
        "tuple": (1, 2.5, "x", None, True),
        "int_keys": {0: shared, 1: {"step": cr.tensor(3.0)}},
        "odict": OrderedDict([("b", 1), ("a", 2)]),
        "list": [np.int32(4), np.float16(0.5), np.zeros((0, 3))],
        "again": shared,  # the same Tensor twice: written once, one object after loading
        "big": 2**100,
    }
    back = unpack(pack(obj))
    assert back["tuple"] == (1, 2.5, "x", None, True)
    assert list(back["int_keys"]) == [0, 1] and back["int_keys"][1]["step"].shape == ()
    assert isinstance(back["odict"], OrderedDict) and list(back["odict"]) == ["b", "a"]
    assert back["list"][0].dtype == np.int32 and back["list"][1].dtype == np.float16
    assert isinstance(back["list"][2], np.ndarray) and back["list"][2].shape == (0, 3)
    assert back["again"] is back["int_keys"][0] and back["again"].requires_grad
    assert back["big"] == 2**100
    assert len(pack(obj)["tensors"]) == 3  # shared, step, the empty array


def test_file_objects_work_too():
    buf = io.BytesIO()
    cr.save({"w": cr.ones(2, 2)}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(cr.load(buf)["w"].numpy(), np.ones((2, 2), np.float32))


def test_unsupported_values_are_rejected_naming_the_key_path(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\]"):
        cr.save({"a": [1, object()]}, tmp_path / "x")
    with pytest.raises(TypeError, match="complex128"):
        cr.save({"z": np.zeros(2, dtype=complex)}, tmp_path / "x")
    assert not os.path.exists(tmp_path / "x")
    assert os.listdir(tmp_path) == []  # refused before anything is written


def test_loading_never_unpickles(tmp_path):
    import pickle

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a safetensors file"):
        cr.load(tmp_path / "evil.pt")


def test_truncated_and_corrupt_files_raise_clear_errors(tmp_path):
    cr.save({"w": cr.ones(100)}, tmp_path / "ok.st")
    data = (tmp_path / "ok.st").read_bytes()
    (tmp_path / "trunc.st").write_bytes(data[:-50])
    with pytest.raises(ValueError, match="trunc.st"):
        cr.load(tmp_path / "trunc.st")
    (tmp_path / "short.st").write_bytes(b"abc")
    with pytest.raises(ValueError, match="only 3 bytes"):
        cr.load(tmp_path / "short.st")
    with pytest.raises(FileNotFoundError, match="missing.st"):
        cr.load(tmp_path / "missing.st")


def test_newer_format_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.zeros(1)}, str(tmp_path / "f.st"), metadata={"format": "chainrule/99", "skeleton": "{}"})
    with pytest.raises(ValueError, match="chainrule/99"):
        cr.load(tmp_path / "f.st")


def test_save_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    cr.save({"w": cr.zeros(3)}, path)

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        cr.save({"w": cr.ones(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(cr.load(path)["w"].numpy(), [0, 0, 0])
    assert os.listdir(tmp_path) == ["c.safetensors"]  # the temporary file was removed


def test_map_location_other_than_cpu_is_an_error(tmp_path):
    cr.save({"w": cr.zeros(1)}, tmp_path / "c")
    assert cr.load(tmp_path / "c", map_location="cpu")["w"].shape == (1,)
    with pytest.raises(ValueError, match="CPU only"):
        cr.load(tmp_path / "c", map_location="cuda:0")


def test_model_and_optimizer_resume_with_bit_identical_steps(tmp_path):
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((16, 3)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 2, 16))
    loss_fn = nn.CrossEntropyLoss()

    def step(model, opt):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    model = small_model()
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    for _ in range(3):
        step(model, opt)
    cr.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.safetensors")

    model2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    opt2 = optim.Adam(model2.parameters(), lr=1e-2, amsgrad=True)
    state = cr.load(tmp_path / "ck.safetensors")
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["opt"])
    for _ in range(3):
        step(model, opt)
        step(model2, opt2)
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_loading_a_mismatched_state_dict_lists_missing_unexpected_and_shapes(tmp_path):
    cr.save(small_model().state_dict(), tmp_path / "m")
    other = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2), nn.Linear(2, 2))
    with pytest.raises(RuntimeError) as e:
        other.load_state_dict(cr.load(tmp_path / "m"))
    msg = str(e.value)
    assert "4.weight" in msg and "0.weight" in msg and "(5, 3)" in msg and "(4, 3)" in msg


def test_header_metadata_is_json_with_the_format(tmp_path):
    cr.save({"a": [1, 2]}, tmp_path / "m")
    data = (tmp_path / "m").read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    assert meta["format"] == "chainrule/1" and json.loads(meta["skeleton"]) == {"a": [1, 2]}


def test_checkpoint_written_before_cr_save_existed_still_loads(tmp_path):
    """A file in the old train.checkpoint format ("chainrule-checkpoint/1"), written here by hand
    as that version wrote it: the same structure comes back."""
    from safetensors.numpy import save_file

    from chainrule.train.checkpoint import load_checkpoint

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = np.full(3, 0.5)
    skeleton = {"w": {"__tensor__": "/w"}, "step": 3, "betas": {"__tuple__": [0.9, 0.999]},
                "state": {"__items__": [[0, {"m": {"__tensor__": "/state/0/m", "ndarray": True}}]]}}
    path = tmp_path / "old.safetensors"
    save_file({"/w": w, "/state/0/m": m}, str(path),
              metadata={"format": "chainrule-checkpoint/1", "skeleton": json.dumps(skeleton)})
    got = load_checkpoint(path)
    assert isinstance(got["w"], cr.Tensor) and got["w"].dtype == cr.float32
    np.testing.assert_array_equal(got["w"].data, w)
    assert got["step"] == 3 and got["betas"] == (0.9, 0.999)
    assert list(got["state"]) == [0] and isinstance(got["state"][0]["m"], np.ndarray)
    np.testing.assert_array_equal(got["state"][0]["m"], m)
