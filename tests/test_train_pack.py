"""Checkpoint files: nested training state <-> safetensors (JSON skeleton + flat tensors), exactly.

Atomic writes are tested in tests/test_serialization.py."""


import numpy as np

import chainrule as cr
from chainrule.train.checkpoint import load_checkpoint, pack, save_checkpoint, unpack


def test_pack_unpack_exact():
    state = {
        "w": cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "opt": {"state": {0: {"step": cr.tensor(3.0), "exp_avg": cr.zeros(2)}},
                "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}]},
        "rng": '{"state": 340282366920938463463374607431768211455}',
        "arr": np.array([1, 2], dtype=np.int64),
        "scalar": np.float32(0.5),
        "none": None,
    }
    back = unpack(pack(state))
    np.testing.assert_array_equal(back["w"].numpy(), state["w"].numpy())
    assert back["w"].dtype == np.float32
    assert back["opt"]["state"][0]["step"].shape == () and 0 in back["opt"]["state"]  # 0-d stays 0-d
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["opt"]["param_groups"][0]["params"] == [0, 1]
    assert back["rng"] == state["rng"] and back["none"] is None
    assert back["arr"].dtype == np.int64 and back["scalar"].dtype == np.float32


def test_file_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    state = {"model": {"fc.weight": cr.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
                       "fc.bias": cr.tensor(rng.standard_normal(3))},
             "epoch": 7, "history": "[]", "t": cr.tensor(np.arange(6).reshape(2, 3)[:, ::2])}  # non-contiguous
    p = save_checkpoint(state, tmp_path / "sub" / "c.safetensors")
    back = load_checkpoint(p)
    for k in ("fc.weight", "fc.bias"):
        assert back["model"][k].dtype == state["model"][k].dtype
        np.testing.assert_array_equal(back["model"][k].numpy(), state["model"][k].numpy())
    np.testing.assert_array_equal(back["t"].numpy(), [[0, 2], [3, 5]])
    assert back["epoch"] == 7 and back["history"] == "[]"
    assert p.read_bytes()[8:9] == b"{"  # a safetensors file: 8-byte header length, then the JSON header
