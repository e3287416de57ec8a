"""F.embedding_bag / nn.EmbeddingBag: bags by hand (sum, mean, max of rows), offsets with and
without include_last_offset, per_sample_weights, padding_idx, max_norm, from_pretrained;
gradients by finite differences (float64) and PyTorch as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(99)
W = R.standard_normal((7, 3))
IDX = np.array([1, 2, 4, 5, 4, 3, 6])
OFF = np.array([0, 2, 2, 5])  # bags [1, 2], [], [4, 5, 4], [3, 6]
BAGS = [[1, 2], [], [4, 5, 4], [3, 6]]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_bags_by_hand(mode):
    out = F.embedding_bag(cr.tensor(IDX), cr.tensor(W), cr.tensor(OFF), mode=mode).numpy()
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    expect = np.stack([reduce(W[b], axis=0) if b else np.zeros(3) for b in BAGS])  # an empty bag is 0
    np.testing.assert_allclose(out, expect, rtol=1e-12)
    last = F.embedding_bag(cr.tensor(IDX), cr.tensor(W), cr.tensor(np.append(OFF, len(IDX))), mode=mode,
                           include_last_offset=True).numpy()
    np.testing.assert_allclose(last, expect, rtol=1e-12)
    two_d = F.embedding_bag(cr.tensor(IDX[:6].reshape(2, 3)), cr.tensor(W), mode=mode).numpy()
    np.testing.assert_allclose(two_d, np.stack([reduce(W[IDX[:3]], 0), reduce(W[IDX[3:6]], 0)]), rtol=1e-12)


def test_per_sample_weights_and_padding_idx():
    psw = R.uniform(size=len(IDX))
    out = F.embedding_bag(cr.tensor(IDX), cr.tensor(W), cr.tensor(OFF), mode="sum",
                          per_sample_weights=cr.tensor(psw)).numpy()
    pos = [[0, 1], [], [2, 3, 4], [5, 6]]
    expect = np.stack([(psw[p, None] * W[IDX[p]]).sum(0) if p else np.zeros(3) for p in pos])
    np.testing.assert_allclose(out, expect, rtol=1e-12)
    # padding_idx 4: its entries leave the bag (and its count for the mean)
    mean = F.embedding_bag(cr.tensor(IDX), cr.tensor(W), cr.tensor(OFF), mode="mean", padding_idx=4).numpy()
    np.testing.assert_allclose(mean[2], W[5], rtol=1e-12)


def test_max_norm_renormalises_the_used_rows_in_place():
    w = cr.tensor(W * 3)
    F.embedding_bag(cr.tensor(IDX), w, cr.tensor(OFF), mode="sum", max_norm=1.0)
    norms = np.linalg.norm(w.numpy(), axis=1)
    used = sorted(set(IDX))
    assert np.all(norms[used] <= 1.0 + 1e-6)
    np.testing.assert_allclose(w.numpy()[0], W[0] * 3)  # row 0 is not looked up


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_gradcheck(mode):
    w = cr.tensor(R.standard_normal((7, 3)), requires_grad=True)
    idx, off = cr.tensor(IDX), cr.tensor(OFF)
    assert gradcheck(lambda w: F.embedding_bag(idx, w, off, mode=mode), [w])
    assert gradgradcheck(lambda w: F.embedding_bag(idx, w, off, mode=mode) ** 2, [w])
    if mode == "sum":
        psw = cr.tensor(R.uniform(size=len(IDX)), requires_grad=True)
        assert gradcheck(lambda w, p: F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=p), [w, psw])
    empty = F.embedding_bag(cr.tensor(np.zeros((0, 2), dtype=np.int64)), w, mode=mode)
    assert tuple(empty.shape) == (0, 3)


def test_from_pretrained():
    bag = nn.EmbeddingBag.from_pretrained(cr.tensor(W), mode="max", padding_idx=2)
    assert not bag.weight.requires_grad and bag.padding_idx == 2 and bag.mode == "max"
    np.testing.assert_array_equal(bag.weight.numpy(), W)  # a copy, the padding row kept
    out = bag(cr.tensor(IDX), cr.tensor(OFF))
    np.testing.assert_allclose(out.numpy()[3], np.maximum(W[3], W[6]))
    assert nn.EmbeddingBag.from_pretrained(W.tolist(), freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.EmbeddingBag.from_pretrained(cr.tensor(W[0]))


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    for mode in ("sum", "mean", "max"):
        for kw in ({}, {"padding_idx": 4}, {"include_last_offset": True}, {"max_norm": 1.5}):
            off = np.append(OFF, len(IDX)) if kw.get("include_last_offset") else OFF
            w, tw = cr.tensor(W * 2, requires_grad=True), torch.tensor(W * 2, requires_grad=True)
            out = F.embedding_bag(cr.tensor(IDX), w, cr.tensor(off), mode=mode, **kw)
            tout = torch.nn.functional.embedding_bag(torch.tensor(IDX), tw, torch.tensor(off), mode=mode, **kw)
            np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, err_msg=f"{mode} {kw}")
            g = R.standard_normal(tuple(out.shape))
            (out * cr.tensor(g)).sum().backward()
            (tout * torch.tensor(g)).sum().backward()
            np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{mode} {kw}")
    psw = R.uniform(size=len(IDX))
    p, tp = cr.tensor(psw, requires_grad=True), torch.tensor(psw, requires_grad=True)
    out = F.embedding_bag(cr.tensor(IDX), cr.tensor(W), cr.tensor(OFF), mode="sum", per_sample_weights=p)
    tout = torch.nn.functional.embedding_bag(torch.tensor(IDX), torch.tensor(W), torch.tensor(OFF), mode="sum",
                                             per_sample_weights=tp)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)
    ours = nn.EmbeddingBag.from_pretrained(cr.tensor(W), mode="sum", freeze=False, padding_idx=1)
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(W), mode="sum", freeze=False, padding_idx=1)
    assert ours.weight.requires_grad == theirs.weight.requires_grad
    np.testing.assert_allclose(ours(cr.tensor(IDX), cr.tensor(OFF)).detach().numpy(),
                               theirs(torch.tensor(IDX), torch.tensor(OFF)).detach().numpy(), rtol=1e-12)
