"""Each report figure: the expected panels, the plotted numbers, and a real PNG on disk."""

from __future__ import annotations

import itertools
import re
from importlib import import_module
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from camrobust.report import cam_grid, draw, figures, registry
from camrobust.report.accuracy import accuracy_table
from camrobust.report.png import save_png
from camrobust.stats import (
    method_ranks,
    mixedlm_tests,
    prepare_table,
    regularizer_model_tests,
    stats_options,
)
from camrobust.stats.synthetic import synthetic_per_image

STATS = stats_options(
    {"alpha": 0.05, "correction": "holm", "correction_scope": "stratum", "min_pairs": 5}
    | {"measures": ["ssim"]}
)


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


DPI = 100


def _check_png(path, fig, dpi=DPI) -> None:
    """The PNG exists, has the figure's pixel size at `dpi`, is not blank, and no temp file is
    left."""
    assert path.stat().st_size > 5_000
    with Image.open(path) as img:
        assert img.format == "PNG"
        w, h = fig.get_size_inches() * dpi
        assert img.size == (round(w), round(h))
        assert np.asarray(img.convert("L")).std() > 10
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _cam_grid_inputs(channels: int = 3):
    rng = np.random.default_rng(0)
    # Pixel values never white (255) nor the frame's grey, so cells can be found in the mosaic.
    images = rng.integers(cam_grid._FRAME + 1, 255, (3, 2, 16, 16, channels), dtype=np.uint8)
    maps = rng.random((2, 3, 2, 4, 4))
    preds = np.array([[0, 1], [0, 1], [2, 1]])
    return images, maps, preds, ["cat", "dog", "car"]


def _cam_grid_labels(fig):
    """The single axes, its titles (horizontal texts) and its row labels (rotated texts)."""
    (ax,) = fig.axes
    titles = [t for t in ax.texts if t.get_rotation() == 0]
    rows = [t for t in ax.texts if t.get_rotation() == 90]
    return ax, titles, rows


