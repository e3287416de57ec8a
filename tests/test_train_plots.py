"""Plots are written as valid PNG files (skipped without matplotlib)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule import plot  # noqa: E402
from chainrule.train import History  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 500


def test_all_plots_write_pngs(tmp_path):
    h = History([{"epoch": e, "loss": 1 / e, "accuracy": 1 - 1 / (e + 1), "val_loss": 1.2 / e,
                  "val_accuracy": 0.9 - 1 / (e + 2), "lr": 0.1} for e in range(1, 6)])
    paths = [
        plot.plot_history(h, tmp_path / "curves.png", title="t"),
        plot.plot_histograms({"relu1": np.random.default_rng(0).standard_normal(500), "fc": np.arange(10.0)},
                             tmp_path / "hist.png"),
        plot.plot_confusion_matrix(np.array([[5, 1], [0, 4]]), tmp_path / "sub" / "cm.png", labels=["No", "Yes"]),
        plot.plot_series({"fc1": [1.0, 0.5, 0.2], "fc2": [0.1, 0.05, 0.01]}, tmp_path / "norms.png", logy=True),
        plot.plot_decision_boundary(lambda g: (g[:, 0] * g[:, 1] > 0).astype(int),
                                    np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]),
                                    np.array([1, 0, 0, 1]), tmp_path / "boundary.png", resolution=50),
    ]
    for p in paths:
        assert p.exists() and _is_png(p), p


def test_plot_errors(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plot.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plot.plot_decision_boundary(lambda g: g[:, 0], np.zeros((3, 3)), np.zeros(3), tmp_path / "y.png")
