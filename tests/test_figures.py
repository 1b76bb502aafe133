"""Each report figure: the expected panels, the plotted numbers, and a real PNG on disk."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from camrobust.report import figures
from camrobust.report.accuracy import accuracy_table
from camrobust.stats import method_ranks, mixedlm_tests
from camrobust.stats.synthetic import synthetic_per_image


@pytest.fixture(scope="module")
def per_image() -> pd.DataFrame:
    return synthetic_per_image(
        seed=21,
        n_images=12,
        methods=("gradcam", "eigencam", "hirescam"),
        regularizers=("erm", "vat"),
        noises=("gaussian", "jpeg"),
        levels=("1", "3"),
    )


@pytest.fixture(scope="module")
def robust() -> pd.DataFrame:
    rng = np.random.default_rng(22)
    rows = []
    for model, method, noise, level in itertools.product(
        ("resnet_erm", "resnet_vat"),
        ("gradcam", "eigencam", "hirescam"),
        ("gaussian", "jpeg"),
        ("1", "3", "5", "all"),
    ):
        c, r = rng.uniform(0.5, 0.95), rng.uniform(0.1, 0.6)
        rows.append(
            {
                "dataset": "shapes",
                "model": model,
                "method": method,
                "noise": noise,
                "level": level,
                "measure": "ssim",
                "consistency": c,
                "consistency_lo": c - 0.05,
                "consistency_hi": c + 0.05,
                "responsiveness": r,
                "robustness": 2 * c * r / (c + r),
            }
        )
    return pd.DataFrame(rows)


def _check_png(path, fig) -> None:
    """The PNG exists, has the figure's pixel size, is not blank, and no temp file is left."""
    assert path.stat().st_size > 5_000
    with Image.open(path) as img:
        assert img.format == "PNG"
        w, h = fig.get_size_inches() * figures.DPI
        assert img.size == (round(w), round(h))
        assert np.asarray(img.convert("L")).std() > 10
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_cam_grid_panels_titles_and_png(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 2, 16, 16, 3), dtype=np.uint8)
    maps = rng.random((2, 3, 2, 4, 4))
    preds = np.array([[0, 1], [0, 1], [2, 1]])
    names = ["cat", "dog", "car"]
    fig = figures.build_cam_grid(images, maps, preds, names, ["gradcam", "eigencam"], ["1", "3"])
    axes = fig.axes
    assert len(axes) == (1 + 2) * 2 * 3
    top = [ax.get_title() for ax in axes[:6]]
    assert top == [
        "clean\ncat",
        "level 1\ncat",
        "level 3\ncar",
        "clean\ndog",
        "level 1\ndog",
        "level 3\ndog",
    ]
    assert axes[2].title.get_color() == "tab:red" and axes[1].title.get_color() == "black"
    assert axes[6].get_ylabel() == "gradcam" and axes[12].get_ylabel() == "eigencam"
    assert len(axes[6].images) == 2 and len(axes[0].images) == 1  # overlay on the input
    path = tmp_path / "grid.png"
    figures.cam_grid(path, images, maps, preds, names, ["gradcam", "eigencam"], ["1", "3"])
    _check_png(path, fig)
    gray = images[..., :1]
    assert len(figures.build_cam_grid(gray, maps, preds, names, ["a", "b"], ["1", "3"]).axes) == 18
    with pytest.raises(ValueError, match="maps must be"):
        figures.build_cam_grid(images, maps[:1], preds, names, ["gradcam", "eigencam"], ["1", "3"])
    with pytest.raises(ValueError, match="class ids"):
        figures.build_cam_grid(images, maps, preds + 5, names, ["a", "b"], ["1", "3"])


def test_h_heatmap_one_panel_per_model_with_the_h_values(tmp_path, robust):
    fig = figures.build_h_heatmap(robust, "ssim")
    assert len(fig.axes) == 2 + 1  # two models and the colorbar
    ax = fig.axes[0]
    assert ax.get_title() == "shapes / resnet_erm"
    expect = (
        robust.query("model == 'resnet_erm' and level == 'all'")
        .pivot(index="method", columns="noise", values="robustness")
        .sort_index()
        .sort_index(axis=1)
    )
    np.testing.assert_allclose(ax.images[0].get_array(), expect.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(expect.index)
    path = tmp_path / "h.png"
    figures.h_heatmap(path, robust, "ssim")
    _check_png(path, fig)
    with pytest.raises(ValueError, match="measure 'cosine'"):
        figures.build_h_heatmap(robust, "cosine")


def test_severity_curves_panel_per_model_and_noise(tmp_path, robust):
    fig = figures.build_severity_curves(robust, "ssim")
    assert len(fig.axes) == 2 * 2
    ax = fig.axes[0]
    assert ax.get_title() == "shapes / resnet_erm / gaussian"
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # a curve and a band per method
    sel = robust.query(
        "model == 'resnet_erm' and noise == 'gaussian' and method == 'eigencam' and level != 'all'"
    )
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 3, 5])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sel["consistency"])
    path = tmp_path / "sev.png"
    figures.severity_curves(path, robust, "ssim")
    _check_png(path, fig)


