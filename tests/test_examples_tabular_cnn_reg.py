"""Examples 3, 4 and 9: the Heart-shaped table, LeNet/AlexNet on digits with the notes' size table,
and the regularisation experiments (double descent, weight decay)."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data import load_csv
from chainrule.examples import EXAMPLES, regularization, tabular
from chainrule.models.lenet import AlexNetSmall, LeNet, format_layer_table, layer_table


def _conv_out(n, k, pad=0, stride=1):
    return (n - k + 2 * pad) // stride + 1  # the notes' output size


# ----------------------------------------------------------------------------- tabular


def test_heart_shaped_csv_loads_with_one_hot_categoricals(tmp_path):
    from sklearn.datasets import load_breast_cancer

    path = tabular.write_heart_shaped_csv(tmp_path / "t.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[-1] == "Malignant" and {"Size", "Shape"} <= set(header)
    table = load_csv(path, target="Malignant", categorical=["Size", "Shape"])
    size_cols = [f"Size={c}" for c in sorted(["small", "medium", "large", "very_large"])]
    shape_cols = [f"Shape={c}" for c in sorted(["regular", "irregular", "jagged"])]
    assert table.feature_names == list(tabular.NUMERIC) + size_cols + shape_cols
    assert table.X.shape == (569, 12 + 4 + 3)
    assert table.classes == ["No", "Yes"]
    bunch = load_breast_cancer()
    # Yes = malignant = scikit-learn's class 0
    np.testing.assert_array_equal(table.y, (bunch.target == 0).astype(np.int64))
    names = list(bunch.feature_names)
    area = bunch.data[:, names.index("worst area")]
    size = table.X[:, 12:16]
    np.testing.assert_array_equal(size.sum(1), 1)  # exactly one category per row
    np.testing.assert_array_equal(size[:, size_cols.index("Size=small")], area < 600)
    np.testing.assert_array_equal(size[:, size_cols.index("Size=very_large")], area >= 1600)
    cp = bunch.data[:, names.index("worst concave points")]
    shape = table.X[:, 16:]
    np.testing.assert_array_equal(shape.sum(1), 1)
    np.testing.assert_array_equal(shape[:, shape_cols.index("Shape=jagged")], cp >= 0.17)
    np.testing.assert_allclose(table.X[:, 0], bunch.data[:, names.index("mean radius")], rtol=1e-5)


@pytest.mark.slow
def test_tabular_mlp_matches_logistic_regression():
    out = tabular.run(verbose=False)
    mlp, logistic = out["mlp"]["accuracy"]["test"], out["logistic"]["accuracy"]["test"]
    # 114 test rows, 37% Yes.  Linear models reach about 95-97% on this data set (the classes are
    # nearly linearly separable), so 0.93 (at most 7 errors) is a floor with room for the split;
    # the MLP should be no worse than logistic regression by more than 3 rows.
    assert out["n"]["test"] == 114
    assert out["majority_test_accuracy"] < 0.65
    assert mlp >= 0.93 and logistic >= 0.93
    assert mlp >= logistic - 3 / 114


# ----------------------------------------------------------------------------- CNN size table


def test_layer_table_equals_the_notes_formula_lenet():
    I0, c1, c2, k1, k2, hid, H = 1, 2, 3, 3, 3, 5, 8
    model = LeNet(in_channels=I0, num_classes=10, image_size=H, channels=(c1, c2), kernel_sizes=(k1, k2),
                  hidden=(hid,), activation="relu", pool="max")
    rows = layer_table(model, (I0, H, H))
    assert [r.name for r in rows] == ["conv1", "pool1", "conv2", "fc1", "fc2"]
    # conv1: K = 3, pad 1, W = H = 8; units W·H·J, weights K²·I·J, connections W·H·K²·I·J
    W1 = _conv_out(H, k1, k1 // 2)
    assert W1 == 8
    assert rows[0][3:] == (W1 * W1 * c1, k1 * k1 * I0 * c1, c1, k1 * k1 * I0, W1 * W1 * k1 * k1 * I0 * c1)
    assert rows[0].units == 128 and rows[0].weights == 18 and rows[0].connections == 1152
    # pool 2: 2x4x4 units, each sees a 2x2 window, no weights
    W2 = W1 // 2
    assert rows[1][3:] == (c1 * W2 * W2, 0, 0, 4, c1 * W2 * W2 * 4)
    # conv2 'valid': 4 -> 2
    W3 = _conv_out(W2, k2)
    assert W3 == 2
    assert rows[2][3:] == (W3 * W3 * c2, k2 * k2 * c1 * c2, c2, k2 * k2 * c1, W3 * W3 * k2 * k2 * c1 * c2)
    assert rows[2].connections == 216
    # fully connected M -> N: N units, M·N weights, M·N connections
    M = c2 * W3 * W3
    assert rows[3][3:] == (hid, M * hid, hid, M, M * hid)
    assert rows[4][3:] == (10, hid * 10, 10, hid, hid * 10)
    assert sum(r.weights + r.biases for r in rows) == model.num_parameters()
    text = format_layer_table(rows)
    assert "1152" in text and f"parameters = weights + biases = {model.num_parameters()}" in text


def test_layer_table_alexnet_small_and_lenet5_defaults():
    model = AlexNetSmall(channels=((4,), (6, 5)), hidden=7, dropout=0.5)
    rows = layer_table(model, (1, 8, 8))
    convs = [r for r in rows if r.kind == "Conv2d"]
    # stage 1 at 8x8, stage 2 at 4x4 (3x3 kernels, padding 1 keep the size)
    for r, (I, J, W) in zip(convs, [(1, 4, 8), (4, 6, 4), (6, 5, 4)]):
        assert (r.units, r.weights, r.biases, r.connections) == (W * W * J, 9 * I * J, J, W * W * 9 * I * J)
    fc = [r for r in rows if r.kind == "Linear"]
    assert [(r.weights, r.connections) for r in fc] == [(5 * 2 * 2 * 7, 5 * 2 * 2 * 7), (7 * 10, 7 * 10)]
    assert sum(r.weights + r.biases for r in rows) == model.num_parameters()
    assert model.training  # the table leaves the mode alone
    # LeNet-5 on 8x8: C1 has 5²·1·6 = 150 weights and 8·8·150 = 9600 connections
    c1 = layer_table(LeNet(), (1, 8, 8))[0]
    assert (c1.weights, c1.connections) == (150, 9600)


def test_cnn_models_output_shapes_and_errors():
    x = cr.zeros((3, 1, 8, 8))
    assert LeNet()(x).shape == (3, 10)
    assert AlexNetSmall().eval()(x).shape == (3, 10)
    assert LeNet(image_size=16)(cr.zeros((2, 1, 16, 16))).shape == (2, 10)  # S4 appears for larger inputs
    with pytest.raises(ValueError, match="LeNet"):
        LeNet(activation="sigmoid")
    with pytest.raises(ValueError, match="AlexNetSmall"):
        AlexNetSmall(channels=((4,), (4,), (4,), (4,)))
    with pytest.raises(TypeError, match="layer_table"):
        layer_table(nn.Linear(2, 2), (2,))


@pytest.mark.slow
def test_lenet_reaches_97_percent_on_digits():
    from chainrule.data import load_dataset
    from chainrule.examples.digits_cnn import build, train_digits

    cr.manual_seed(0)
    res = train_digits(build("lenet"), load_dataset("digits"), epochs=60, seed=0)
    assert res["test_accuracy"] >= 0.97  # 359 test images: at most 10 errors


# ----------------------------------------------------------------------------- regularisation


def test_double_descent_peak_near_interpolation_threshold():
    N = 100
    dd = regularization.double_descent(N, seeds=range(3))
    P, test = list(dd["P"]), dd["test"]
    peak = P[int(np.argmax(test))]
    assert N / 1.5 <= peak <= 1.5 * N
    assert 10 * N in P
    assert test[P.index(10 * N)] < test.max() / 2  # the second descent
    first = min(t for p, t in zip(P, test) if p <= 0.6 * N)  # the best under-parameterised fit
    assert test[P.index(10 * N)] < 1.5 * first  # and back to the first descent's level
    # beyond the threshold the min-norm fit interpolates the training points
    assert all(tr < 1e-8 for p, tr in zip(P, dd["train"]) if p >= 1.5 * N)
    # explicit regularisation (ridge) removes the peak
    ridge = regularization.double_descent(N, n_features=[N], seeds=range(3), ridge=1e-2)
    assert ridge["test"][0] < test[P.index(N)] / 10


def test_weight_decay_shrinks_the_weights():
    data = regularization.small_digits(100)
    kw = dict(optimizer="sgd", lr=0.02, epochs=40, seed=3)
    plain = regularization.train_mlp(data, **kw)
    decayed = regularization.train_mlp(data, weight_decay=5e-2, **kw)
    assert decayed["weight_norm"] < 0.8 * plain["weight_norm"]
    # the same seed gives the same start: with λ = 0 twice the runs agree exactly
    assert regularization.train_mlp(data, **kw)["weight_norm"] == plain["weight_norm"]


def test_weight_decay_step_is_the_notes_update():
    # one plain-SGD step on one batch: W <- (1 - αλ) W - α ∂E/∂W, so the two runs differ by -αλ W0
    from chainrule.models import mlp

    X, y = regularization.small_digits(32)["train"]
    data = {"train": (X, y), "val": (X, y)}
    lr, lam = 0.1, 0.3
    kw = dict(hidden=(8,), optimizer="plain_sgd", lr=lr, epochs=1, seed=5)
    plain = regularization.train_mlp(data, **kw)["model"]
    decayed = regularization.train_mlp(data, weight_decay=lam, **kw)["model"]
    cr.manual_seed(5)
    start = mlp(64, 10, hidden=(8,))
    for (name, p0), p1, p2 in zip(start.named_parameters(), plain.parameters(), decayed.parameters()):
        np.testing.assert_allclose(p2.data - p1.data, -lr * lam * p0.data, atol=1e-6, err_msg=name)


def test_examples_are_registered():
    import importlib

    for name in ("tabular", "digits_cnn", "regularization"):
        assert name in EXAMPLES
        assert callable(importlib.import_module(f"chainrule.examples.{name}").main)
