"""The per-image table and the aggregated robustness statistics (docs/metric.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import mannwhitneyu, rankdata

from camrobust.metrics import (
    KEY_COLUMNS,
    MASK_COLUMNS,
    MEASURES,
    OUTPUT_COLUMNS,
    ROW_COLUMNS,
    aggregate,
    auroc,
    per_image_table,
)
from camrobust.metrics.bootstrap import percentile_interval, resample_counts
from camrobust.metrics.measures import average_ranks
from camrobust.metrics.robustness import group_rng

KEYS = {
    "dataset": "shapes",
    "model": "resnet18-erm-s0",
    "arch": "resnet18",
    "regularizer": "erm",
    "seed": "0",
    "noise": "gaussian",
}


def hand_table(scores: dict[str, list[float]], kept: dict[str, list[bool]]) -> pd.DataFrame:
    """A per-image table with given ssim scores and kept flags per level, one method."""
    frames = []
    for level, s in scores.items():
        frames.append(
            pd.DataFrame(
                {
                    **KEYS,
                    "level": level,
                    "method": "gradcam",
                    "image": np.arange(len(s)),
                    "kept": kept[level],
                    "degenerate": False,
                    "ssim": s,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def random_sets(n: int, methods: tuple[str, ...], levels: tuple[str, ...], seed: int = 0):
    rng = np.random.default_rng(seed)
    clean = {
        "maps": {m: rng.random((n, 4, 4)).astype(np.float16) for m in methods},
        "preds": rng.integers(0, 3, n),
    }
    noisy = {}
    for i, level in enumerate(levels, start=1):
        maps = {
            m: (clean["maps"][m] + i * rng.random((n, 4, 4))).astype(np.float16) for m in methods
        }
        flip = rng.random(n) < 0.25 * i
        noisy[level] = {
            "maps": maps,
            "preds": np.where(flip, (clean["preds"] + 1) % 3, clean["preds"]),
        }
    return clean, noisy


def test_hand_made_kept_flipped_split_gives_known_statistics():
    table = hand_table(
        {"1": [0.9, 0.8, 0.7, 0.6, 0.3, 0.7]},
        {"1": [True, True, True, True, False, False]},
    )
    row = aggregate(table, measures=("ssim",), n_boot=200).query("level == '1'").iloc[0]
    assert (row.n_kept, row.n_flipped, row.n_pairs) == (4, 2, 6)
    assert row.flip_rate == pytest.approx(2 / 6)
    assert row.consistency == pytest.approx(0.75)  # mean of 0.9, 0.8, 0.7, 0.6
    assert row.responsiveness == pytest.approx(0.5)  # mean of 1 - 0.3, 1 - 0.7
    assert row.robustness == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert row.rm == pytest.approx(0.75 * 0.5)  # the paper's RM = C x R of the same split
    assert row.rm_lo <= row.rm <= row.rm_hi
    # Kept beat flipped in 4 + 2 of 8 pairs and tie in 1 (0.7 vs 0.7): (6 + 0.5) / 8.
    assert row.auroc == pytest.approx(6.5 / 8)
    assert row.note == ""


def test_pooled_level_pools_pairs_over_levels():
    table = hand_table(
        {"1": [0.9, 0.5, 0.4], "3": [0.6, 0.2, 0.1]},
        {"1": [True, True, False], "3": [True, False, False]},
    )
    out = aggregate(table, measures=("ssim",), n_boot=50)
    assert out["level"].tolist() == ["1", "3", "all"]
    pooled = out.iloc[2]
    assert (pooled.n_kept, pooled.n_flipped, pooled.n_images) == (3, 3, 3)
    assert pooled.consistency == pytest.approx((0.9 + 0.5 + 0.6) / 3)
    assert pooled.responsiveness == pytest.approx((0.6 + 0.8 + 0.9) / 3)


def test_average_ranks_equal_scipy_rankdata_with_ties():
    rng = np.random.default_rng(3)
    for values in (np.round(rng.random(200), 1), rng.random(50), np.zeros(7), np.array([2.0])):
        ranks = average_ranks(torch.from_numpy(values)[None])[0].numpy()
        np.testing.assert_array_equal(ranks, rankdata(values))


def test_auroc_equals_mann_whitney_u():
    rng = np.random.default_rng(7)
    pos = np.round(rng.random(40), 1)  # rounding creates ties
    neg = np.round(rng.random(25) * 0.8, 1)
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
    assert auroc(pos, neg) == pytest.approx(u / (len(pos) * len(neg)))
    assert np.isnan(auroc(pos, []))


def test_aggregate_auroc_equals_mann_whitney_u_per_group():
    rng = np.random.default_rng(8)
    s = np.round(rng.random(60), 2)
    kept = rng.random(60) < 0.6
    row = aggregate(hand_table({"1": s}, {"1": kept}), measures=("ssim",), n_boot=10).iloc[0]
    u = mannwhitneyu(s[kept], s[~kept]).statistic
    assert row.auroc == pytest.approx(u / (kept.sum() * (~kept).sum()))


def test_bootstrap_interval_contains_estimate_and_is_deterministic():
    rng = np.random.default_rng(9)
    table = hand_table({"1": rng.random(80)}, {"1": rng.random(80) < 0.7})
    first = aggregate(table, measures=("ssim",), n_boot=500, seed=3)
    again = aggregate(table, measures=("ssim",), n_boot=500, seed=3)
    other = aggregate(table, measures=("ssim",), n_boot=500, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["consistency_lo"], other["consistency_lo"])
    for stat in ("consistency", "responsiveness", "robustness"):
        assert (first[f"{stat}_lo"] < first[stat]).all(), stat
        assert (first[stat] < first[f"{stat}_hi"]).all(), stat


def test_bootstrap_equals_explicit_resampling_of_images():
    rng = np.random.default_rng(10)
    table = hand_table(
        {"1": rng.random(30), "2": rng.random(30)},
        {"1": rng.random(30) < 0.6, "2": rng.random(30) < 0.4},
    )
    n_boot, ci = 40, 0.9
    row = aggregate(table, measures=("ssim",), n_boot=n_boot, ci=ci, seed=5)
    row = row[row["level"] == "all"].iloc[0]
    # Oracle: draw the same image counts, rebuild each resampled table row by row, take means.
    stratum = tuple(KEYS[k] for k in KEY_COLUMNS)
    counts = resample_counts(30, n_boot, group_rng(5, stratum, "all")).astype(int)
    reps = []
    for c in counts:
        picked = table.loc[np.repeat(table.index.to_numpy(), c[table["image"].to_numpy()])]
        kept = picked[picked["kept"]]["ssim"]
        flipped = 1 - picked[~picked["kept"]]["ssim"]
        c_r = [kept.mean() if len(kept) else np.nan, flipped.mean() if len(flipped) else np.nan]
        reps.append([*c_r, c_r[0] * c_r[1]])  # C, R and RM = C x R of the same resample
    tails = [(1 - ci) / 2, (1 + ci) / 2]
    for col, stat in enumerate(("consistency", "responsiveness", "rm")):
        lo, hi = np.nanquantile(np.array(reps)[:, col], tails)
        assert row[f"{stat}_lo"] == pytest.approx(lo), stat
        assert row[f"{stat}_hi"] == pytest.approx(hi), stat
    assert row.rm == pytest.approx(row.consistency * row.responsiveness)


def test_consistency_without_degenerate_pairs():
    table = hand_table({"1": [1.0, 1.0, 0.6, 0.4, 0.2]}, {"1": [True, True, True, True, False]})
    table["degenerate"] = [True, True, False, False, True]  # two constant-map pairs score 1
    row = aggregate(table, measures=("ssim",), n_boot=200).iloc[0]
    assert row.consistency == pytest.approx((1.0 + 1.0 + 0.6 + 0.4) / 4)
    assert row.consistency_nondegenerate == pytest.approx((0.6 + 0.4) / 2)
    assert row.consistency_nondegenerate_lo <= 0.5 <= row.consistency_nondegenerate_hi
    assert row.n_degenerate == 3 and row.note == ""
    every = aggregate(table.assign(degenerate=True), measures=("ssim",), n_boot=10).iloc[0]
    assert np.isnan(every.consistency_nondegenerate) and every.consistency == pytest.approx(0.75)
    assert "every kept pair degenerate" in every.note


def test_bootstrap_reports_the_fraction_of_resamples_without_flipped_pairs():
    # 1 flipped pair among 8 images: a resample misses it with probability (7/8)^8 = 0.344.
    table = hand_table({"1": np.linspace(0.2, 0.9, 8)}, {"1": [False] + [True] * 7})
    n_boot = 4000
    row = aggregate(table, measures=("ssim",), n_boot=n_boot, seed=2).iloc[0]
    counts = resample_counts(8, n_boot, group_rng(2, tuple(KEYS[k] for k in KEY_COLUMNS), "1"))
    assert row.boot_dropped == (counts[:, 0] == 0).mean()  # exactly the resamples without it
    assert row.boot_dropped == pytest.approx((7 / 8) ** 8, abs=3 * np.sqrt(0.344 * 0.656 / n_boot))
    full = aggregate(hand_table({"1": [0.9, 0.1]}, {"1": [True, False]}), measures=("ssim",))
    assert 0 < full["boot_dropped"].iloc[0] < 1  # 2 images: half the resamples lack one kind
    assert np.isnan(aggregate(table, measures=("ssim",), n_boot=0)["boot_dropped"].iloc[0])


def test_pooled_auroc_is_also_reported_within_levels():
    # Kept and flipped alike within each level; flips mostly at the level where all pairs are
    # less similar. Raw pooled AUROC is high, the level-adjusted one is the per-level AUROCs'
    # mean weighted by their comparisons.
    rng = np.random.default_rng(12)
    s1, s5 = rng.uniform(0.8, 1.0, 60), rng.uniform(0.4, 0.6, 60)
    k1, k5 = rng.random(60) >= 0.1, rng.random(60) >= 0.9
    out = aggregate(hand_table({"1": s1, "5": s5}, {"1": k1, "5": k5}), measures=("ssim",))
    by = out.set_index("level")
    w = [k1.sum() * (~k1).sum(), k5.sum() * (~k5).sum()]
    a = [mannwhitneyu(s[k], s[~k]).statistic / n for s, k, n in ((s1, k1, w[0]), (s5, k5, w[1]))]
    assert by.loc["all", "auroc_level_adjusted"] == pytest.approx(np.average(a, weights=w))
    assert by.loc["1", "auroc_level_adjusted"] == pytest.approx(by.loc["1", "auroc"])
    assert by.loc["all", "auroc"] > 0.8 and abs(by.loc["all", "auroc_level_adjusted"] - 0.5) < 0.15


def test_percentile_interval_equals_numpy_quantiles():
    reps = np.random.default_rng(11).random((200, 3))
    reps[:50, 1] = np.nan
    lo, hi = percentile_interval(reps, 0.95)
    np.testing.assert_allclose(
        lo,
        [
            np.quantile(reps[:, 0], 0.025),
            np.quantile(reps[50:, 1], 0.025),
            np.quantile(reps[:, 2], 0.025),
        ],
    )
    np.testing.assert_allclose(hi[2], np.quantile(reps[:, 2], 0.975))


def test_no_flipped_pairs_give_nan_with_a_note():
    table = hand_table({"1": [0.9, 0.8, 0.7]}, {"1": [True, True, True]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = aggregate(table, measures=("ssim",), n_boot=20).iloc[0]
    assert (row.n_kept, row.n_flipped, row.flip_rate) == (3, 0, 0.0)
    assert row.consistency == pytest.approx(0.8)
    for col in ("responsiveness", "responsiveness_lo", "robustness", "robustness_hi", "rm",
                "rm_lo", "rm_hi", "auroc"):  # fmt: skip
        assert np.isnan(row[col]), col
    assert "no flipped pairs: responsiveness, robustness, rm and auroc undefined" in row.note


def test_no_kept_pairs_give_nan_consistency_with_a_note():
    table = hand_table({"1": [0.1, 0.2]}, {"1": [False, False]})
    row = aggregate(table, measures=("ssim",), n_boot=20).iloc[0]
    assert np.isnan(row.consistency) and np.isnan(row.robustness) and np.isnan(row.rm)
    assert row.responsiveness == pytest.approx(0.85)
    assert "no kept pairs" in row.note


def test_aggregate_rejects_bad_tables():
    table = hand_table({"1": [0.9, 0.1]}, {"1": [True, False]})
    with pytest.raises(ValueError, match="lacks columns"):
        aggregate(table, measures=("pearson",))
    with pytest.raises(ValueError, match="repeated rows"):
        aggregate(pd.concat([table, table]), measures=("ssim",))
    bad = table.assign(ssim=[np.nan, 0.1])
    with pytest.raises(ValueError, match="'ssim'"):
        aggregate(bad, measures=("ssim",))
    with pytest.raises(ValueError, match="n_boot"):
        aggregate(table, measures=("ssim",), n_boot=-1)


def test_zero_resamples_give_estimates_without_intervals():
    table = hand_table({"1": [0.9, 0.7, 0.2]}, {"1": [True, True, False]})
    row = aggregate(table, measures=("ssim",), n_boot=0).iloc[0]
    assert row.consistency == pytest.approx(0.8) and row.responsiveness == pytest.approx(0.8)
    assert np.isnan(row.consistency_lo) and np.isnan(row.robustness_hi)


def test_identical_maps_give_similarity_one_and_consistency_one():
    clean, _ = random_sets(12, ("gradcam", "hirescam"), ())
    noisy = {"1": {"maps": dict(clean["maps"]), "preds": clean["preds"].copy()}}
    table = per_image_table(
        clean, noisy, labels=clean["preds"], masks=None, image_size=(16, 16), keys=KEYS
    )
    assert list(table.columns) == [*ROW_COLUMNS, *MEASURES]
    assert len(table) == 12 * 2
    np.testing.assert_allclose(table[list(MEASURES)].to_numpy(), 1.0, atol=1e-6)
    out = aggregate(table, n_boot=20)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == 2 * 2 * len(MEASURES)  # methods × (level 1, pooled) × measures
    np.testing.assert_allclose(out["consistency"], 1.0, atol=1e-6)
    assert out["note"].str.contains("no flipped pairs").all()


def test_table_rows_columns_and_ranges():
    methods, levels = ("gradcam", "eigencam"), ("1", "3", "5")
    clean, noisy = random_sets(20, methods, levels, seed=1)
    masks = (np.random.default_rng(2).random((20, 8, 8)) < 0.4).astype(np.uint8)
    table = per_image_table(
        clean, noisy, labels=clean["preds"], masks=masks, image_size=(8, 8), keys=KEYS
    )
    assert list(table.columns) == [*ROW_COLUMNS, *MEASURES, *MASK_COLUMNS]
    assert len(table) == 20 * len(methods) * len(levels)
    assert set(table["level"]) == set(levels)
    values = table[[*MEASURES, "mask_energy_clean", "mask_energy_noisy"]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    for level in levels:
        rows = table[(table["level"] == level) & (table["method"] == "gradcam")]
        np.testing.assert_array_equal(rows["pred_noisy"], noisy[level]["preds"])
        np.testing.assert_array_equal(rows["kept"], noisy[level]["preds"] == clean["preds"])


def test_constant_maps_are_degenerate_and_finite():
    clean, noisy = random_sets(6, ("gradcam",), ("1",), seed=3)
    clean["maps"]["gradcam"][0] = 0.0  # all-zero clean map
    noisy["1"]["maps"]["gradcam"][1] = 2.5  # constant noisy map
    noisy["1"]["maps"]["gradcam"][2] = -1.0  # all negative: zero after the ReLU
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = per_image_table(
            clean, noisy, labels=clean["preds"], masks=None, image_size=(8, 8), keys=KEYS
        )
    assert table["degenerate"].tolist() == [True, True, True, False, False, False]
    assert np.isfinite(table[list(MEASURES)].to_numpy()).all()
    out = aggregate(table, n_boot=10)
    assert (out["n_degenerate"] == 3).all()


def test_mask_columns_on_hand_made_maps():
    # Maps already at image size with min 0 and max 1 pass normalisation unchanged.
    maps = np.zeros((2, 4, 4), dtype=np.float32)
    maps[0, 0, 0], maps[0, 3, 3] = 1.0, 0.5  # peak inside the mask, energy 1 of 1.5
    maps[1, 3, 3], maps[1, 0, 1] = 1.0, 0.5  # peak outside, energy 0.5 of 1.5
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[:, :2, :2] = 1
    clean = {"maps": {"gradcam": maps}, "preds": np.array([0, 1])}
    noisy = {"0.0157": {"maps": {"gradcam": maps[::-1].copy()}, "preds": np.array([0, 0])}}
    table = per_image_table(
        clean, noisy, labels=np.array([0, 1]), masks=masks, image_size=(4, 4), keys=KEYS
    )
    np.testing.assert_allclose(table["mask_energy_clean"], [1 / 1.5, 0.5 / 1.5], rtol=1e-6)
    np.testing.assert_allclose(table["mask_energy_noisy"], [0.5 / 1.5, 1 / 1.5], rtol=1e-6)
    assert table["pointing_clean"].tolist() == [True, False]
    assert table["pointing_noisy"].tolist() == [False, True]
    assert table["kept"].tolist() == [True, False]
    assert table["level"].tolist() == ["0.0157", "0.0157"]


def test_mismatched_level_is_an_error_naming_it():
    clean, noisy = random_sets(8, ("gradcam", "hirescam"), ("1", "3"), seed=4)
    args = {"labels": clean["preds"], "masks": None, "image_size": (8, 8), "keys": KEYS}
    short = dict(noisy)
    short["3"] = {
        "maps": {m: v[:5] for m, v in noisy["3"]["maps"].items()},
        "preds": noisy["3"]["preds"][:5],
    }
    with pytest.raises(ValueError, match=r"level '3'.*5 predictions.*8 images"):
        per_image_table(clean, short, **args)
    wrong = dict(noisy)
    wrong["1"] = {
        "maps": {
            "gradcam": noisy["1"]["maps"]["gradcam"],
            "xgradcam": noisy["1"]["maps"]["hirescam"],
        },
        "preds": noisy["1"]["preds"],
    }
    with pytest.raises(
        ValueError, match=r"level '1'.*missing \['hirescam'\], extra \['xgradcam'\]"
    ):
        per_image_table(clean, wrong, **args)
    with pytest.raises(ValueError, match="masks"):
        per_image_table(clean, noisy, **{**args, "masks": np.zeros((8, 4, 4), np.uint8)})
    with pytest.raises(ValueError, match="keys"):
        per_image_table(clean, noisy, **{**args, "keys": {"dataset": "shapes"}})
    with pytest.raises(ValueError, match=r"level '1'.*'gradcam'.*empty"):
        empty = {"maps": {m: v[:, :0] for m, v in noisy["1"]["maps"].items()}}
        per_image_table(clean, {"1": {**empty, "preds": noisy["1"]["preds"]}}, **args)


def test_a_map_that_could_not_be_computed_is_counted_not_an_error():
    """NaN/inf in a map (or the CAM engine's flag) makes that pair degenerate and `nonfinite`,
    scored as the all-zero map it stands for, and counted in the robustness table."""
    clean, noisy = random_sets(8, ("gradcam", "hirescam"), ("1",), seed=4)
    args = {"labels": clean["preds"], "masks": None, "image_size": (8, 8), "keys": KEYS}
    nan_maps = {m: v.copy() for m, v in noisy["1"]["maps"].items()}
    nan_maps["gradcam"][0, 0, 0] = np.nan
    flagged = {"gradcam": np.eye(8, dtype=bool)[3], "hirescam": np.zeros(8, bool)}
    table = per_image_table(
        {**clean, "nonfinite": flagged},
        {"1": {"maps": nan_maps, "preds": noisy["1"]["preds"]}},
        **args,
    )
    bad = table[table["nonfinite"]]
    assert sorted(zip(bad["method"], bad["image"], strict=True)) == [("gradcam", 0), ("gradcam", 3)]
    assert bad["degenerate"].all()
    zeroed = {**nan_maps, "gradcam": nan_maps["gradcam"].copy()}
    zeroed["gradcam"][0] = 0.0
    expected = per_image_table(clean, {"1": {"maps": zeroed, "preds": noisy["1"]["preds"]}}, **args)
    row = (table["method"] == "gradcam") & (table["image"] == 0)
    assert table.loc[row, list(MEASURES)].equals(expected.loc[row, list(MEASURES)])
    robust = aggregate(table, MEASURES, n_boot=0)
    counts = robust.groupby("method")["n_nonfinite"].max().to_dict()
    assert counts == {"gradcam": 2, "hirescam": 0}
    assert (robust["n_degenerate"] >= robust["n_nonfinite"]).all()
