"""The per-image quality table and its bootstrap summary, against a direct resampling loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_faithfulness import _net

from camrobust.quality.faithfulness import FAITHFULNESS_METRICS, FaithfulnessResult
from camrobust.quality.sensitivity import SENSITIVITY_METRICS, SensitivityResult, sensitivity
from camrobust.quality.stage import evaluate_quality
from camrobust.quality.table import QUALITY_KEYS, quality_per_image, summarize_quality
from camrobust.report.draw import write_figure
from camrobust.report.figures import build_h_vs_faithfulness
from camrobust.seeding import numpy_rng, torch_generator

KEYS = {"dataset": "shapes", "model": "resnet18-erm", "arch": "resnet18", "regularizer": "erm"}
N = 7


def _results() -> tuple[SensitivityResult, FaithfulnessResult]:
    rng = np.random.default_rng(0)
    methods = ("gradcam", "eigencam")
    sens = {m: {k: rng.random(N) for k in SENSITIVITY_METRICS} for m in methods}
    sens["eigencam"]["avg_sensitivity"][2] = np.inf  # a zero map that changed
    faith = {m: {k: rng.normal(size=N) for k in FAITHFULNESS_METRICS} for m in methods}
    degenerate = {m: np.zeros(N, dtype=bool) for m in methods}
    degenerate["gradcam"][[1, 4]] = True
    for k in FAITHFULNESS_METRICS:
        faith["gradcam"][k][[1, 4]] = np.nan
    return (
        SensitivityResult(sens, n_changed=np.arange(N), targets=np.zeros(N, dtype=np.int64)),
        FaithfulnessResult(faith, {}, {}, degenerate, (50,)),
    )


def test_per_image_rows_and_columns():
    sens, faith = _results()
    table = quality_per_image(KEYS, sens, faith)
    assert len(table) == 2 * N
    assert list(table.columns[:6]) == [*QUALITY_KEYS, "method", "image"]
    row = table[(table.method == "eigencam") & (table.image == 3)].iloc[0]
    assert row["road_combined"] == faith.scores["eigencam"]["road_combined"][3]
    assert row["local_lipschitz"] == sens.scores["eigencam"]["local_lipschitz"][3]
    assert row["n_changed"] == 3
    assert table[table.method == "gradcam"]["degenerate"].sum() == 2


def test_summary_counts_means_and_intervals_equal_a_direct_loop():
    sens, faith = _results()
    table = quality_per_image(KEYS, sens, faith)
    n_boot = 200
    summary = summarize_quality(table, n_boot=n_boot, ci=0.9, seed=5)
    assert len(summary) == 2 * (len(SENSITIVITY_METRICS) + len(FAITHFULNESS_METRICS))
    counts = numpy_rng(5, "quality", *(KEYS[k] for k in QUALITY_KEYS)).multinomial(
        N, np.full(N, 1 / N), size=n_boot
    )
    for method, metric, n_nan, n_inf in [
        ("gradcam", "road_combined", 2, 0),
        ("eigencam", "avg_sensitivity", 0, 1),
        ("eigencam", "deletion_auc", 0, 0),
    ]:
        source = sens if metric in SENSITIVITY_METRICS else faith
        values = source.scores[method][metric]
        row = summary[(summary.method == method) & (summary.metric == metric)].iloc[0]
        assert (row.n_images, row.n_nan, row.n_infinite) == (N, n_nan, n_inf)
        finite = np.isfinite(values)
        assert row["mean"] == pytest.approx(values[finite].mean(), rel=1e-12)
        replicates = []
        for c in counts:
            drawn = np.repeat(values, c)
            replicates.append(drawn[np.isfinite(drawn)].mean())
        lo, hi = np.quantile(replicates, [0.05, 0.95])
        assert (row.mean_lo, row.mean_hi) == (pytest.approx(lo), pytest.approx(hi))


def test_bad_input_names_what_is_wrong():
    sens, faith = _results()
    with pytest.raises(ValueError, match="keys lack"):
        quality_per_image({"dataset": "shapes"}, sens)
    with pytest.raises(ValueError, match="neither"):
        quality_per_image(KEYS)
    with pytest.raises(ValueError, match="at least one metric"):
        summarize_quality(quality_per_image(KEYS, sens)[["method", "image", *QUALITY_KEYS]])


def test_h_vs_faithfulness_places_each_method_at_its_h_and_score(tmp_path):
    sens, faith = _results()
    quality = summarize_quality(quality_per_image(KEYS, sens, faith), n_boot=50)
    robust = pd.DataFrame(
        [
            ("shapes", "resnet18-erm", method, noise, level, "ssim", h)
            for method, base in (("gradcam", 0.3), ("eigencam", 0.6))
            for noise, shift in (("gaussian", 0.0), ("contrast", 0.1))
            for level, h in (("all", base + shift), ("1", 0.99))
        ],
        columns=["dataset", "model", "method", "noise", "level", "measure", "robustness"],
    )
    fig = build_h_vs_faithfulness(robust, quality, "ssim", "road_combined")
    (ax,) = fig.axes
    points = {text.get_text(): text.xy for text in ax.texts}
    expected_y = quality.set_index(["method", "metric"])["mean"]
    assert points["eigencam"] == pytest.approx((0.65, expected_y["eigencam", "road_combined"]))
    assert points["gradcam"] == pytest.approx((0.35, expected_y["gradcam", "road_combined"]))
    path = tmp_path / "h_vs_road.png"
    write_figure("h_vs_faithfulness", robust, path, {"dpi": 50, "measure": "ssim"}, quality)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no model and method"):
        build_h_vs_faithfulness(robust.assign(model="other"), quality, "ssim")
    # no flipped prediction: H undefined, a panel that says so instead of empty axes
    (ax,) = build_h_vs_faithfulness(robust.assign(robustness=np.nan), quality, "ssim").axes
    assert [t.get_text() for t in ax.texts] == ["no method with both H and road_combined"]


def _model_and_images() -> tuple[torch.nn.Module, torch.Tensor, list[str]]:
    """A small seeded network, three seeded 12×12 images and two CAM methods."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _net().eval()
    x = torch.rand(3, 3, 12, 12, generator=torch_generator("test_quality_table", "x"))
    return model, x, ["gradcam", "eigencam"]


