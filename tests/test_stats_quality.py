"""The CAM-method tests on the quality metrics, against scipy's Friedman and Wilcoxon tests."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from camrobust.quality.sensitivity import SENSITIVITY_METRICS
from camrobust.stats.quality import quality_method_tests

METHODS = ("eigencam", "gradcam", "layercam")
N = 15
OPTIONS = {"alpha": 0.05, "correction": "holm", "correction_scope": "stratum", "min_pairs": 10}


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frames = []
    for shift, method in enumerate(METHODS):
        cols = {m: rng.random(N) + 0.3 * shift for m in (*SENSITIVITY_METRICS, "road_combined")}
        frame = pd.DataFrame({"method": method, "image": np.arange(N), **cols})
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "model", "resnet18-erm-s0")
    table.insert(0, "dataset", "shapes")
    # a zero map that changed (inf) and a degenerate map (NaN): both images leave those blocks
    table.loc[(table.method == "gradcam") & (table.image == 2), "avg_sensitivity"] = np.inf
    table.loc[(table.method == "eigencam") & (table.image == 5), "road_combined"] = np.nan
    return table


def test_quality_method_tests_equal_scipy_and_leave_out_non_finite_images():
    table = _table()
    out = quality_method_tests(table, OPTIONS)
    metrics = [*SENSITIVITY_METRICS, "road_combined"]
    assert len(out) == len(metrics) * (1 + comb(len(METHODS), 2))
    assert set(out["measure"]) == set(metrics)
    for metric, dropped in (
        ("avg_sensitivity", 2),
        ("road_combined", 5),
        ("local_lipschitz", None),
    ):
        rows = out[out["measure"] == metric]
        wide = table.pivot(index="image", columns="method", values=metric)
        if dropped is not None:
            wide = wide.drop(index=dropped)
            assert rows["note"].str.contains("1 non-finite scores excluded").all()
        friedman = rows[rows["test"] == "friedman"].iloc[0]
        expected = stats.friedmanchisquare(*wide.to_numpy().T)
        assert friedman["n"] == len(wide)
        assert friedman["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert friedman["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
        pair = rows[(rows["group_a"] == "eigencam") & (rows["group_b"] == "layercam")].iloc[0]
        wilcoxon = stats.wilcoxon(wide["eigencam"], wide["layercam"])
        assert pair["p_value"] == pytest.approx(wilcoxon.pvalue, rel=1e-12)
        assert pair["effect_size"] < 0  # eigencam scores lower than layercam (shifted by 0.6)
    assert (out["correction"] == "holm").all()


def test_images_a_family_did_not_measure_are_no_blocks_and_no_note():
    table = _table()
    table["n_changed"] = pd.array(np.where(table["image"] < 12, 0, pd.NA), dtype="Int64")
    out = quality_method_tests(table, OPTIONS)
    sens = out[out["measure"] == "local_lipschitz"]
    assert (sens["n"] == 12).all() and (sens["note"].fillna("") == "").all()
    assert (out.loc[out["measure"] == "road_combined", "n"] == N - 1).all()  # one NaN image


def test_quality_method_tests_reject_a_table_without_metrics():
    with pytest.raises(ValueError, match="no sensitivity/faithfulness column"):
        quality_method_tests(_table()[["dataset", "model", "method", "image"]], OPTIONS)
    with pytest.raises(ValueError, match="stats.min_pairs"):
        quality_method_tests(_table(), {**OPTIONS, "min_pairs": 1})