def test_kept_flipped_one_panel_per_model(tmp_path, per_image):
    fig = figures.build_kept_flipped(per_image, "ssim")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_title() == "shapes / resnet_erm"
    assert len(ax.patches) == 3 * 2  # a kept and a flipped box per method
    path = tmp_path / "kf.png"
    figures.kept_flipped(path, per_image, "ssim")
    _check_png(path, fig)


def test_average_ranks_cd_plot(tmp_path, per_image):
    ranks = method_ranks(per_image, min_pairs=5)
    fig = figures.build_average_ranks(ranks)
    assert len(fig.axes) == 2  # one per model (noise and level pooled)
    texts = [t.get_text() for t in fig.axes[0].texts]
    pooled = ranks.query("model == 'resnet_erm' and noise == 'all' and level == 'all'")
    for method, r in zip(pooled["method"], pooled["avg_rank"], strict=True):
        assert f"{method} ({r:.2f})" in texts
    assert f"CD = {pooled['cd'].iloc[0]:.2f}" in texts
    path = tmp_path / "ranks.png"
    figures.average_ranks(path, ranks)
    _check_png(path, fig)


def test_cliques_join_methods_closer_than_the_critical_difference():
    ranks = np.array([1.0, 1.3, 2.5, 2.7, 3.0])
    assert figures._cliques(ranks, 0.6) == [(0, 1), (2, 4)]
    assert figures._cliques(ranks, 0.1) == []


def test_accuracy_vs_severity_plots_the_accuracy(tmp_path, per_image):
    fig = figures.build_accuracy_vs_severity(per_image)
    assert len(fig.axes) == 1 * 2  # one arch × two noises
    ax = fig.axes[0]
    assert ax.get_title() == "shapes / resnet / gaussian" and len(ax.lines) == 2
    one = per_image.query("model == 'resnet_vat' and noise == 'gaussian' and method == 'gradcam'")
    expect = [float((one["pred_clean"] == one["label"]).mean())]  # x = 0: the clean images
    for level in ("1", "3"):
        lv = one[one["level"] == level]
        expect.append(float((lv["pred_noisy"] == lv["label"]).mean()))
    np.testing.assert_allclose(ax.lines[1].get_ydata(), expect)
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [0, 1, 3])
    path = tmp_path / "acc.png"
    figures.accuracy_vs_severity(path, per_image)
    _check_png(path, fig)


def test_accuracy_figure_plots_the_accuracy_table(per_image):
    models = per_image["model"].unique()
    table = accuracy_table(per_image, {("shapes", m): 0.9 for m in models})
    assert list(table.columns) == [
        *("dataset", "model", "arch", "regularizer", "noise", "level"),
        *("accuracy", "n", "test_accuracy"),
    ]
    ax = figures.build_accuracy_vs_severity(per_image).axes[1]  # resnet / jpeg
    sel = table[(table["model"] == "resnet_erm") & (table["noise"] == "jpeg")]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sel["accuracy"])
    assert sel["level"].tolist() == ["0", "1", "3"] and (sel["n"] == 12).all()


def test_forest_plot_main_effects_and_slopes(tmp_path, per_image):
    mixed = mixedlm_tests(per_image, min_pairs=5)
    fig = figures.build_forest_plot(mixed)
    assert len(fig.axes) == 2  # effect at the mean level, effect on the slope
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        f"{m} / {n}" for m in ("eigencam", "gradcam", "hirescam") for n in ("gaussian", "jpeg")
    ]
    main = mixed[mixed["factor"] == "C(regularizer, Treatment('erm'))[T.vat]"]
    (bars,) = ax.containers  # one errorbar set per non-reference regulariser
    xs = bars.lines[0].get_xdata()
    np.testing.assert_allclose(np.sort(xs), np.sort(main["effect_size"]))
    path = tmp_path / "forest.png"
    figures.forest_plot(path, mixed)
    _check_png(path, fig)
    with pytest.raises(ValueError, match="no regularizer coefficients"):
        figures.build_forest_plot(mixed[mixed["group_a"] == ""])
