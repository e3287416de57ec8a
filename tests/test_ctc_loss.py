"""F.ctc_loss / nn.CTCLoss: sums over alignments enumerated by brute force, finite differences, PyTorch."""

import itertools
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autograd import grad
from chainrule.autograd.gradcheck import gradcheck


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def log_softmax_np(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def collapse(path, blank):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def brute_force_nll(lp, target, blank):
    """-log Σ over every path of length T that collapses to target of Π_t exp(lp[t, π_t])."""
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == list(target):
            total += math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


def test_single_frame_single_label_is_minus_log_p():
    lp = log_softmax_np(np.array([[0.3, -1.2, 2.0, 0.1]]))
    loss = F.ctc_loss(t64(lp), cr.tensor([2]), (1,), (1,), reduction="sum")
    assert loss.item() == pytest.approx(-lp[0, 2])
    # the empty target on one frame: the blank
    loss = F.ctc_loss(t64(lp[:, None]), cr.tensor([[0]]), (1,), (0,), reduction="none")
    assert loss.item() == pytest.approx(-lp[0, 0])


@pytest.mark.parametrize("target,blank", [([1, 2], 0), ([1, 1], 0), ([2], 1), ([], 0), ([1, 2, 1], 0),
                                          ([0, 2], 1)])
def test_equals_the_sum_over_all_alignments(target, blank):
    rng = np.random.default_rng(len(target) + 10 * blank)
    T, C = 5, 3
    lp = log_softmax_np(rng.standard_normal((T, C)))
    expected = brute_force_nll(lp, target, blank)
    got = F.ctc_loss(t64(lp[:, None]), cr.tensor([target], dtype=cr.int64), (T,), (len(target),), blank=blank,
                     reduction="sum").item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_batch_with_own_lengths_and_reductions():
    rng = np.random.default_rng(1)
    T, C = 5, 4
    lp = log_softmax_np(rng.standard_normal((T, 3, C)))
    targets = [[1, 3, 3], [2, 1, 0], [3, 0, 0]]
    in_len, tg_len = (5, 4, 2), (3, 2, 1)
    per = [brute_force_nll(lp[: in_len[n], n], targets[n][: tg_len[n]], 0) for n in range(3)]
    tg = cr.tensor(targets)
    np.testing.assert_allclose(F.ctc_loss(t64(lp), tg, in_len, tg_len, reduction="none").numpy(), per)
    assert F.ctc_loss(t64(lp), tg, in_len, tg_len, reduction="sum").item() == pytest.approx(sum(per))
    mean = np.mean([p / max(s, 1) for p, s in zip(per, tg_len)])
    assert F.ctc_loss(t64(lp), tg, list(in_len), cr.tensor(tg_len)).item() == pytest.approx(mean)
    # the same targets concatenated, lengths as tensors; and the module
    flat = cr.tensor([1, 3, 3, 2, 1, 3])
    assert F.ctc_loss(t64(lp), flat, cr.tensor(in_len), cr.tensor(tg_len)).item() == pytest.approx(mean)
    assert nn.CTCLoss()(t64(lp), flat, in_len, tg_len).item() == pytest.approx(mean)
    assert nn.CTCLoss(reduction="sum")(t64(lp), tg, in_len, tg_len).item() == pytest.approx(sum(per))
    from chainrule.nn.modules.loss import CTCLoss  # where PyTorch keeps it

    assert CTCLoss is nn.CTCLoss


def test_unbatched():
    rng = np.random.default_rng(2)
    lp = log_softmax_np(rng.standard_normal((4, 3)))
    expected = brute_force_nll(lp, [1, 2], 0)
    out = F.ctc_loss(t64(lp), cr.tensor([1, 2]), (4,), (2,), reduction="none")
    assert tuple(out.shape) == () and out.item() == pytest.approx(expected)
    assert F.ctc_loss(t64(lp), cr.tensor([1, 2]), cr.tensor(4), cr.tensor(2)).item() == pytest.approx(expected / 2)


def test_impossible_target_is_infinite_and_zero_infinity():
    lp = t64(log_softmax_np(np.random.default_rng(3).standard_normal((2, 2, 3))), True)
    tg = cr.tensor([[1, 1], [1, 2]])  # 1, 1 needs three frames
    out = F.ctc_loss(lp, tg, (2, 2), (2, 2), reduction="none")
    assert math.isinf(out[0].item()) and math.isfinite(out[1].item())
    out = F.ctc_loss(lp, tg, (2, 2), (2, 2), reduction="none", zero_infinity=True)
    assert out[0].item() == 0.0
    out.sum().backward()
    np.testing.assert_array_equal(lp.grad.numpy()[:, 0], 0.0)
    assert np.all(np.isfinite(lp.grad.numpy()))


def test_a_class_with_probability_zero():
    rng = np.random.default_rng(10)
    lp = log_softmax_np(rng.standard_normal((4, 4)))
    lp[:, 3] = -np.inf  # a class never emitted (masked out)
    expected = brute_force_nll(lp, [1, 2], 0)
    x = t64(lp[:, None], True)
    loss = F.ctc_loss(x, cr.tensor([[1, 2]]), (4,), (2,), reduction="sum")
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g)) and np.all(g[:, :, 3] == 0)
    np.testing.assert_allclose(g.sum(axis=2), -1.0)