def _cell_pixel(ax, title, row, y, x, size=16):
    """The mosaic pixel showing image pixel (y, x) in the cell under `title` and beside `row`."""
    mosaic = ax.images[0].get_array()
    # Titles and row labels are centred on their cells; the cell width is read off the input
    # row, walking from a centre to the frame on either side.
    (cx, _), (_, cy) = title.get_position(), row.get_position()
    first_row = [t for t in ax.texts if t.get_rotation() == 90][0].get_position()[1]
    rgb = mosaic[round(first_row), :, :3]
    inside = ((rgb != 255) & (rgb != cam_grid._FRAME)).any(axis=-1)
    mid = round(cx)
    width = np.argmin(inside[mid:]) + np.argmin(inside[mid::-1]) - 1
    left, top = round(cx - width / 2 + 0.5), round(cy - width / 2 + 0.5)
    scale = width // size
    return mosaic[top + y * scale + scale // 2, left + x * scale + scale // 2, :3]


def test_cam_grid_titles_labels_and_png(tmp_path):
    images, maps, preds, names = _cam_grid_inputs()
    fig = cam_grid.build_cam_grid(
        images, maps, preds, names, ["gradcam", "eigencam"], ["1", "3"], dpi=DPI
    )
    ax, titles, rows = _cam_grid_labels(fig)
    assert len(ax.images) == 1  # the whole grid is one image: few artists, fast to draw
    assert [t.get_text() for t in titles] == [
        "clean\ncat",
        "level 1\ncat",
        "level 3\ncar",
        "clean\ndog",
        "level 1\ndog",
        "level 3\ndog",
    ]
    assert [t.get_color() for t in titles] == ["black", "black", "tab:red", *["black"] * 3]
    assert [t.get_text() for t in rows] == ["input", "gradcam", "eigencam"]
    # Titles run left to right and labels top to bottom, in the margins around the mosaic.
    xs = [t.get_position()[0] for t in titles]
    ys = [t.get_position()[1] for t in rows]
    assert xs == sorted(xs) and ys == sorted(ys)
    height, width, _ = ax.images[0].get_array().shape
    assert all(t.get_position()[1] < 0 for t in titles) and all(x < width for x in xs)
    assert all(t.get_position()[0] < 0 for t in rows) and all(y < height for y in ys)
    # 16-pixel images are upscaled 8x: 3 rows and 6 columns of 128-pixel cells plus gaps.
    assert 3 * 128 < height < 3 * 128 + 40 and 6 * 128 < width < 6 * 128 + 80
    path = tmp_path / "grid.png"
    save_png(fig, path, DPI)
    _check_png(path, fig)
    # The PNG shows the mosaic pixel for pixel where the axes sits, and the red title in red.
    with Image.open(path) as img:
        png = np.asarray(img.convert("RGBA"))
    left, top, _, _ = cam_grid.layout(DPI).margins
    np.testing.assert_array_equal(
        png[top : top + height, left : left + width], ax.images[0].get_array()
    )
    renderer = fig.canvas.get_renderer()
    for title in titles[1:3]:
        x0, y0, x1, y1 = title.get_window_extent(renderer).extents
        crop = png[png.shape[0] - int(y1) : png.shape[0] - int(y0), int(x0) : int(x1) + 1]
        red = (crop[..., 0] > 150) & (crop[..., 1] < 100) & (crop[..., 2] < 100)
        assert red.any() == (title.get_color() == "tab:red")
    with pytest.raises(ValueError, match="maps must be"):
        cam_grid.build_cam_grid(
            images, maps[:1], preds, names, ["gradcam", "eigencam"], ["1", "3"], dpi=DPI
        )
    with pytest.raises(ValueError, match="class ids"):
        cam_grid.build_cam_grid(images, maps, preds + 5, names, ["a", "b"], ["1", "3"], dpi=DPI)
    with pytest.raises(ValueError, match="images must be uint8"):
        cam_grid.build_cam_grid(
            images.astype(float), maps, preds, names, ["a", "b"], ["1", "3"], dpi=DPI
        )


def test_cam_grid_cells_show_the_input_and_the_jet_overlay():
    images, maps, preds, names = _cam_grid_inputs()
    maps[0] = 1.0  # "hot": jet's dark red over the image
    maps[1] = 0.0  # "cold": jet's dark blue
    maps[1, 2, 1] = np.nan  # no CAM: the plain image
    fig = cam_grid.build_cam_grid(images, maps, preds, names, ["hot", "cold"], ["1", "3"], dpi=DPI)
    ax, titles, (inp, hot, cold) = _cam_grid_labels(fig)
    for c, title in enumerate(titles):
        i, v = divmod(c, 3)
        # The input row repeats each image pixel (nearest), so a cell fraction names the pixel.
        for y, x in ((0, 0), (5, 12), (15, 15)):
            np.testing.assert_array_equal(_cell_pixel(ax, title, inp, y, x), images[v, i, y, x])
        under = images[v, i, 8, 3].astype(float)
        red = _cell_pixel(ax, title, hot, 8, 3).astype(float)
        blue = _cell_pixel(ax, title, cold, 8, 3).astype(float)
        np.testing.assert_allclose(red, 0.5 * under + 0.5 * np.array([128, 0, 0]), atol=1)
        if (i, v) == (1, 2):
            np.testing.assert_array_equal(blue, under)
        else:
            np.testing.assert_allclose(blue, 0.5 * under + 0.5 * np.array([0, 0, 128]), atol=1)
            assert red[0] - red[2] > blue[0] - blue[2] + 100


def test_cam_grid_gray_images_on_a_fixed_scale():
    images, maps, preds, names = _cam_grid_inputs(channels=1)
    images[0, 0] = 100  # a flat image stays mid grey (not stretched to its own min..max)
    fig = cam_grid.build_cam_grid(images, maps, preds, names, ["a", "b"], ["1", "3"], dpi=DPI)
    ax, titles, rows = _cam_grid_labels(fig)
    assert len(titles) == 6 and len(rows) == 3
    mosaic = ax.images[0].get_array()
    assert mosaic.shape[-1] == 4 and mosaic.dtype == np.uint8 and (mosaic[..., 3] == 255).all()
    np.testing.assert_array_equal(_cell_pixel(ax, titles[0], rows[0], 3, 11), [100] * 3)
    for y, x in ((0, 0), (8, 2), (15, 9)):
        pixel = _cell_pixel(ax, titles[4], rows[0], y, x)
        np.testing.assert_array_equal(pixel, [images[1, 1, y, x, 0]] * 3)


def test_cam_grid_stretches_maps_like_imshow_bilinear():
    small = np.array([[0.0, 1.0], [0.5, 0.25]])
    big = cam_grid.stretch(small, 4, 4)
    # Pixel centres aligned: a quarter of the way between neighbours, edges held constant.
    np.testing.assert_allclose(big[0], [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(big[:, 0], [0.0, 0.125, 0.375, 0.5])
    np.testing.assert_allclose(cam_grid.stretch(np.full((3, 5), 0.3), 7, 11), 0.3)
    # Against matplotlib itself: a 4x4 map drawn with extent over a 32x32 image, at 64 pixels.
    rng = np.random.default_rng(1)
    cam = rng.random((4, 4))
    fig = Figure(figsize=(0.64, 0.64), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(cam, cmap="gray", vmin=0, vmax=1, extent=(0, 32, 32, 0), interpolation="bilinear")
    fig.canvas.draw()
    drawn = np.asarray(fig.canvas.buffer_rgba())[..., 0] / 255.0
    np.testing.assert_allclose(cam_grid.stretch(cam, 64, 64), drawn, atol=2 / 255)


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
    draw.write_figure("h_heatmap", robust, path, {"dpi": DPI, "measure": "ssim"})
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
    draw.write_figure("severity_curves", robust, path, {"dpi": DPI, "measure": "ssim"})
    _check_png(path, fig)


def test_kept_flipped_one_panel_per_model(tmp_path, per_image):
    fig = figures.build_kept_flipped(per_image, "ssim")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_title() == "shapes / resnet_erm"
    assert len(ax.patches) == 3 * 2  # a kept and a flipped box per method
    # Each box's median line (the fifth line of a box) sits at the median similarity of its
    # pairs: kept left of the method's tick, flipped right of it.
    sub = per_image[per_image["model"] == "resnet_erm"]
    methods = [t.get_text() for t in ax.get_xticklabels()]
    medians = ax.lines[4::5]
    assert len(medians) == 6
    for line in medians:
        centre = float(np.mean(line.get_xdata()))
        method, kept = methods[round(centre)], centre < round(centre)
        pairs = sub[(sub["method"] == method) & (sub["kept"] == kept)]
        assert line.get_ydata()[0] == pytest.approx(float(np.median(pairs["ssim"])))
    path = tmp_path / "kf.png"
    draw.write_figure("kept_flipped", per_image, path, {"dpi": DPI, "measure": "ssim"})
    _check_png(path, fig)


def test_average_ranks_cd_plot(tmp_path, per_image):
    ranks = method_ranks(prepare_table(per_image, ("ssim",)), STATS)
    fig = figures.build_average_ranks(ranks)
    assert len(fig.axes) == 2  # one per model (noise and level pooled)
    texts = [t.get_text() for t in fig.axes[0].texts]
    pooled = ranks.query("model == 'resnet_erm' and noise == 'all' and level == 'all'")
    for method, r in zip(pooled["method"], pooled["avg_rank"], strict=True):
        assert f"{method} ({r:.2f})" in texts
    assert f"CD = {pooled['cd'].iloc[0]:.2f}" in texts
    path = tmp_path / "ranks.png"
    draw.write_figure("average_ranks", ranks, path, {"dpi": DPI})
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
    draw.write_figure("accuracy_vs_severity", per_image, path, {"dpi": DPI})
    _check_png(path, fig)


def test_accuracy_figure_plots_the_accuracy_table(per_image):
    models = per_image["model"].unique()
    table = accuracy_table(per_image, {("shapes", m): 0.9 for m in models})
    assert list(table.columns) == [
        *("dataset", "model", "seed", "arch", "regularizer", "noise", "level"),
        *("accuracy", "accuracy_sd", "n", "n_seeds", "test_accuracy", "test_accuracy_sd"),
        "classes",
    ]
    ax = figures.build_accuracy_vs_severity(per_image).axes[1]  # resnet / jpeg
    sel = table[(table["model"] == "resnet_erm") & (table["noise"] == "jpeg")]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sel["accuracy"])
    assert sel["level"].tolist() == ["0", "1", "3"] and (sel["n"] == 12).all()


def test_forest_plot_model_means_main_effects_and_slopes(tmp_path, per_image):
    table = prepare_table(per_image, ("ssim",))
    primary = regularizer_model_tests(table, STATS)
    mixed = mixedlm_tests(table, STATS)
    fig = figures.build_forest_plot(primary, mixed)
    # the primary test on model means, the mixed model's effect at the mean level and on slope
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title().endswith("model means: C on images all kept")
    strata = [
        f"{m} / {n}" for m in ("eigencam", "gradcam", "hirescam") for n in ("gaussian", "jpeg")
    ]
    for ax, kind in zip(fig.axes[:2], ("model means", "main"), strict=True):
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == (strata if ax is fig.axes[0] else [""] * len(strata))
        (bars,) = ax.containers  # one errorbar set per non-reference regulariser
        xs = np.sort(bars.lines[0].get_xdata())
        if kind == "main":
            want = mixed[mixed["factor"] == "C(regularizer, Treatment('erm'))[T.vat]"]
        else:  # levels pooled: one row per method and noise
            want = primary[
                (primary["level"] == "all")
                & (primary["group_a"] == "vat")
                & (primary["endpoint"] == "consistency")  # the primary endpoint only
            ]
        assert len(xs) == len(strata)
        np.testing.assert_allclose(xs, np.sort(want["effect_size"]))
    path = tmp_path / "forest.png"
    draw.write_figure("forest_plot", primary, path, {"dpi": DPI}, mixed)
    _check_png(path, fig)
    with pytest.raises(ValueError, match="no regularizer estimates"):
        figures.build_forest_plot(primary.iloc[:0], mixed[mixed["group_a"] == ""])


def test_method_rankings_by_the_papers_metric_l1_and_h(tmp_path):
    """Three methods whose order differs per score: the ranks, the lines, Kendall's tau."""
    means = {  # (RM over rbo, RM over l1, H over ssim) of each method, every cell
        "gradcam": (0.5, 0.2, 0.7),
        "eigencam": (0.3, 0.4, 0.6),
        "hirescam": (0.1, 0.3, 0.8),
    }
    rows = []
    for method, values in means.items():
        for (measure, score), value in zip(
            (("rbo", "rm"), ("l1", "rm"), ("ssim", "robustness")), values, strict=True
        ):
            for model, noise, level in itertools.product(
                ("a", "b"), ("gaussian", "fgsm"), ("1", "all")
            ):
                v = value if level == "all" else 0.99  # per-level rows do not enter
                rows.append({"dataset": "shapes", "model": model, "method": method,
                             "noise": noise, "level": level, "measure": measure,
                             score: v, f"{score}_lo": v, f"{score}_hi": v})  # fmt: skip
    robust = pd.DataFrame(rows)
    ranks = figures.method_rankings(robust).pivot(index="method", columns="ranking", values="rank")
    assert ranks.loc["gradcam"].tolist() == [2.0, 3.0, 1.0]  # H ssim, RM l1, RM rbo
    assert ranks.loc["hirescam"].tolist() == [1.0, 2.0, 3.0]
    fig = figures.build_method_rankings(robust)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "RM over rbo",
        "RM over l1",
        "H over ssim",
    ]
    # eigencam, gradcam, hirescam: ranks by RM over rbo, RM over l1, H over ssim
    assert [list(line.get_ydata()) for line in ax.lines] == [[2, 1, 3], [1, 3, 2], [3, 2, 1]]
    # Kendall's tau with the paper's ranking: each other ranking keeps one of three pairs.
    title = "shapes\nKendall tau with RM over rbo: RM over l1 -0.33, H over ssim -0.33"
    assert ax.get_title() == title
    path = tmp_path / "rankings.png"
    draw.write_figure("method_rankings", robust, path, {"dpi": DPI})
    _check_png(path, fig)


def test_the_png_pixel_size_follows_dpi(tmp_path, robust):
    """Every figure is written at the configured dpi: twice the dpi, twice the pixels."""
    sizes = {}
    for dpi in (60, 120):
        path = tmp_path / f"h{dpi}.png"
        draw.write_figure("h_heatmap", robust, path, {"dpi": dpi, "measure": "ssim"})
        with Image.open(path) as img:
            sizes[dpi] = img.size
    fig = figures.build_h_heatmap(robust, "ssim")
    w, h = fig.get_size_inches()
    assert sizes[60] == (round(w * 60), round(h * 60))
    assert sizes[120] == (round(w * 120), round(h * 120))


def test_the_cam_grid_scales_with_dpi(tmp_path):
    """The grid's pixel layout is given at 100 dpi: at 200 dpi every part is twice as large."""
    images, maps, preds, names = _cam_grid_inputs()
    sizes, cells = {}, {}
    for dpi in (100, 200):
        fig = cam_grid.build_cam_grid(images, maps, preds, names, ["a", "b"], ["1", "3"], dpi=dpi)
        path = tmp_path / str(dpi) / "grid.png"
        save_png(fig, path, dpi)
        _check_png(path, fig, dpi)
        with Image.open(path) as img:
            sizes[dpi] = img.size
        ax, titles, rows = _cam_grid_labels(fig)
        cells[dpi] = np.array([t.get_position()[0] for t in titles[:2]])
    lay = cam_grid.layout(100)
    assert cam_grid.layout(200) == cam_grid.Layout(
        2 * lay.cell, 2 * lay.gap, 2 * lay.group_gap, 2 * lay.pad, tuple(2 * m for m in lay.margins)
    )
    # 16-pixel images: upscaled 8x at 100 dpi and 16x at 200 dpi, so cell centres move apart 2x.
    assert np.diff(cells[200])[0] == 2 * np.diff(cells[100])[0] == 2 * (8 * 16 + lay.gap)
    assert sizes[200] == (2 * sizes[100][0], 2 * sizes[100][1])


def test_one_registry_names_every_figure_its_builder_table_and_keys():
    modules = {import_module(spec.module) for spec in registry.FIGURES.values()}
    assert figures in modules
    built = sorted(n.removeprefix("build_") for m in modules for n in dir(m) if n[:6] == "build_")
    assert sorted(registry.FIGURES) == built
    for name, spec in registry.FIGURES.items():
        assert draw.builder(name) is getattr(import_module(spec.module), f"build_{name}")
        assert spec.table in ("robustness", "per_image", "method_ranks", "regularizers")
        assert spec.extra in (None, "quality", "mixedlm")
    assert registry.figure_spec("h_heatmap").uses_measure
    assert not registry.figure_spec("forest_plot").uses_measure
    with pytest.raises(ValueError, match="unknown figure 'pie'.*h_heatmap"):
        registry.figure_spec("pie")
    # Each figure has a caption in the report.
    captions = (Path(__file__).parents[1] / "report" / "figure.rst").read_text()
    assert sorted(re.findall(r'^\s+"(\w+)":', captions, re.M)) == sorted(registry.FIGURES)


def test_grid_images_are_spread_over_the_classes():
    """An eval set whose first images are all of one class still gives a grid of four classes."""
    labels = np.array([3] * 20 + [0] * 5 + [7] * 5 + [1] * 5 + [5] * 5)
    pick = cam_grid.pick_images(labels, 4, 0, "digits")
    assert len(set(labels[pick])) == 4 and len(set(pick)) == 4
    np.testing.assert_array_equal(pick, cam_grid.pick_images(labels, 4, 0, "digits"))
    assert not np.array_equal(pick, cam_grid.pick_images(labels, 4, 1, "digits"))
    # More images than classes: every class once, then a second round over the classes.
    eight = cam_grid.pick_images(labels, 8, 0, "digits")
    np.testing.assert_array_equal(eight[:5], cam_grid.pick_images(labels, 5, 0, "digits"))
    assert sorted(labels[eight[:5]]) == [0, 1, 3, 5, 7] and len(set(eight)) == 8
    assert len(set(labels[eight[5:]])) == 3
    with pytest.raises(ValueError, match="cannot pick 41 grid images from 40"):
        cam_grid.pick_images(labels, 41, 0, "digits")


def test_accuracy_vs_severity_averages_the_seeds_of_a_regulariser(per_image):
    """Two seeds per model name: one line per regulariser at the mean of the seeds."""
    seeds = pd.concat(
        [
            per_image.assign(model=per_image["model"] + "-s0"),
            per_image.assign(model=per_image["model"] + "-s1", pred_noisy=per_image["label"]),
        ]
    )
    ax = figures.build_accuracy_vs_severity(seeds).axes[0]
    assert len(ax.lines) == 2
    single = figures.build_accuracy_vs_severity(per_image).axes[0]
    for line, one in zip(ax.lines, single.lines, strict=True):
        clean, *noisy = one.get_ydata()
        # Seed 1 is right at every level; the clean accuracy is the same for both seeds.
        expected = [clean, *((np.array(noisy) + 1.0) / 2)]
        np.testing.assert_allclose(line.get_ydata(), expected)


def test_placebos_are_labelled_in_every_method_figure(per_image, robust):
    """A `placebo` column (the metrics stage's) marks the baselines: '(placebo)' on their tick
    labels, legend entries and annotations, and dashed severity curves."""
    marked = robust.assign(placebo=robust["method"] == "eigencam")
    heat = figures.build_h_heatmap(marked, "ssim").axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == [
        "eigencam (placebo)", "gradcam", "hirescam"
    ]  # fmt: skip
    curves = figures.build_severity_curves(marked, "ssim")
    styles = {line.get_label(): line.get_linestyle() for line in curves.axes[0].lines}
    assert styles == {"eigencam (placebo)": "--", "gradcam": "-", "hirescam": "-"}
    legend = [t.get_text() for t in curves.legends[0].get_texts()]
    assert "eigencam (placebo)" in legend
    per = per_image.assign(placebo=per_image["method"] == "eigencam")
    boxes = figures.build_kept_flipped(per, "ssim").axes[0]
    assert "eigencam (placebo)" in [t.get_text() for t in boxes.get_xticklabels()]
    ranks = method_ranks(prepare_table(per, ("ssim",)), STATS)
    assert ranks.loc[ranks["method"] == "eigencam", "placebo"].all()
    assert not ranks.loc[ranks["method"] != "eigencam", "placebo"].any()
    texts = [t.get_text() for t in figures.build_average_ranks(ranks).axes[0].texts]
    assert any(t.startswith("eigencam (placebo) (") for t in texts)
    regs = regularizer_model_tests(prepare_table(per, ("ssim",)), STATS)
    forest = figures.build_forest_plot(
        regs.assign(placebo=regs["method"] == "eigencam"),
        mixedlm_tests(prepare_table(per, ("ssim",)), STATS),
    )
    rows = [t.get_text() for t in forest.axes[0].get_yticklabels()]
    assert "eigencam (placebo) / gaussian" in rows and "gradcam / gaussian" in rows
