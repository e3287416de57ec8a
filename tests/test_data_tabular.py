"""load_csv on the notes' Heart-data shape, and its errors for bad files."""

import numpy as np
import pytest

from chainrule.data import check_classification_data, load_csv

# the five rows of the Heart data shown in the notes (003), tab-separated
HEART = """Age\tSex\tChestPain\tRestBP\tChol\tFbs\tRestECG\tMaxHR\tExAng\tOldpeak\tSlope\tCa\tThal\tAHD
63\t1\ttypical\t145\t233\t1\t2\t150\t0\t2.3\t3\t0.0\tfixed\tNo
67\t1\tasymptomatic\t160\t286\t0\t2\t108\t1\t1.5\t2\t3.0\tnormal\tYes
67\t1\tasymptomatic\t120\t229\t0\t2\t129\t1\t2.6\t2\t2.0\treversible\tYes
37\t1\tnonanginal\t130\t250\t0\t0\t187\t0\t3.5\t3\t0.0\tnormal\tNo
41\t0\tnontypical\t130\t204\t0\t2\t172\t0\t1.4\t1\t0.0\tnormal\tNo
"""


def _write(tmp_path, text, name="heart.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_heart_rows_from_the_notes(tmp_path):
    X, y, names, classes = load_csv(_write(tmp_path, HEART), target="AHD")
    assert classes == ["No", "Yes"]
    assert y.tolist() == [0, 1, 1, 0, 0]
    # 11 numeric columns + ChestPain (4 categories) + Thal (3 categories)
    assert X.shape == (5, 11 + 4 + 3) and X.dtype == np.float32
    assert "ChestPain=asymptomatic" in names and "Thal=reversible" in names and "AHD" not in names
    j = names.index("ChestPain=asymptomatic")
    assert X[:, j].tolist() == [0, 1, 1, 0, 0]
    assert X[:, names.index("Age")].tolist() == [63, 67, 67, 37, 41]
    np.testing.assert_allclose(X[:, names.index("Oldpeak")], [2.3, 1.5, 2.6, 3.5, 1.4], rtol=1e-6)


def test_explicit_categorical_and_drop(tmp_path):
    p = _write(tmp_path, "id,colour,size,label\n1,red,3,1\n2,blue,4,0\n3,red,5,1\n")
    X, y, names, classes = load_csv(p, target="label", categorical=["colour", "size"], drop=["id"])
    assert names == ["colour=blue", "colour=red", "size=3", "size=4", "size=5"]
    assert classes == [0, 1] and y.tolist() == [1, 0, 1]


def test_missing_target_names_it_and_lists_columns(tmp_path):
    p = _write(tmp_path, HEART)
    with pytest.raises(ValueError, match=r"target column 'Target' not found.*'Age'.*'AHD'"):
        load_csv(p, target="Target")


def test_non_numeric_value_in_numeric_column(tmp_path):
    bad = HEART.replace("\t160\t", "\t16O\t")  # letter O typed for a zero, line 3
    with pytest.raises(ValueError, match=r"non-numeric value '16O' in numeric column 'RestBP' at line 3"):
        load_csv(_write(tmp_path, bad), target="AHD")


def test_missing_values_name_column_and_line(tmp_path):
    bad = HEART.replace("\t3.0\tnormal", "\tNA\tnormal")  # Ca missing on line 3
    p = _write(tmp_path, bad)
    with pytest.raises(ValueError, match=r"missing value .* column 'Ca' at line 3"):
        load_csv(p, target="AHD")
    X, y, _, _ = load_csv(p, target="AHD", dropna=True)
    assert X.shape[0] == 4 and y.tolist() == [0, 1, 0, 0]
    empty = HEART.replace("\t2.6\t", "\t\t")  # Oldpeak empty on line 4
    with pytest.raises(ValueError, match=r"column 'Oldpeak' at line 4"):
        load_csv(_write(tmp_path, empty, "e.csv"), target="AHD")


def test_label_out_of_given_classes(tmp_path):
    bad = HEART.replace("reversible\tYes", "reversible\tMaybe")
    with pytest.raises(ValueError, match=r"label 'Maybe' at line 4 .* not one of the classes \['No', 'Yes'\]"):
        load_csv(_write(tmp_path, bad), target="AHD", classes=["No", "Yes"])


def test_ragged_row(tmp_path):
    p = _write(tmp_path, "a,b,y\n1,2,0\n3,1\n")
    with pytest.raises(ValueError, match="line 3 .* 2 fields but the header has 3"):
        load_csv(p, target="y")


def test_check_classification_data_errors():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="X has 4 rows .* y has 3 labels"):
        check_classification_data(X, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=r"label 3 at row 2 is out of range \[0, 3\)"):
        check_classification_data(X, np.array([0, 1, 3, 2]), num_classes=3)
    with pytest.raises(ValueError, match="label -1 at row 0"):
        check_classification_data(X, np.array([-1, 1, 0, 0]))
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(ValueError, match="row 1, column 1"):
        check_classification_data(Xn, np.array([0, 1, 0, 1]))
    _, y = check_classification_data(X, np.array([0.0, 1.0, 2.0, 1.0]))
    assert y.dtype == np.int64