# -- gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck_padded_batch(reduction):
    rng = np.random.default_rng(4)
    lp = t64(rng.standard_normal((6, 3, 4)) - 1.5, True)  # need not be normalised
    tg = cr.tensor([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
    assert gradcheck(lambda x: F.ctc_loss(x, tg, (6, 5, 3), (3, 2, 0), reduction=reduction), (lp,),
                     check_forward_ad=True)


def test_gradcheck_blank_and_unbatched_and_zero_infinity():
    rng = np.random.default_rng(5)
    lp = t64(rng.standard_normal((5, 2, 3)), True)
    flat = cr.tensor([0, 1, 0, 0])
    assert gradcheck(lambda x: F.ctc_loss(x, flat, (5, 4), (2, 2), blank=2), (lp,))
    assert gradcheck(lambda x: F.ctc_loss(x, flat, (5, 2), (2, 2), blank=2, zero_infinity=True), (lp,))
    lp1 = t64(rng.standard_normal((4, 3)), True)
    assert gradcheck(lambda x: F.ctc_loss(x, cr.tensor([1, 1]), (4,), (2,)), (lp1,))


def test_gradient_is_minus_the_posterior():
    # ∂loss/∂lp[t, k] = -P(frame t emits k | target): each frame's gradient sums to -1
    rng = np.random.default_rng(6)
    lp = t64(log_softmax_np(rng.standard_normal((6, 1, 4))), True)
    F.ctc_loss(lp, cr.tensor([[1, 3, 1]]), (6,), (3,), reduction="sum").backward()
    np.testing.assert_allclose(lp.grad.numpy().sum(axis=2), -1.0)
    assert np.all(lp.grad.numpy() <= 0)


def test_empty_batch():
    lp = t64(np.zeros((3, 0, 4)), True)
    out = F.ctc_loss(lp, cr.zeros((0, 2), dtype=cr.int64), (), (), reduction="none")
    assert tuple(out.shape) == (0,)
    assert gradcheck(lambda x: F.ctc_loss(x, cr.zeros((0, 2), dtype=cr.int64), (), (), reduction="sum"), (lp,))


def test_create_graph_first_order_and_no_double_backward():
    rng = np.random.default_rng(7)
    lp = t64(rng.standard_normal((4, 1, 3)), True)
    loss = F.ctc_loss(lp, cr.tensor([[1, 2]]), (4,), (2,), reduction="sum")
    (g1,) = grad(loss, (lp,), create_graph=True)
    lp2 = t64(lp.detach().numpy(), True)
    F.ctc_loss(lp2, cr.tensor([[1, 2]]), (4,), (2,), reduction="sum").backward()
    np.testing.assert_allclose(g1.detach().numpy(), lp2.grad.numpy())
    with pytest.raises(RuntimeError, match="double backward"):
        grad(g1.sum(), (lp,))


def test_errors():
    lp = t64(np.zeros((3, 2, 4)))
    tg = cr.tensor([[1, 2], [1, 1]])
    with pytest.raises(RuntimeError, match="input_lengths.*at most T = 3"):
        F.ctc_loss(lp, tg, (4, 3), (2, 2))
    with pytest.raises(RuntimeError, match=r"target_lengths.*S = 2"):
        F.ctc_loss(lp, tg, (3, 3), (3, 2))
    with pytest.raises(RuntimeError, match="input_lengths must be of size batch_size"):
        F.ctc_loss(lp, tg, (3,), (2, 2))
    with pytest.raises(RuntimeError, match="blank"):
        F.ctc_loss(lp, tg, (3, 3), (2, 2), blank=4)
    with pytest.raises(RuntimeError, match="sum\\(target_lengths\\) = 4"):
        F.ctc_loss(lp, cr.tensor([1, 2, 1]), (3, 3), (2, 2))
    with pytest.raises(RuntimeError, match="class indices"):
        F.ctc_loss(lp, cr.tensor([[1, 5], [1, 1]]), (3, 3), (2, 2))
    with pytest.raises(RuntimeError, match=r"\(T, N, C\)"):
        F.ctc_loss(t64(np.zeros((3,))), tg, (3,), (2,))
    with pytest.raises(TypeError, match="integer targets"):
        F.ctc_loss(lp, t64([[1, 2], [1, 1]]), (3, 3), (2, 2))
    with pytest.raises(ValueError, match="reduction"):
        F.ctc_loss(lp, tg, (3, 3), (2, 2), reduction="avg")


# -- PyTorch as oracle ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduction,zero_infinity,flat", [("mean", False, False), ("sum", False, True),
                                                          ("none", True, False), ("mean", True, True)])
