"""Rank-based test families against direct scipy/statsmodels calls on the same data."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from camrobust.stats import (
    flip_tests,
    method_ranks,
    method_tests,
    noise_tests,
    regularizer_tests,
    run_stats,
)
from camrobust.stats.synthetic import synthetic_per_image

METHODS = ("gradcam", "gradcampp", "xgradcam", "eigencam")


def _kept_wide(df, keys: dict, column: str, measure: str = "ssim") -> pd.DataFrame:
    """The oracle's blocks: kept rows of a stratum as images × groups, complete rows only."""
    sub = df[df["kept"]]
    for k, v in keys.items():
        sub = sub[sub[k].astype(str) == v]
    return sub.pivot(index="image", columns=column, values=measure).dropna().sort_index(axis=1)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_per_image(
        seed=1, n_images=25, regularizers=("erm", "vat"), measures=("ssim", "pearson")
    )


@pytest.fixture(scope="module")
def methods_frame(table) -> pd.DataFrame:
    return method_tests(table, measures=("ssim", "pearson"))


def test_friedman_and_kendalls_w_match_scipy(table, methods_frame):
    keys = {"model": "resnet_vat", "noise": "jpeg", "level": "3"}
    wide = _kept_wide(table, keys, "method")
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    row = methods_frame.query(
        "model == 'resnet_vat' and noise == 'jpeg' and level == '3' and measure == 'ssim'"
        " and test == 'friedman'"
    ).squeeze()
    n, k = wide.shape
    assert row["n"] == n and n >= 10
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert row["effect_size"] == pytest.approx(ref.statistic / (n * (k - 1)), rel=1e-12)
    assert row["effect_size_name"] == "kendalls_w" and row["note"] == ""


def test_pairwise_wilcoxon_rank_biserial_and_holm_match_statsmodels(table, methods_frame):
    keys = {"model": "resnet_erm", "noise": "gaussian", "level": "1"}
    wide = _kept_wide(table, keys, "method")
    rows = methods_frame.query(
        "model == 'resnet_erm' and noise == 'gaussian' and level == '1' and measure == 'ssim'"
        " and test == 'wilcoxon'"
    )
    assert len(rows) == 6
    p_ref = []
    for (_, row), (a, b) in zip(
        rows.iterrows(), itertools.combinations(wide.columns, 2), strict=True
    ):
        assert (row["group_a"], row["group_b"]) == (a, b)
        ref = sps.wilcoxon(wide[a], wide[b])
        assert row["statistic"] == pytest.approx(ref.statistic)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
        # R+ from the one-sided statistic; r = 2 R+ / (n'(n'+1)/2) - 1 over nonzero differences
        r_plus = sps.wilcoxon(wide[a], wide[b], alternative="greater").statistic
        nz = int((wide[a] != wide[b]).sum())
        assert row["effect_size"] == pytest.approx(2 * r_plus / (nz * (nz + 1) / 2) - 1)
        p_ref.append(ref.pvalue)
    holm = multipletests(p_ref, alpha=0.05, method="holm")[1]
    np.testing.assert_allclose(rows["p_adjusted"], holm, rtol=1e-12)
    assert (rows["significant"].to_numpy(dtype=bool) == (holm < 0.05)).all()


def test_friedman_adjusted_across_strata_of_a_measure(methods_frame):
    omni = methods_frame[
        (methods_frame["test"] == "friedman") & (methods_frame["measure"] == "ssim")
    ]
    ok = omni["p_value"].notna()
    ref = multipletests(omni.loc[ok, "p_value"], method="holm")[1]
    np.testing.assert_allclose(omni.loc[ok, "p_adjusted"], ref, rtol=1e-12)


def test_pooled_levels_use_level_image_blocks(table, methods_frame):
    sub = table[table["kept"] & (table["model"] == "resnet_erm") & (table["noise"] == "jpeg")]
    wide = sub.pivot(index=["level", "image"], columns="method", values="pearson").dropna()
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    row = methods_frame.query(
        "model == 'resnet_erm' and noise == 'jpeg' and level == 'all' and measure == 'pearson'"
        " and test == 'friedman'"
    ).squeeze()
    assert row["n"] == len(wide)
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12)


def test_planted_method_effect_is_detected_and_ranked_first():
    df = synthetic_per_image(
        seed=2, n_images=30, regularizers=("erm",), method_effect={"eigencam": 0.08}
    )
    out = method_tests(df)
    omni = out[out["test"] == "friedman"]
    assert omni["significant"].all()
    planted = out[(out["test"] == "wilcoxon") & (out["group_a"] == "eigencam")]
    assert planted["significant"].all() and (planted["effect_size"] > 0.5).all()
    ranks = method_ranks(df)
    pooled = ranks[(ranks["noise"] == "all") & (ranks["level"] == "all")]
    assert pooled.sort_values("avg_rank")["method"].iloc[0] == "eigencam"
    best, rest = pooled["avg_rank"].min(), pooled["avg_rank"].nsmallest(2).iloc[1]
    assert rest - best > pooled["cd"].iloc[0]  # outside the critical difference


