"""``torch.hub.load_state_dict_from_url``: download once into the hub's cache, load with
``cr.load`` (a ``torch.save`` file read as weights_only=True reads it), check the hash in the
file name, leave nothing behind on a failed download.  The URLs are ``file://`` URLs of files
made in the test (no network)."""

from __future__ import annotations

import os

import pytest

import chainrule as cr


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(cr.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub"


def _served(tmp_path, name: str) -> str:
    src = tmp_path / "served" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    cr.save({"w": cr.tensor([1.0, 2.0])}, src)
    return src.as_uri()


def test_downloads_once_into_the_hub_cache_and_loads(tmp_path, hub_dir):
    assert cr.hub.get_dir() == str(hub_dir)
    url = _served(tmp_path, "weights.safetensors")
    state = cr.hub.load_state_dict_from_url(url, progress=False)
    assert state["w"].tolist() == [1.0, 2.0]
    cached = hub_dir / "checkpoints" / "weights.safetensors"
    assert cached.exists()
    os.remove(tmp_path / "served" / "weights.safetensors")  # (the cached copy is used from now on)
    assert cr.hub.load_state_dict_from_url(url, progress=False)["w"].tolist() == [1.0, 2.0]


def test_a_torch_checkpoint_by_url(hub_dir):
    from pathlib import Path

    url = Path(os.path.join(os.path.dirname(__file__), "data", "torch_checkpoint_v2_13.pt")).as_uri()
    state = cr.hub.load_state_dict_from_url(url, progress=False, file_name="ck.pt")
    assert state["model"]["0.bias"].tolist() == [0.125, -0.5]
    assert (hub_dir / "checkpoints" / "ck.pt").exists()


def test_the_hash_in_the_file_name_is_checked(tmp_path, hub_dir):
    import hashlib

    _served(tmp_path, "model.safetensors")
    digest = hashlib.sha256((tmp_path / "served" / "model.safetensors").read_bytes()).hexdigest()
    good = tmp_path / "served" / f"model-{digest[:8]}.safetensors"
    os.rename(tmp_path / "served" / "model.safetensors", good)
    assert cr.hub.load_state_dict_from_url(good.as_uri(), check_hash=True, progress=False)["w"].tolist() == [1.0, 2.0]
    bad = tmp_path / "served" / "model-00000000.safetensors"
    bad.write_bytes(good.read_bytes())
    with pytest.raises(RuntimeError, match="invalid hash"):
        cr.hub.load_state_dict_from_url(bad.as_uri(), check_hash=True, progress=False)
    assert sorted(os.listdir(hub_dir / "checkpoints")) == [good.name]  # (nothing left of the failed one)


def test_set_dir_and_model_dir(tmp_path, hub_dir):
    cr.hub.set_dir(tmp_path / "elsewhere")
    assert cr.hub.get_dir() == str(tmp_path / "elsewhere")
    url = _served(tmp_path, "a.safetensors")
    cr.hub.load_state_dict_from_url(url, model_dir=str(tmp_path / "models"), progress=False)
    assert (tmp_path / "models" / "a.safetensors").exists()


def test_hub_load_refuses_to_run_repository_code():
    with pytest.raises(NotImplementedError, match="hubconf"):
        cr.hub.load("pytorch/vision", "resnet18")
