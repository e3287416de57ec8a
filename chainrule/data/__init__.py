"""Data preparation: preprocessing transformers, generated and bundled data sets, CSV tables, augmentation."""

from chainrule.data.augmentation import Compose, RandomHorizontalFlip, RandomTranslate, translate
from chainrule.data.datasets import (
    DATASETS,
    DataSplits,
    Split,
    load_dataset,
    make_circles,
    make_linear_regression,
    make_moons,
    make_polynomial_regression,
    make_spirals,
    make_xor,
)
from chainrule.data.preprocessing import (
    PCA,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
    train_val_test_split,
)
from chainrule.data.tabular import CSVSchema, Tabular, check_classification_data, encode_labels, infer_task, load_csv

__all__ = [
    "CSVSchema",
    "DATASETS",
    "PCA",
    "Compose",
    "DataSplits",
    "MinMaxScaler",
    "OneHotEncoder",
    "PolynomialFeatures",
    "RandomHorizontalFlip",
    "RandomTranslate",
    "Split",
    "StandardScaler",
    "Tabular",
    "check_classification_data",
    "encode_labels",
    "infer_task",
    "load_csv",
    "load_dataset",
    "make_circles",
    "make_linear_regression",
    "make_moons",
    "make_polynomial_regression",
    "make_spirals",
    "make_xor",
    "train_val_test_split",
    "translate",
]