def test_null_tables_keep_the_friedman_false_positive_rate_near_alpha():
    alpha = 0.05
    # 200 independent null strata (one per noise name), one call through the whole pipeline
    noises = tuple(f"null{i}" for i in range(200))
    null = synthetic_per_image(
        seed=8,
        n_images=12,
        methods=METHODS[:3],
        regularizers=("erm",),
        noises=noises,
        levels=("1",),
        keep_rate=1.0,
    )
    out = method_tests(null, alpha=alpha)
    p = out.loc[(out["test"] == "friedman") & (out["level"] == "1"), "p_value"]
    assert len(p) == 200 and p.notna().all()
    rate = float((p < alpha).mean())
    assert 0.005 <= rate <= 2 * alpha


def test_average_ranks_and_critical_difference(table):
    ranks = method_ranks(table, alpha=0.05)
    sel = ranks.query("model == 'resnet_erm' and noise == 'gaussian' and level == '3'")
    wide = _kept_wide(table, {"model": "resnet_erm", "noise": "gaussian", "level": "3"}, "method")
    expect = sps.rankdata(-wide.to_numpy(), axis=1).mean(axis=0)
    np.testing.assert_allclose(sel.set_index("method").loc[wide.columns, "avg_rank"], expect)
    n, k = wide.shape
    q = sps.studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2)
    assert sel["cd"].iloc[0] == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * n)))
    # the means of the ranks of k methods always sum to k(k+1)/2
    assert sel["avg_rank"].sum() == pytest.approx(k * (k + 1) / 2)


def test_too_few_pairs_gives_note_rows_not_gaps():
    df = synthetic_per_image(seed=3, n_images=6, regularizers=("erm",), noises=("g",))
    out = method_tests(df, min_pairs=10)
    # per stratum: one Friedman + 6 pairs, for levels 1, 3 and pooled (at most 12 blocks)
    assert len(out) == 3 * 7
    few = out[out["level"] != "all"]
    assert few["p_value"].isna().all() and few["note"].str.contains("min_pairs=10").all()
    assert few["significant"].isna().all()


def test_identical_values_and_two_groups_are_reported_with_reasons():
    df = synthetic_per_image(
        seed=4,
        n_images=12,
        methods=("a", "b", "c"),
        regularizers=("erm",),
        noises=("g",),
        levels=("1",),
        keep_rate=1.0,
    )
    df["ssim"] = 0.5
    out = method_tests(df)
    fried = out[(out["test"] == "friedman") & (out["level"] == "1")].squeeze()
    assert np.isnan(fried["p_value"]) and "tied" in fried["note"]
    assert out.loc[out["test"] == "wilcoxon", "note"].str.contains("zero").all()
    two = method_tests(df[df["method"] != "c"].assign(ssim=np.linspace(0, 1, 24)))
    fried2 = two[(two["test"] == "friedman") & (two["level"] == "1")].squeeze()
    assert np.isnan(fried2["p_value"]) and "at least 3 groups" in fried2["note"]
    wil = two[(two["test"] == "wilcoxon") & (two["level"] == "1")].squeeze()
    assert np.isfinite(wil["p_value"])


def test_nan_similarities_are_counted_in_the_note(table):
    df = table.copy()
    df.loc[df.index[:5], "ssim"] = np.nan
    out = method_tests(df)
    assert out["note"].str.contains("NaN similarities excluded").any()


def test_regularizer_friedman_matches_scipy():
    df = synthetic_per_image(
        seed=5,
        n_images=60,
        regularizers=("erm", "vat", "lvat_vae"),
        methods=("gradcam",),
        regularizer_effect={"vat": 0.08},
    )
    out = regularizer_tests(df)
    sub = df[df["kept"] & (df["noise"] == "gaussian") & (df["level"] == "1")]
    wide = (
        sub.pivot(index="image", columns="regularizer", values="ssim").dropna().sort_index(axis=1)
    )
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    row = out.query("noise == 'gaussian' and level == '1' and test == 'friedman'").squeeze()
    assert row["arch"] == "resnet" and row["method"] == "gradcam" and row["n"] == len(wide)
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    vat = out[(out["test"] == "wilcoxon") & (out["level"] == "all")]
    vat = vat[(vat["group_a"] == "vat") | (vat["group_b"] == "vat")]
    assert vat["significant"].all()


