"""Summary table shape and cell format, the Markdown writer, and the accuracy table."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from camrobust.report import accuracy, tables

CELL = re.compile(r"^(\d\.\d\d|n/a) \((\d\.\d\d|n/a)/(\d\.\d\d|n/a)\)$")


def robust_table(seed: int = 0) -> pd.DataFrame:
    """A small long-format robustness table: 2 models × 3 methods × 2 noises × levels + 'all'."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, method, noise, level in itertools.product(
        ("resnet_erm", "resnet_vat"),
        ("gradcam", "hirescam", "eigencam"),
        ("jpeg", "gaussian"),
        ("1", "3", "all"),
    ):
        c, r = rng.uniform(0.5, 0.95), rng.uniform(0.1, 0.6)
        rows.append(
            {
                "dataset": "shapes",
                "model": model,
                "arch": "resnet",
                "regularizer": model.split("_")[1],
                "method": method,
                "noise": noise,
                "level": level,
                "measure": "ssim",
                "consistency": c,
                "responsiveness": r,
                "robustness": 2 * c * r / (c + r),
            }
        )
    return pd.DataFrame(rows)


def test_summary_table_shape_order_and_cells():
    robust = robust_table()
    out = tables.summary_table(robust, measure="ssim")
    assert list(out.columns) == ["dataset", "model", "method", "gaussian", "jpeg"]
    assert out.shape == (6, 5)
    assert list(out["method"][:3]) == ["eigencam", "gradcam", "hirescam"]
    for _, row in out.iterrows():
        for noise in ("gaussian", "jpeg"):
            src = robust.query(
                "model == @row.model and method == @row.method and noise == @noise"
                " and level == 'all'"
            ).squeeze()
            m = CELL.match(row[noise])
            assert m, row[noise]
            assert [float(g) for g in m.groups()] == pytest.approx(
                [src["robustness"], src["consistency"], src["responsiveness"]], abs=0.005
            )


def test_the_lead_summary_puts_the_papers_rm_over_rbo_first():
    ssim = robust_table()
    paper = robust_table(seed=1).assign(measure="rbo")
    paper["rm"] = paper["consistency"] * paper["responsiveness"]
    robust = pd.concat([ssim, paper], ignore_index=True)
    out = tables.lead_summary(robust, "ssim")
    assert list(out.columns) == [
        "dataset", "model", "method", "RM rbo gaussian", "RM rbo jpeg", "H ssim gaussian",
        "H ssim jpeg",
    ]  # fmt: skip
    row = out.iloc[0]  # resnet_erm, eigencam
    src = paper.query("model == 'resnet_erm' and method == 'eigencam' and noise == 'jpeg'")
    src = src[src["level"] == "all"].squeeze()
    expected = [src["rm"], src["consistency"], src["responsiveness"]]
    assert [float(g) for g in CELL.match(row["RM rbo jpeg"]).groups()] == pytest.approx(
        expected, abs=0.005
    )
    assert row["H ssim jpeg"] == tables.summary_table(ssim, "ssim").iloc[0]["jpeg"]
    caption = tables.summary_caption(out, "ssim")
    assert caption.startswith("RM rbo columns: the paper's metric, RM = C x R")
    assert "H ssim columns: this project's extension, H = 2CR/(C+R) over ssim" in caption
    # Without rbo: the H columns alone, and the caption says the paper's metric is missing.
    alone = tables.lead_summary(ssim, "ssim")
    assert [c for c in alone.columns if c.startswith("RM")] == []
    assert "was not computed: rbo is not in metrics.measures" in tables.summary_caption(
        alone, "ssim"
    )


def test_summary_gains_the_quality_columns_of_each_model_and_method():
    summary = tables.summary_table(robust_table(), measure="ssim")
    quality = pd.DataFrame(
        [
            ("shapes", model, method, metric, value)
            for model in ("resnet_erm", "resnet_vat")
            for method, value in (("gradcam", 0.12345), ("eigencam", np.nan))
            for metric in ("avg_sensitivity", "road_combined", "road_morf")
        ],
        columns=["dataset", "model", "method", "metric", "mean"],
    )
    out = tables.with_quality(summary, quality)
    assert list(out.columns) == [*summary.columns, "avg_sensitivity", "road_combined"]
    by_method = out.set_index(["model", "method"])
    assert by_method.loc[("resnet_vat", "gradcam"), "road_combined"] == "0.123"
    assert by_method.loc[("resnet_erm", "eigencam"), "avg_sensitivity"] == "n/a"  # NaN mean
    assert by_method.loc[("resnet_erm", "hirescam"), "avg_sensitivity"] == "n/a"  # no row
    # faithfulness off: only the sensitivity column
    sens_only = tables.with_quality(summary, quality[quality.metric != "road_combined"])
    assert list(sens_only.columns) == [*summary.columns, "avg_sensitivity"]
    with pytest.raises(ValueError, match="quality table"):
        tables.with_quality(summary, quality.drop(columns="mean"))