def test_quality_stage_shares_the_clean_pass_and_switches_families_off():
    model, x, methods = _model_and_images()
    sens_opts = {"n_samples": 3, "radius": 0.05}
    faith_opts = {"percentiles": [50], "steps": 2}
    both = evaluate_quality(
        model, "4", x, methods, KEYS,
        sensitivity_options=sens_opts, faithfulness_options=faith_opts, seed=1,
    )  # fmt: skip
    direct = sensitivity(model, "4", x, methods, seed=1, **sens_opts)
    gradcam = both[both.method == "gradcam"]
    np.testing.assert_array_equal(
        gradcam["avg_sensitivity"], direct.scores["gradcam"]["avg_sensitivity"]
    )
    assert set(FAITHFULNESS_METRICS) <= set(both.columns)
    only_faith = evaluate_quality(
        model, "4", x, methods, KEYS,
        sensitivity_options=None, faithfulness_options=faith_opts, seed=1,
    )  # fmt: skip
    assert not set(SENSITIVITY_METRICS) & set(only_faith.columns)
    np.testing.assert_array_equal(only_faith["road_combined"], both["road_combined"])
    with pytest.raises(ValueError, match=r"metrics.sensitivity: unknown option\(s\) samples"):
        evaluate_quality(
            model, "4", x, methods, KEYS,
            sensitivity_options={"samples": 3}, faithfulness_options=None, seed=1,
        )  # fmt: skip
    with pytest.raises(ValueError, match="both switched off"):
        evaluate_quality(
            model, "4", x, methods, KEYS,
            sensitivity_options=None, faithfulness_options=None, seed=1,
        )  # fmt: skip


def test_summary_without_bootstrap_has_the_means_and_no_interval():
    sens, faith = _results()
    table = quality_per_image(KEYS, sens, faith)
    plain, boot = summarize_quality(table, n_boot=0), summarize_quality(table, n_boot=20)
    np.testing.assert_array_equal(plain["mean"], boot["mean"])
    assert plain[["mean_lo", "mean_hi"]].isna().all().all()
    assert boot[["mean_lo", "mean_hi"]].notna().any().all()


def test_each_family_measures_its_own_first_images():
    model, x, methods = _model_and_images()
    table = evaluate_quality(
        model, "4", x, methods, KEYS,
        sensitivity_options={"images": 2, "n_samples": 3, "radius": 0.05},
        faithfulness_options={"images": 3, "percentiles": [50], "steps": 2}, seed=1,
    )  # fmt: skip
    assert len(table) == 2 * 3
    direct = sensitivity(model, "4", x[:2], methods, seed=1, n_samples=3, radius=0.05)
    gradcam = table[table.method == "gradcam"]
    np.testing.assert_array_equal(
        gradcam["max_sensitivity"].to_numpy()[:2], direct.scores["gradcam"]["max_sensitivity"]
    )
    assert gradcam["n_changed"].isna().tolist() == [False, False, True]
    assert np.isnan(gradcam["max_sensitivity"].iloc[2])
    assert gradcam["degenerate"].notna().all()
    summary = summarize_quality(table, n_boot=10).set_index(["method", "metric"])
    # an image a family did not measure is neither counted nor NaN
    assert summary.loc[("gradcam", "max_sensitivity"), ["n_images", "n_nan"]].tolist() == [2, 0]
    assert summary.loc[("gradcam", "road_combined"), "n_images"] == 3
    assert summary.loc[("gradcam", "max_sensitivity"), "mean"] == pytest.approx(
        direct.scores["gradcam"]["max_sensitivity"].mean()
    )
    with pytest.raises(ValueError, match=r"metrics.sensitivity.images: 4 outside 1..3"):
        evaluate_quality(
            model, "4", x, methods, KEYS,
            sensitivity_options={"images": 4}, faithfulness_options=None, seed=1,
        )  # fmt: skip