def test_against_pytorch(reduction, zero_infinity, flat):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    T, N, C = 12, 4, 6
    z = rng.standard_normal((T, N, C))
    tl = (5, 3, 6, 0)
    il = (12, 7, 6, 9)  # the third cannot fit 6 labels with repeats in 6 frames
    padded = rng.integers(1, C, (N, 6))
    padded[2, 1] = padded[2, 0]
    targets = np.concatenate([padded[n, : tl[n]] for n in range(N)]) if flat else padded
    zc, zt = t64(z, True), torch.tensor(z, requires_grad=True)
    lc = F.ctc_loss(F.log_softmax(zc, 2), cr.tensor(targets), il, tl, reduction=reduction,
                    zero_infinity=zero_infinity)
    lt = torch.nn.functional.ctc_loss(zt.log_softmax(2), torch.tensor(targets), il, tl, reduction=reduction,
                                      zero_infinity=zero_infinity)
    np.testing.assert_allclose(lc.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
    if zero_infinity:  # infinite losses give nan gradients otherwise, in both
        w = rng.standard_normal(tuple(lt.shape))
        (lc * t64(w)).sum().backward()
        (lt * torch.tensor(w)).sum().backward()
        # gradients on the logits agree (PyTorch's log_probs gradient carries an extra exp(lp) term)
        np.testing.assert_allclose(zc.grad.numpy(), zt.grad.numpy(), atol=1e-12)


def test_against_pytorch_float32_module():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    z = rng.standard_normal((20, 2, 5)).astype(np.float32)
    tg = np.array([[1, 2, 3, 3, 4], [4, 4, 1, 0, 0]])
    zc, zt = cr.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    lc = nn.CTCLoss(blank=0)(F.log_softmax(zc, 2), cr.tensor(tg), (20, 15), (5, 3))
    lt = torch.nn.CTCLoss(blank=0)(zt.log_softmax(2), torch.tensor(tg), (20, 15), (5, 3))
    assert lc.dtype == cr.float32
    assert lc.item() == pytest.approx(lt.item(), rel=1e-5)
    lc.backward()
    lt.backward()
    np.testing.assert_allclose(zc.grad.numpy(), zt.grad.numpy(), atol=1e-6)


# -- the targets' check, vectorised through the table ---------------------------------------------

@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("rows, blank, first_bad", [
    ([[1, 5, 2], [1, 1, 0]], 0, 5),            # >= C
    ([[1, 2, 3], [3, -1, 2]], 0, -1),          # negative, in the second sample
    ([[2, 3, 3], [3, 0, 7]], 0, 0),            # the blank, before a later out-of-range label
    ([[3, 3, 1], [1, 1, 1]], 3, 3),            # another blank index
    ([[1, 2, 2], [9, 3, -4]], 0, 9),           # first in order: sample 0 is fine, 9 comes before -4
])
def test_bad_targets_name_the_first_bad_label(rows, blank, first_bad, flat):
    lp = t64(np.zeros((4, 2, 4)))
    lengths = (3, 3)
    tg = cr.tensor([v for r in rows for v in r]) if flat else cr.tensor(rows)
    msg = rf"ctc_loss: targets must be class indices in \[0, 4\) other than blank = {blank}, got {first_bad}$"
    with pytest.raises(RuntimeError, match=msg):
        F.ctc_loss(lp, tg, (4, 4), lengths, blank=blank)


@pytest.mark.parametrize("dtype", [cr.int64, cr.int32])
def test_labels_beyond_the_target_lengths_are_not_checked(dtype):
    """Padding past each target's length may hold anything (PyTorch reads only the first
    target_lengths[n] labels); the loss equals that of the same targets padded with 1s."""
    rng = np.random.default_rng(9)
    lp = t64(log_softmax_np(rng.standard_normal((5, 3, 4))))
    junk = cr.tensor([[1, 2, -7], [3, 99, 0], [2, 0, 0]], dtype=dtype)
    clean = cr.tensor([[1, 2, 1], [3, 1, 1], [2, 1, 1]], dtype=dtype)
    a = F.ctc_loss(lp, junk, (5, 5, 4), (2, 1, 1), reduction="none").numpy()
    b = F.ctc_loss(lp, clean, (5, 5, 4), (2, 1, 1), reduction="none").numpy()
    np.testing.assert_array_equal(a, b)
    flat = cr.tensor([1, 2, 3, 2], dtype=dtype)  # the same targets concatenated
    np.testing.assert_array_equal(F.ctc_loss(lp, flat, (5, 5, 4), (2, 1, 1), reduction="none").numpy(), a)
    empty = F.ctc_loss(lp, cr.zeros((3, 0), dtype=dtype), (5, 5, 4), (0, 0, 0), reduction="none").numpy()
    np.testing.assert_allclose(empty, -lp.numpy()[:, :, 0].cumsum(0)[[4, 4, 3], [0, 1, 2]], rtol=1e-12)


def test_target_check_does_not_loop_over_the_batch(monkeypatch):
    """The check reads the targets in a constant number of table calls, whatever the batch size
    (it used to take one slice and one tolist per sample)."""
    calls = {"getitem": 0, "tolist": 0}
    get, tolist = cr.Tensor.__getitem__, cr.Tensor.tolist

    def counting_get(self, idx):
        calls["getitem"] += 1
        return get(self, idx)

    def counting_tolist(self):
        calls["tolist"] += 1
        return tolist(self)

    monkeypatch.setattr(cr.Tensor, "__getitem__", counting_get)
    monkeypatch.setattr(cr.Tensor, "tolist", counting_tolist)
    counts = []
    for n in (1, 40):
        calls.update(getitem=0, tolist=0)
        lp = t64(np.zeros((4, n, 5)))
        F.ctc_loss(lp, cr.tensor([[1, 2]] * n), (4,) * n, (2,) * n)
        F.ctc_loss(lp, cr.tensor([1, 2] * n), (4,) * n, (2,) * n)
        counts.append(dict(calls))
    assert counts[0] == counts[1]


def test_forward_over_reverse_raises_as_double_backward():
    """The Hessian (forward mode through the recorded backward) needs the gradient's derivative,
    which ctc_loss does not have (PyTorch neither): a clear error, as for double backward."""
    from chainrule import func

    lp = t64(log_softmax_np(np.random.default_rng(3).standard_normal((4, 1, 3))))
    with pytest.raises(RuntimeError, match="ctc_loss.*not implemented, as in PyTorch"):
        func.hessian(lambda x: F.ctc_loss(x, cr.tensor([[1, 2]]), (4,), (2,), reduction="sum"))(lp)