def test_undefined_values_and_missing_noise_read_na():
    robust = robust_table()
    robust.loc[
        (robust["model"] == "resnet_vat") & (robust["method"] == "gradcam"), "responsiveness"
    ] = np.nan
    robust.loc[
        (robust["model"] == "resnet_vat") & (robust["method"] == "gradcam"), "robustness"
    ] = np.nan
    robust = robust[
        ~(
            (robust["model"] == "resnet_erm")
            & (robust["noise"] == "jpeg")
            & (robust["method"] == "eigencam")
        )
    ]
    out = tables.summary_table(robust, "ssim").set_index(["model", "method"])
    assert re.match(r"^n/a \(\d\.\d\d/n/a\)$", out.loc[("resnet_vat", "gradcam"), "jpeg"])
    assert out.loc[("resnet_erm", "eigencam"), "jpeg"] == "n/a"
    assert tables.format_cell(0.8149, 0.9, 0.75, decimals=3) == "0.815 (0.900/0.750)"


def test_summary_table_errors_name_the_problem():
    robust = robust_table()
    with pytest.raises(ValueError, match="measure 'pearson'.*ssim"):
        tables.summary_table(robust, measure="pearson")
    with pytest.raises(ValueError, match="lacks columns: robustness"):
        tables.summary_table(robust.drop(columns="robustness"), "ssim")
    with pytest.raises(ValueError, match="duplicate robustness rows"):
        tables.summary_table(pd.concat([robust, robust]), "ssim")


def _parse_markdown(text: str) -> list[list[str]]:
    lines = text.strip().split("\n")
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_markdown_round_trips_cells_and_aligns_numbers():
    df = pd.DataFrame(
        {
            "method": ["grad|cam", "eigencam"],
            "robustness": [0.81234, np.nan],
            "n": [12, 3],
            "ok": [True, False],
        }
    )
    text = tables.to_markdown(df)
    rows = _parse_markdown(text)
    assert rows[0] == ["method", "robustness", "n", "ok"]
    assert rows[1] == ["---", "---:", "---:", "---"]
    assert rows[2] == ["grad\\|cam", "0.8123", "12", "True"]
    assert rows[3] == ["eigencam", "", "3", "False"]
    assert len(rows) == 4 and text.endswith("\n")


def test_markdown_of_the_summary_table_and_of_an_index():
    out = tables.summary_table(robust_table(), "ssim")
    rows = _parse_markdown(tables.to_markdown(out))
    assert len(rows) == 2 + len(out)
    assert rows[2] == [str(v) for v in out.iloc[0]]
    indexed = tables.to_markdown(out.set_index(["dataset", "model", "method"]))
    assert _parse_markdown(indexed) == rows
    with pytest.raises(TypeError, match="DataFrame"):
        tables.to_markdown([1, 2])


