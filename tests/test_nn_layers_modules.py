"""The nn-layers modules: PyTorch's attributes, parameter shapes, initialisation, train/eval, errors."""

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

pytest.importorskip("chainrule.nn.module", reason="nn.Module (nn-core) has not landed")


def test_conv2d_attributes_shapes_and_init_bounds():
    cr.manual_seed(0)
    conv = nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, groups=2)
    assert conv.in_channels == 4 and conv.out_channels == 8 and conv.groups == 2
    assert conv.kernel_size == (3, 2) and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert conv.dilation == (1, 1)
    assert conv.weight.shape == (8, 2, 3, 2) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32 and conv.weight.requires_grad
    bound = 1 / math.sqrt(2 * 3 * 2)  # fan_in = in/groups · kh · kw
    assert np.abs(conv.weight._array).max() <= bound and np.abs(conv.bias._array).max() <= bound
    assert np.abs(conv.weight._array).max() > 0.8 * bound  # uniform over the whole interval
    names = [n for n, _ in conv.named_parameters()]
    assert names == ["weight", "bias"]
    x = cr.randn(2, 4, 7, 6)
    y = conv(x)
    ref = F.conv2d(x, conv.weight, conv.bias, 2, 1, 1, 2)
    np.testing.assert_allclose(y._array, ref._array, rtol=1e-6)
    assert y.shape == (2, 8, 4, 4)  # W: (6 + 2·1 - 2) // 2 + 1 = 4 (torch.nn.Conv2d agrees)


def test_conv_without_bias_and_same_padding_and_errors():
    conv = nn.Conv1d(3, 5, 4, padding="same", bias=False)
    assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
    assert conv(cr.randn(2, 3, 9)).shape == (2, 5, 9)
    with pytest.raises(ValueError, match=r"Conv1d: expected input with 3 channels.*got 4 channels"):
        conv(cr.randn(2, 4, 9))
    with pytest.raises(ValueError, match=r"Conv2d: expected 4-D input \(N, C, H, W\).*got shape \(8,\)"):
        nn.Conv2d(3, 4, 3)(cr.randn(8))
    with pytest.raises(ValueError, match="padding_mode must be one of"):  # (reflect & co: test_conv_padding_mode.py)
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="groups=2 must divide"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_causal_conv1d_module_keeps_length_and_is_causal():
    cr.manual_seed(1)
    layer = nn.CausalConv1d(2, 3, kernel_size=3, dilation=2)
    assert layer.causal_padding == 4 and layer.weight.shape == (3, 2, 3)
    x = cr.randn(1, 2, 10)
    y = layer(x)._array
    assert y.shape == (1, 3, 10)
    x2 = x._array.copy()
    x2[:, :, 6:] += 1.0
    y2 = layer(cr.tensor(x2))._array
    np.testing.assert_array_equal(y2[:, :, :6], y[:, :, :6])
    assert not np.allclose(y2[:, :, 6:], y[:, :, 6:])


def test_pooling_modules():
    x = cr.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x)._array, F.max_pool2d(x, 2)._array)
    y, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    assert y.shape == idx.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(nn.AvgPool2d(2, 1, 1, count_include_pad=False)(x)._array,
                               F.avg_pool2d(x, 2, 1, 1, False, False)._array)
    assert nn.AdaptiveAvgPool2d((None, 3))(x).shape == (2, 3, 8, 3)
    assert nn.MaxPool1d(2)(cr.randn(2, 3, 9)).shape == (2, 3, 4)
    assert nn.AvgPool1d(3, ceil_mode=True)(cr.randn(2, 3, 10)).shape == (2, 3, 4)
    assert nn.AdaptiveAvgPool1d(4)(cr.randn(2, 3, 9)).shape == (2, 3, 4)
    assert list(nn.MaxPool2d(2).parameters()) == []
    with pytest.raises(ValueError, match="MaxPool2d: expected 4-D input"):
        nn.MaxPool2d(2)(cr.randn(8, 8))