def test_flip_mann_whitney_and_auroc_match_oracles(table):
    out = flip_tests(table, min_pairs=5)
    sub = table[
        (table["model"] == "resnet_erm")
        & (table["method"] == "gradcam")
        & (table["noise"] == "jpeg")
    ]
    kept = sub.loc[sub["kept"], "ssim"].to_numpy()
    flipped = sub.loc[~sub["kept"], "ssim"].to_numpy()
    ref = sps.mannwhitneyu(kept, flipped, alternative="two-sided")
    row = out.query(
        "model == 'resnet_erm' and method == 'gradcam' and noise == 'jpeg' and measure == 'ssim'"
    ).squeeze()
    assert row["statistic"] == pytest.approx(ref.statistic)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    brute = np.mean((kept[:, None] > flipped[None, :]) + 0.5 * (kept[:, None] == flipped[None, :]))
    assert row["effect_size"] == pytest.approx(brute)
    assert row["effect_size"] > 0.9  # flipped pairs were planted 0.2 less similar
    assert row["n"] == kept.size + flipped.size and row["level"] == "all"
    ref_adj = multipletests(out.loc[out["measure"] == "ssim", "p_value"], method="holm")[1]
    np.testing.assert_allclose(out.loc[out["measure"] == "ssim", "p_adjusted"], ref_adj)
    few = flip_tests(table, min_pairs=1000)
    assert few["p_value"].isna().all() and few["note"].str.contains("min_pairs=1000").all()


def test_noise_kruskal_pairwise_and_excluded_groups():
    df = synthetic_per_image(
        seed=6,
        n_images=20,
        regularizers=("erm",),
        methods=("gradcam",),
        noises=("gaussian", "jpeg", "shot"),
        noise_effect={"shot": -0.1},
    )
    out = noise_tests(df)
    kept = df[df["kept"]]
    samples = [
        kept.loc[kept["noise"] == n, "ssim"].to_numpy() for n in ("gaussian", "jpeg", "shot")
    ]
    ref = sps.kruskal(*samples)
    omni = out[out["test"] == "kruskal"].squeeze()
    assert omni["statistic"] == pytest.approx(ref.statistic)
    assert omni["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    n = sum(s.size for s in samples)
    assert omni["effect_size"] == pytest.approx(ref.statistic / (n - 1)) and omni["n"] == n
    pairs = out[out["test"] == "mann_whitney"]
    p_ref = []
    for (_, row), (i, j) in zip(pairs.iterrows(), itertools.combinations(range(3), 2), strict=True):
        mw = sps.mannwhitneyu(samples[i], samples[j], alternative="two-sided")
        assert row["statistic"] == pytest.approx(mw.statistic)
        assert row["effect_size"] == pytest.approx(
            2 * mw.statistic / (samples[i].size * samples[j].size) - 1
        )
        p_ref.append(mw.pvalue)
    np.testing.assert_allclose(pairs["p_adjusted"], multipletests(p_ref, method="holm")[1])
    shot = pairs[pairs["group_b"] == "shot"]
    assert shot["significant"].all() and (shot["effect_size"] > 0).all()
    # a noise with too few kept pairs is left out of Kruskal-Wallis and named
    small = df[~((df["noise"] == "jpeg") & (df["image"] >= 5))]
    out2 = noise_tests(small)
    omni2 = out2[out2["test"] == "kruskal"].squeeze()
    assert "jpeg" in omni2["note"] and np.isfinite(omni2["p_value"])
    assert omni2["statistic"] == pytest.approx(sps.kruskal(samples[0], samples[2]).statistic)


def test_bad_arguments_raise_clear_errors(table):
    with pytest.raises(ValueError, match="holm.*fdr_bh"):
        method_tests(table, correction="holmes")
    with pytest.raises(ValueError, match="alpha"):
        flip_tests(table, alpha=1.5)
    with pytest.raises(ValueError, match="lacks columns: kept"):
        noise_tests(table.drop(columns="kept"))
    with pytest.raises(ValueError, match="lacks columns: iou_top20"):
        method_tests(table, measures=("iou_top20",))
    with pytest.raises(ValueError, match="min_pairs"):
        method_tests(table, min_pairs=1)
    dup = pd.concat([table, table.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate per-image rows"):
        method_tests(dup)


def test_other_corrections_match_multipletests(table):
    out = method_tests(table, correction="fdr_bh")
    rows = out.query(
        "model == 'resnet_vat' and noise == 'jpeg' and level == '1' and measure == 'ssim'"
        " and test == 'wilcoxon'"
    )
    ref = multipletests(rows["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(rows["p_adjusted"], ref, rtol=1e-12)


def test_run_stats_gives_every_frame_and_is_deterministic():
    df = synthetic_per_image(
        seed=7, n_images=12, methods=METHODS[:3], regularizers=("erm", "vat"), noises=("g",)
    )
    a = run_stats(df, min_pairs=5)
    b = run_stats(df, min_pairs=5)
    assert list(a) == ["methods", "method_ranks", "regularizers", "mixedlm", "flips", "noise"]
    for name in a:
        assert len(a[name]) > 0
        pd.testing.assert_frame_equal(a[name], b[name])
    for name in ("methods", "regularizers", "mixedlm", "flips", "noise"):
        for col in (
            "test",
            "factor",
            "group_a",
            "group_b",
            "statistic",
            "p_value",
            "p_adjusted",
            "effect_size",
            "effect_size_name",
            "n",
            "note",
            "measure",
        ):
            assert col in a[name].columns, (name, col)
    with pytest.raises(ValueError, match="unknown correction"):
        run_stats(df, correction="nope")