def _per_image_with_seeds() -> pd.DataFrame:
    """Two regularisers × three seeds, four images, one noise level; known correct counts."""
    rows = []
    correct = {("erm", "0"): 4, ("erm", "1"): 3, ("erm", "2"): 2, ("vat", "0"): 1}
    correct |= {("vat", "1"): 1, ("vat", "2"): 1}
    for (reg, seed), k in correct.items():
        for image in range(4):
            for method in ("gradcam", "eigencam"):  # predictions repeat per method
                rows.append(
                    {"dataset": "shapes", "model": f"cnn13-{reg}-s{seed}", "arch": "cnn13",
                     "regularizer": reg, "noise": "gaussian", "level": "3", "method": method,
                     "image": image, "label": 1, "pred_clean": 1,
                     "pred_noisy": 1 if image < k else 0}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_accuracy_mean_and_sd_over_training_seeds():
    per_image = _per_image_with_seeds()
    clean = {("shapes", m): 0.9 + 0.01 * i for i, m in enumerate(per_image["model"].unique())}
    table = accuracy.accuracy_table(per_image, clean)
    assert list(table.columns) == list(accuracy.SEED_COLUMNS)
    models = table[table["seed"] != "all"]
    assert len(models) == 6 * 2 and (models["n_seeds"] == 1).all()
    assert models["accuracy_sd"].isna().all()  # one model: no spread
    noisy = models[models["level"] == "3"].set_index("model")["accuracy"]
    assert noisy["cnn13-erm-s1"] == 0.75 and noisy["cnn13-vat-s2"] == 0.25
    pooled = table[table["seed"] == "all"].set_index(["model", "level"])
    assert pooled.index.tolist() == [(m, lv) for m in ("cnn13-erm", "cnn13-vat") for lv in "03"]
    erm = pooled.loc[("cnn13-erm", "3")]
    assert erm["accuracy"] == pytest.approx(0.75)  # (1 + 0.75 + 0.5) / 3
    assert erm["accuracy_sd"] == pytest.approx(np.std([1, 0.75, 0.5], ddof=1))
    assert erm["n"] == 12 and erm["n_seeds"] == 3
    assert pooled.loc[("cnn13-vat", "3"), "accuracy_sd"] == 0.0
    assert pooled.loc[("cnn13-vat", "0"), "accuracy"] == 1.0
    assert erm["test_accuracy"] == pytest.approx(0.91)
    assert erm["test_accuracy_sd"] == pytest.approx(0.01)


def test_accuracy_without_seeds_keeps_its_columns_and_a_mixed_naming_fails():
    per_image = _per_image_with_seeds()
    one = per_image[per_image["model"].str.endswith("-s0")]
    one = one.assign(model=one["model"].str.removesuffix("-s0"))
    table = accuracy.accuracy_table(one, {("shapes", m): 0.9 for m in one["model"].unique()})
    assert list(table.columns) == [
        *accuracy.KEYS, "level", "accuracy", "n", "test_accuracy", "classes"
    ]  # fmt: skip
    assert set(table["classes"]) == {"identity"}  # trained models learned the dataset's classes
    mapped = {("shapes", one["model"].iloc[0]): "file: map.json"}
    named = accuracy.accuracy_table(
        one, {("shapes", m): 0.9 for m in one["model"].unique()}, mapped
    )
    assert set(named.loc[named["model"] == one["model"].iloc[0], "classes"]) == {"file: map.json"}
    assert len(table) == 2 * 2
    mixed = pd.concat([one, per_image[per_image["model"] == "cnn13-erm-s1"]])
    clean = {("shapes", m): 0.9 for m in mixed["model"].unique()}
    with pytest.raises(ValueError, match="model 'cnn13-erm' has no '-s<seed>' suffix"):
        accuracy.accuracy_table(mixed, clean)
    assert accuracy.model_seed("vgg11_bn-lvat_glow-s12") == "12"
    assert accuracy.model_seed("vgg11_bn-lvat_glow") is None
    assert accuracy.model_seed("my_vit") == "0"  # a config `models` entry: trained once, elsewhere


def test_summary_carries_the_placebo_marker_and_same_as_per_model():
    robust = robust_table()
    robust["placebo"] = robust["method"] == "eigencam"  # stands in for a placebo here
    robust["same_as"] = np.where(
        (robust["method"] == "hirescam") & (robust["model"] == "resnet_erm"), "gradcam", ""
    )
    # as read back from CSV: empty strings come back as NaN
    robust.loc[robust["same_as"] == "", "same_as"] = np.nan
    out = tables.with_method_notes(tables.summary_table(robust, measure="ssim"), robust)
    assert list(out.columns[:5]) == ["dataset", "model", "method", "placebo", "same_as"]
    rows = out.set_index(["model", "method"])
    assert rows["placebo"].to_dict() == {
        (m, method): method == "eigencam"
        for m in ("resnet_erm", "resnet_vat")
        for method in ("eigencam", "gradcam", "hirescam")
    }
    assert rows.loc[("resnet_erm", "hirescam"), "same_as"] == "gradcam"
    assert rows.loc[("resnet_vat", "hirescam"), "same_as"] == ""
    assert "| resnet_erm | hirescam | False | gradcam |" in tables.to_markdown(out)
    plain = tables.summary_table(robust_table(), measure="ssim")
    pd.testing.assert_frame_equal(tables.with_method_notes(plain, robust_table()), plain)
