"""Scalers, PCA, polynomial features, one-hot encoding and splits against hand computation."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    PCA,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
    train_val_test_split,
)

X = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]])


def test_standard_scaler_by_hand():
    s = StandardScaler().fit(X)
    # column 0: mean 2, population std sqrt(2/3); column 1: mean 30, std sqrt((400+100+900)/3)
    np.testing.assert_allclose(s.mean_, [2.0, 30.0])
    np.testing.assert_allclose(s.scale_, [np.sqrt(2 / 3), np.sqrt(1400 / 3)])
    Z = s.transform(X)
    np.testing.assert_allclose(Z[:, 0], [-1 / np.sqrt(2 / 3), 0, 1 / np.sqrt(2 / 3)])
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1)
    np.testing.assert_allclose(s.inverse_transform(Z), X)
    # fitted on train only: new data uses the training statistics
    np.testing.assert_allclose(s.transform(np.array([[2.0, 30.0]])), [[0.0, 0.0]], atol=1e-12)


def test_standard_scaler_tensor_in_tensor_out_and_errors():
    s = StandardScaler()
    with pytest.raises(RuntimeError, match="fit"):
        s.transform(X)
    Z = s.fit_transform(cr.tensor(X))
    assert isinstance(Z, cr.Tensor)
    with pytest.raises(ValueError, match="3 features"):
        s.transform(np.zeros((2, 3)))
    # a constant column maps to 0 instead of dividing by zero
    np.testing.assert_allclose(StandardScaler().fit_transform(np.array([[5.0], [5.0]])), [[0.0], [0.0]])


def test_minmax_scaler_by_hand():
    s = MinMaxScaler().fit(X)
    np.testing.assert_allclose(s.transform(X), [[0, 0], [0.5, 0.2], [1, 1]])
    np.testing.assert_allclose(s.transform(np.array([[4.0, 0.0]])), [[1.5, -0.2]])
    np.testing.assert_allclose(MinMaxScaler(clip=True).fit(X).transform(np.array([[4.0, 0.0]])), [[1.0, 0.0]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(X)), X)
    np.testing.assert_allclose(MinMaxScaler((-1, 1)).fit_transform(X)[:, 0], [-1, 0, 1])


def test_pca_on_a_line_and_whitening():
    # points on the line y = 2x: one principal direction (1, 2)/sqrt(5), all the variance
    t = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    P = np.stack([t, 2 * t], 1) + np.array([1.0, 1.0])
    p = PCA().fit(P)
    np.testing.assert_allclose(np.abs(p.components_[0]), np.array([1, 2]) / np.sqrt(5), atol=1e-12)
    # variance along it: var(t * sqrt 5) with ddof 1 = 5 * 10/4
    np.testing.assert_allclose(p.explained_variance_[0], 12.5)
    np.testing.assert_allclose(p.explained_variance_ratio_, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(p.inverse_transform(p.transform(P)), P, atol=1e-12)


def test_pca_decorrelates_and_whitens():
    rng = np.random.default_rng(0)
    A = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.3, -0.2, 0.1]])
    D = rng.standard_normal((500, 3)) @ A.T + 5.0
    Z = PCA().fit_transform(D)
    C = np.cov(Z, rowvar=False)
    np.testing.assert_allclose(C - np.diag(np.diag(C)), 0, atol=1e-10)  # decorrelated
    assert C[0, 0] >= C[1, 1] >= C[2, 2]
    W = PCA(whiten=True).fit_transform(D)
    np.testing.assert_allclose(np.cov(W, rowvar=False), np.eye(3), atol=1e-10)  # whitened: covariance = I
    W2 = PCA(n_components=2, whiten=True).fit_transform(D)
    assert W2.shape == (500, 2)
    with pytest.raises(ValueError, match="n_components"):
        PCA(n_components=4).fit(D)


def test_polynomial_features_1d_and_2d():
    x = np.array([2.0, -1.0])
    np.testing.assert_allclose(PolynomialFeatures(3).fit_transform(x), [[1, 2, 4, 8], [1, -1, 1, -1]])
    P = PolynomialFeatures(2).fit(np.array([[2.0, 3.0]]))
    # 1, a, b, a^2, ab, b^2
    np.testing.assert_allclose(P.transform(np.array([[2.0, 3.0]])), [[1, 2, 3, 4, 6, 9]])
    assert P.get_feature_names_out(["a", "b"]) == ["1", "a", "b", "a^2", "a b", "b^2"]
    assert PolynomialFeatures(2, include_bias=False).fit(np.zeros((1, 2))).n_output_features_ == 5
    # number of monomials of degree <= 3 in 3 variables: C(3 + 3, 3) = 20
    assert PolynomialFeatures(3).fit(np.zeros((1, 3))).n_output_features_ == 20


def test_one_hot_encoder():
    C = np.array([["red", "s"], ["blue", "m"], ["red", "m"]], dtype=object)
    enc = OneHotEncoder().fit(C)
    assert [c.tolist() for c in enc.categories_] == [["blue", "red"], ["m", "s"]]
    np.testing.assert_array_equal(enc.transform(C), [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 1, 0]])
    assert enc.get_feature_names_out(["colour", "size"]) == ["colour=blue", "colour=red", "size=m", "size=s"]
    np.testing.assert_array_equal(enc.inverse_transform(enc.transform(C)), C)
    with pytest.raises(ValueError, match="unknown category 'green' in column 0"):
        enc.transform(np.array([["green", "s"]], dtype=object))
    ign = OneHotEncoder(handle_unknown="ignore").fit(C)
    np.testing.assert_array_equal(ign.transform(np.array([["green", "s"]], dtype=object)), [[0, 0, 0, 1]])


def test_train_val_test_split_stratified():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100)
    Xtr, Xva, Xte, ytr, yva, yte = train_val_test_split(X, y, val_size=0.2, test_size=0.1, stratify=y, seed=0)
    assert (len(Xtr), len(Xva), len(Xte)) == (70, 20, 10)
    assert np.bincount(yte).tolist() == [6, 3, 1]  # 10% of each class
    assert np.bincount(yva).tolist() == [12, 6, 2]  # 20% of each class
    np.testing.assert_array_equal(y[Xtr], ytr)  # rows stay aligned
    assert sorted(np.concatenate([Xtr, Xva, Xte]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="same number of rows"):
        train_val_test_split(X, y[:50])
