"""Checkpoint packing: nested training state <-> (JSON skeleton, flat tensors), exactly."""

import numpy as np

import chainrule as cr
from chainrule.train.checkpoint import pack, unpack


def test_pack_unpack_exact():
    state = {
        "w": cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "opt": {"state": {0: {"step": 3, "exp_avg": cr.zeros(2)}},
                "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}]},
        "rng": '{"state": 340282366920938463463374607431768211455}',
        "arr": np.array([1, 2], dtype=np.int64),
        "scalar": np.float32(0.5),
        "none": None,
    }
    back = unpack(pack(state))
    np.testing.assert_array_equal(back["w"].numpy(), state["w"].numpy())
    assert back["w"].dtype == np.float32
    assert back["opt"]["state"][0]["step"] == 3 and 0 in back["opt"]["state"]
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["opt"]["param_groups"][0]["params"] == [0, 1]
    assert back["rng"] == state["rng"] and back["none"] is None
    assert back["arr"].dtype == np.int64 and back["scalar"].dtype == np.float32
