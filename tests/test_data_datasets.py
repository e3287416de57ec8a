"""Generated data sets, scikit-learn's bundled ones, and image augmentation."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    Compose,
    RandomHorizontalFlip,
    RandomTranslate,
    load_dataset,
    make_circles,
    make_linear_regression,
    make_moons,
    make_polynomial_regression,
    make_spirals,
    make_xor,
    translate,
)
from chainrule.utils.data import Generator


def test_xor_truth_table():
    X, y = make_xor()
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    Xn, yn = make_xor(100, noise=0.1, seed=0)
    assert Xn.shape == (100, 2) and yn.tolist() == [0, 1, 1, 0] * 25


def test_toy_classification_shapes_and_geometry():
    X, y = make_spirals(300, n_classes=3, noise=0.0, seed=0)
    assert X.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6  # radius t in [0, 1]
    X, y = make_circles(200, noise=0.0, factor=0.3)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    X, y = make_moons(101, noise=0.0)
    assert np.bincount(y).tolist() == [51, 50]
    np.testing.assert_allclose(np.linalg.norm(X[y == 0], axis=1), 1.0, atol=1e-6)  # upper unit half circle


def test_regression_generators_follow_their_formula():
    X, y, w, b = make_linear_regression(50, n_features=3, noise=0.0, seed=1, return_coef=True)
    np.testing.assert_allclose(y, X @ w + b, rtol=1e-5, atol=1e-5)
    x, y, c = make_polynomial_regression(3, 40, noise=0.0, seed=2, return_coef=True)
    np.testing.assert_allclose(y, c[0] + c[1] * x + c[2] * x**2 + c[3] * x**3, rtol=1e-5, atol=1e-5)
    assert abs(c[3]) >= 1.0 and np.all(np.abs(x) <= 1)
    with pytest.raises(ValueError, match="coef"):
        make_polynomial_regression(2, 10, coef=[1.0, 2.0])


def test_load_dataset_digits_and_breast_cancer():
    pytest.importorskip("sklearn")
    d = load_dataset("digits")
    n = d.train.n + d.val.n + d.test.n
    assert n == 1797 and d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert d.train.X.shape[1:] == (1, 8, 8) and d.train.X.dtype == np.float32
    assert 0.0 <= d.train.X.min() and d.train.X.max() <= 1.0  # pixels / 16
    assert abs(d.test.n - round(0.2 * 1797)) <= 1
    counts = np.bincount(d.test.y, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: about 36 per class
    b = load_dataset("breast_cancer", seed=3)
    np.testing.assert_allclose(b.train.X.mean(0), 0, atol=1e-5)  # scaled with training statistics
    np.testing.assert_allclose(b.train.X.std(0), 1, atol=1e-4)
    assert b["test"].X.shape[1] == 30 and b.feature_names[0] == "mean radius"
    assert load_dataset("breast_cancer", seed=3).test.y.tolist() == b.test.y.tolist()  # same seed, same split
    with pytest.raises(ValueError, match="available: digits"):
        load_dataset("mnist")


def test_translate_by_hand():
    img = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    np.testing.assert_array_equal(translate(img, 1, 0)[0], [[0, 0, 0], [0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(translate(img, 0, -1)[0], [[1, 2, 0], [4, 5, 0], [7, 8, 0]])
    np.testing.assert_array_equal(translate(img, -1, 1)[0], [[0, 3, 4], [0, 6, 7], [0, 0, 0]])
    assert not translate(img, 3, 0).any()


def test_random_transforms_keep_shape_and_type():
    g = Generator().manual_seed(0)
    img = cr.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    t = RandomTranslate(1, generator=g)
    outs = [t(img) for _ in range(30)]
    assert all(isinstance(o, cr.Tensor) and o.shape == (1, 4, 4) for o in outs)
    assert any(not np.array_equal(o.numpy(), img.numpy()) for o in outs)
    # a translation only moves pixels or zeroes them: the multiset is a subset of the original + zeros
    for o in outs:
        assert set(o.numpy().ravel().tolist()) <= set(range(16))
    always = RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(always(img).numpy(), img.numpy()[..., ::-1])
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(img).numpy(), img.numpy())
    c = Compose([RandomHorizontalFlip(1.0), RandomHorizontalFlip(1.0)])
    np.testing.assert_array_equal(c(img.numpy()), img.numpy())