def test_batchnorm2d_train_eval_and_buffers():
    bn = nn.BatchNorm2d(3, momentum=0.5)
    assert bn.weight.shape == (3,) and np.all(bn.weight._array == 1) and np.all(bn.bias._array == 0)
    keys = set(bn.state_dict().keys())
    assert {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"} <= keys
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 2 + 3
    y = bn(cr.tensor(z))
    mu = z.mean(axis=(0, 2, 3))
    var = z.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y._array, (z - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5), atol=1e-5)
    np.testing.assert_allclose(bn.running_mean._array, 0.5 * mu, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var._array, 0.5 + 0.5 * var * 16 / 15, rtol=1e-5)
    assert int(bn.num_batches_tracked._array) == 1
    bn.eval()
    y_eval = bn(cr.tensor(z))
    ref = (z - bn.running_mean._array[:, None, None]) / np.sqrt(bn.running_var._array[:, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval._array, ref, atol=1e-5)
    assert int(bn.num_batches_tracked._array) == 1  # eval does not count
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input with 3 channels"):
        bn(cr.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4-D"):
        bn(cr.randn(2, 3))


def test_batchnorm1d_cumulative_average_and_no_tracking():
    bn = nn.BatchNorm1d(2, momentum=None)
    a = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    b = np.array([[5.0, 0.0], [7.0, 2.0]], dtype=np.float32)
    bn(cr.tensor(a))
    bn(cr.tensor(b))
    # cumulative average of the batch means: ((2, 4) + (6, 1)) / 2
    np.testing.assert_allclose(bn.running_mean._array, [4.0, 2.5], rtol=1e-6)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert free.running_mean is None and list(free.parameters()) == []
    free.eval()  # no running statistics: batch statistics even in eval
    out = free(cr.tensor(a))._array
    np.testing.assert_allclose(out.mean(0), [0, 0], atol=1e-6)
    assert nn.BatchNorm1d(4)(cr.randn(3, 4, 5)).shape == (3, 4, 5)


def test_layernorm_module():
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3) and ln.bias.shape == (2, 3)
    x = cr.randn(4, 2, 3)
    np.testing.assert_allclose(ln(x)._array, F.layer_norm(x, (2, 3))._array)
    assert nn.LayerNorm(3, bias=False).bias is None
    assert list(nn.LayerNorm(3, elementwise_affine=False).parameters()) == []
    with pytest.raises(ValueError, match="LayerNorm"):
        ln(cr.randn(4, 3, 2))


def test_dropout_modules_follow_train_and_eval():
    cr.manual_seed(3)
    d = nn.Dropout(0.5)
    x = cr.ones(1000)
    y = d(x)._array
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    assert nn.Dropout2d(0.5)(cr.ones(2, 4, 3, 3)).shape == (2, 4, 3, 3)


def test_embedding_module_init_padding_and_pretrained():
    cr.manual_seed(4)
    emb = nn.Embedding(1000, 8, padding_idx=0)
    w = emb.weight._array
    assert w.shape == (1000, 8) and np.all(w[0] == 0)
    assert abs(w[1:].mean()) < 0.05 and abs(w[1:].std() - 1.0) < 0.05  # N(0, 1)
    idx = cr.tensor(np.array([[0, 3, 3], [7, 0, 3]]))
    out = emb(idx)
    assert out.shape == (2, 3, 8)
    out.sum().backward()
    g = emb.weight.grad._array
    assert np.all(g[0] == 0) and np.all(g[3] == 3) and np.all(g[7] == 1)
    with pytest.raises(IndexError, match="Embedding: index 1000 is out of range"):
        emb(cr.tensor(np.array([1000])))
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    frozen = nn.Embedding.from_pretrained(cr.tensor(table))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(cr.tensor(np.array([2])))._array, [[4.0, 5.0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_small_cnn_trains_one_step_down():
    cr.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.1), nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
    )
    x = cr.randn(8, 1, 8, 8)
    y = cr.tensor(np.arange(8) % 3)
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    losses = []
    for _ in range(5):
        for p in params:
            p.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        for p in params:
            p._array -= 0.1 * p.grad._array
        losses.append(loss.item())
    assert losses[-1] < losses[0]
