"""Figures a person can read (issue 16, item 6), checked on the matplotlib Figure objects.

* a loss that spans more than two decades is drawn on a log axis (and one that does not, on a linear one);
* epoch ticks are whole numbers;
* diagnostics figures name their layers ("1: Linear 4→8"), not bare indices;
* a regression run's history does not draw the same curve twice (an MSE metric next to an MSE loss);
* a histogram is not one bar: ReLU zeros are counted, not drawn, and a few extreme values do not
  squeeze the rest into one bin;
* every panel with several curves has a legend.

The figures are caught where the library saves them (``plot._save``), so the command line's own
figures are inspected too.
"""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from chainrule import cli, plot  # noqa: E402
from chainrule.train import History  # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """{file name: Figure} of every figure the library saves while the test runs (nothing is written)."""
    caught = {}

    def keep(fig, path):
        fig.canvas.draw()  # ticks and layout as they would be saved
        caught[str(path).rsplit("/", 1)[-1]] = fig
        return path

    monkeypatch.setattr(plot, "_save", keep)
    yield caught
    plot._plt().close("all")


def _history(losses, **more):
    return History([{"epoch": e + 1, "loss": v, "val_loss": 1.1 * v, **{k: s[e] for k, s in more.items()}}
                    for e, v in enumerate(losses)])


def _panel(fig, ylabel):
    return next(ax for ax in fig.axes if ax.get_ylabel() == ylabel)


def _lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_loss_spanning_decades_gets_a_log_axis(figures, tmp_path):
    plot.plot_history(_history([10.0 * 0.25**e for e in range(8)], accuracy=[0.1 * e for e in range(8)]),
                      tmp_path / "a.png")
    fig = figures["a.png"]
    assert _panel(fig, "loss").get_yscale() == "log"  # 10 ... 6e-4: four decades
    assert _panel(fig, "accuracy").get_yscale() == "linear"
    plot.plot_history(_history([1.0, 0.8, 0.6, 0.5]), tmp_path / "b.png")
    assert _panel(figures["b.png"], "loss").get_yscale() == "linear"  # less than a decade
    # per-layer series too: gradient norms from 1e-6 to 1 get a log axis without asking
    plot.plot_series({"1: Linear 4→8": [1e-6, 1e-3, 1.0], "3: Linear 8→1": [1e-5, 1e-4, 1e-3]}, tmp_path / "s.png")
    assert figures["s.png"].axes[0].get_yscale() == "log"


def _integer_ticks(ax):
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo - 1e-9 <= t <= hi + 1e-9]
    return ticks and all(float(t).is_integer() for t in ticks)


@pytest.mark.parametrize("epochs", [2, 3, 7])
def test_epoch_ticks_are_whole_numbers(figures, tmp_path, epochs):
    plot.plot_history(_history([1.0 / (e + 1) for e in range(epochs)]), tmp_path / "h.png")
    plot.plot_series({"fc": [1.0 / (e + 1) for e in range(epochs)]}, tmp_path / "s.png", ylabel="norm")
    for name in ("h.png", "s.png"):
        for ax in figures[name].axes:
            assert _integer_ticks(ax), (name, list(ax.get_xticks()))


def test_mse_metric_equal_to_the_loss_is_drawn_once(figures, tmp_path):
    loss = [1.0, 0.5, 0.3]
    h = History([{"epoch": e + 1, "loss": v, "mse": v, "r2": 1 - v, "val_loss": v + 0.1, "val_mse": v + 0.1,
                  "val_r2": 0.9 - v} for e, v in enumerate(loss)])  # what a Trainer with MSELoss records
    plot.plot_history(h, tmp_path / "h.png")
    fig = figures["h.png"]
    assert sorted(ax.get_ylabel() for ax in fig.axes) == ["loss", "r2"]
    _no_curve_twice(fig)


def _no_curve_twice(fig):
    curves = [np.asarray(ln.get_ydata(), dtype=float) for ax in fig.axes for ln in _lines(ax)]
    for i in range(len(curves)):
        for j in range(i):
            assert not (curves[i].shape == curves[j].shape and np.allclose(curves[i], curves[j])), (i, j)


def _table(path, n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2))
    y = np.round(100 * np.sin(x[:, 0]) + 30 * x[:, 1] + 200)
    path.write_text("a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{int(t)}\n" for (a, b), t in zip(x, y)))
    return path


