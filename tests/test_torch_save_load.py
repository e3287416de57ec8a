"""torch.save / torch.load as PyTorch programs call them (issue 12 item 6): file objects and
paths, map_location's forms, weights_only, state dicts, optimiser states and nested containers
round-tripping, PyTorch's zip checkpoints, and the clear refusals (whole modules, bare pickles, CUDA)."""

from __future__ import annotations

import io
import pathlib
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as torch  # the way the programs this serves import it
from chainrule.backend.device import DeviceUnavailableError


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def _assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())


@pytest.mark.parametrize("where", ["str", "pathlib", "fileobj", "bytesio"])
def test_state_dict_round_trips_through_paths_and_file_objects(tmp_path: pathlib.Path, where: str) -> None:
    model = _model()
    model(torch.randn(5, 3))  # (BatchNorm's running statistics and its int64 counter move)
    sd = model.state_dict()
    path = tmp_path / "model.pt"
    if where == "str":
        torch.save(sd, str(path))
        back = torch.load(str(path))
    elif where == "pathlib":
        torch.save(sd, path)
        back = torch.load(path, map_location="cpu", weights_only=True)
    elif where == "fileobj":
        with open(path, "wb") as f:
            torch.save(sd, f)
        with open(path, "rb") as f:
            back = torch.load(f, map_location=torch.device("cpu"))
    else:
        buf = io.BytesIO()
        torch.save(sd, buf)
        buf.seek(0)
        back = torch.load(buf)
    _assert_same_state(sd, back)
    assert back["1.num_batches_tracked"].dtype == torch.int64
    fresh = _model()
    for p in fresh.parameters():
        p.data[...] = 0
    fresh.load_state_dict(back)
    _assert_same_state(sd, fresh.state_dict())


def test_optimizer_state_round_trips_and_training_resumes_identically() -> None:
    """Train 3 steps, save model + Adam state, train 3 more; a run restored from the file after
    the first 3 steps ends at exactly the same parameters."""
    x, y = torch.randn(8, 3), torch.randn(8, 2)

    def steps(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()

    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps(model, opt, 3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, buf)
    steps(model, opt, 3)

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    assert ckpt["epoch"] == 3
    model2 = _model()
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-2)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    steps(model2, opt2, 3)
    _assert_same_state(model.state_dict(), model2.state_dict())


def test_nested_containers_round_trip() -> None:
    obj = {
        "list": [torch.ones(2), 1, 2.5, "s", None, True],
        "tuple": (torch.arange(3), (torch.zeros(0, 2), [])),
        "odict": OrderedDict([("b", torch.tensor(1.0)), ("a", torch.tensor([1, 2]))]),
        "int_keys": {0: {"step": 3, "exp_avg": torch.ones(2, dtype=torch.float64)}, 1: {}},
        "array": np.arange(4, dtype=np.int16),
        "grad": torch.ones(2, requires_grad=True),
    }
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    back = torch.load(buf)
    assert isinstance(back["tuple"], tuple) and isinstance(back["tuple"][1], tuple)
    assert isinstance(back["odict"], OrderedDict) and list(back["odict"]) == ["b", "a"]
    assert back["list"][1:] == [1, 2.5, "s", None, True]
    np.testing.assert_array_equal(back["list"][0].numpy(), [1, 1])
    assert back["tuple"][1][0].shape == (0, 2) and back["tuple"][1][1] == []
    assert back["int_keys"][0]["step"] == 3 and back["int_keys"][0]["exp_avg"].dtype == torch.float64
    assert back["int_keys"][1] == {}
    assert isinstance(back["array"], np.ndarray) and back["array"].dtype == np.int16
    assert back["grad"].requires_grad


def test_a_bare_tensor_round_trips() -> None:
    buf = io.BytesIO()
    torch.save(torch.tensor([[1.5, -2.0]]), buf)
    buf.seek(0)
    back = torch.load(buf)
    assert isinstance(back, torch.Tensor)
    np.testing.assert_array_equal(back.numpy(), np.array([[1.5, -2.0]], np.float32))


@pytest.mark.parametrize("map_location", [None, "cpu", "cpu:0", torch.device("cpu"), {"cuda:0": "cpu"},
                                          lambda storage, loc: storage])
def test_map_location_forms_that_land_on_the_cpu(map_location) -> None:
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(torch.load(buf, map_location=map_location)["w"].numpy(), [1, 1])


@pytest.mark.parametrize("map_location", ["cuda", "cuda:0", torch.device("cuda"), "mps"])
def test_map_location_on_an_accelerator_raises_as_pytorch_without_one(map_location) -> None:
    """PyTorch's CPU build: RuntimeError 'Attempting to deserialize object on a CUDA device but
    torch.cuda.is_available() is False ... map_location=torch.device('cpu')'."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match=r"map_location=torch.device\('cpu'\)") as e:
        torch.load(buf, map_location=map_location)
    assert isinstance(e.value, DeviceUnavailableError)


@pytest.mark.parametrize("weights_only", [True, None, False])
def test_weights_only_values_all_load_the_safe_format(weights_only) -> None:
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(torch.load(buf, weights_only=weights_only)["w"].numpy(), [1, 1])


def test_pytorch_keyword_arguments_are_accepted() -> None:
    """torch.save(obj, f, pickle_protocol=4) and torch.load(f, mmap=False) appear in programs."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf, pickle_protocol=4)
    buf.seek(0)
    assert torch.load(buf, map_location="cpu", weights_only=True, mmap=False)["w"].shape == (2,)


def test_an_explicit_pickle_module_is_refused_clearly() -> None:
    import pickle

    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(TypeError, match="pickle_module.*safetensors"):
        torch.load(buf, pickle_module=pickle)


@pytest.mark.parametrize("obj", ["module", "optimizer", "nested"])
def test_saving_a_whole_module_names_the_safe_alternative(obj) -> None:
    model = _model()
    value = {"module": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
             "nested": {"net": model}}[obj]
    with pytest.raises(TypeError, match=r"state_dict\(\)"):
        torch.save(value, io.BytesIO())


def test_a_pytorch_checkpoint_loads_and_a_bare_pickle_says_what_it_is(tmp_path: pathlib.Path) -> None:
    real_torch = pytest.importorskip("torch")
    path = tmp_path / "ckpt.pt"
    real_torch.save({"w": real_torch.ones(2)}, path)
    assert torch.load(path)["w"].tolist() == [1.0, 1.0]  # (torch.save's zip, read as weights_only=True)
    with open(path, "rb") as f:
        assert torch.load(f, weights_only=False)["w"].tolist() == [1.0, 1.0]
    old = tmp_path / "old.pt"
    real_torch.save({"w": real_torch.ones(2)}, old, _use_new_zipfile_serialization=False)
    with pytest.raises(torch.CheckpointError, match="bare pickle") as e:
        torch.load(old)
    assert "safetensors" in str(e.value)


def test_a_chainrule_state_dict_loads_into_the_same_pytorch_model() -> None:
    """Weights trained here move to PyTorch through safetensors (the format is the bridge)."""
    real_torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = torch.nn.Linear(3, 2)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    ref = real_torch.nn.Linear(3, 2)
    ref.load_state_dict(st.load(buf.getvalue()))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ref(real_torch.from_numpy(x)).detach().numpy(), model(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)