def test_regression_run_figures(figures, tmp_path, monkeypatch, capsys):
    """The command's regression run: a history without repeated curves, a predicted-vs-true figure, and
    diagnostics figures labelled with layer names."""
    _table(tmp_path / "t.csv")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--dataset", "t.csv", "--target", "y", "--epochs", "4", "--hidden", "8,8",
                     "--diagnostics", "--quiet", "--out", "run"]) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["task"] == "regression"
    hist = figures["history.png"]
    _no_curve_twice(hist)
    assert len(hist.axes) == 3  # loss (standardised MSE), MAE in the target's units, R²
    assert "standardised" in hist.axes[0].get_ylabel()
    pred = figures["predictions.png"].axes[0]
    assert "true" in pred.get_xlabel() and "predicted" in pred.get_ylabel()
    # layer names: the gradient figures name each Linear layer with its sizes
    titles = [ax.get_title() for ax in figures["gradients.png"].axes if ax.get_visible()]
    assert any("1: Linear 2→8" in t for t in titles) and any("5: Linear 8→1" in t for t in titles), titles
    legend = [t.get_text() for t in figures["grad_norms.png"].axes[0].get_legend().get_texts()]
    assert "3: Linear 8→8" in legend, legend
    acts = [ax.get_title() for ax in figures["activations.png"].axes if ax.get_visible()]
    assert all("ReLU" in t for t in acts) and any(t.startswith("2: ReLU") for t in acts), acts
    for name, fig in figures.items():  # every panel with several curves says which is which
        for ax in fig.axes:
            if len(_lines(ax)) > 1:
                assert ax.get_legend() is not None, name
    capsys.readouterr()


def _bar_heights(ax):
    return np.array([p.get_height() for p in ax.patches])


def test_histograms_are_not_one_bar(figures, tmp_path):
    rng = np.random.default_rng(0)
    relu = np.maximum(rng.standard_normal(4000) - 1.0, 0)  # about 84% exact zeros
    grads = np.r_[rng.standard_normal(2000) * 1e-3, 5.0]  # one huge value among small ones
    plot.plot_histograms({"2: ReLU": relu, "1: Linear 4→8": grads}, tmp_path / "h.png")
    ax_relu, ax_grad = figures["h.png"].axes[:2]
    zero = (relu == 0).mean()
    assert f"{zero:.0%} exactly 0" in ax_relu.get_title()
    h = _bar_heights(ax_relu)
    assert h.sum() == (relu > 0).sum() and h.max() < 0.5 * h.sum()  # the zeros are counted, not drawn
    h = _bar_heights(ax_grad)
    assert h.max() < 0.5 * h.sum()  # without clipping the range, all but one value fall in one bin
    assert ax_grad.get_xlim()[1] < 1.0  # the axis shows the bulk, not the single 5.0


def test_layer_labels_name_every_layer():
    from chainrule import nn

    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    labels = plot.layer_labels(model)
    assert labels["1"] == "1: Linear 4→8" and labels["2"] == "2: ReLU" and labels["3"] == "3: Linear 8→3"


def test_confusion_matrix_shows_the_mistakes_not_a_wall_of_zeros(figures, tmp_path):
    cm = np.diag([35, 34, 36]) + np.array([[0, 0, 0], [3, 0, 0], [0, 1, 0]])
    plot.plot_confusion_matrix(cm, tmp_path / "cm.png", labels=["a", "b", "c"])
    texts = sorted(t.get_text() for t in figures["cm.png"].axes[0].texts)
    assert texts == sorted(["35", "34", "36", "3", "1"])  # the empty off-diagonal cells stay blank


def test_decision_boundary_legend_names_the_classes(figures, tmp_path):
    X = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    plot.plot_decision_boundary(lambda g: (g[:, 0] * g[:, 1] > 0).astype(int), X, np.array([1, 0, 0, 1]),
                                tmp_path / "b.png", resolution=20)
    legend = figures["b.png"].axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["class 0", "class 1"]


def test_history_marks_the_epoch_whose_weights_were_kept(figures, tmp_path):
    plot.plot_history(_history([1.0, 0.6, 0.5, 0.55, 0.6], accuracy=[0.5, 0.7, 0.8, 0.8, 0.79]), tmp_path / "h.png",
                      best_epoch=3)
    for ax in figures["h.png"].axes:
        marks = [ln for ln in ax.get_lines() if "epoch 3" in ln.get_label()]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]
        assert "weights kept (epoch 3)" in [t.get_text() for t in ax.get_legend().get_texts()]
