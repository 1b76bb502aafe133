"""Rank-based test families, the model-level regulariser test and its calibration, against direct
scipy/statsmodels calls on the same data."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from camrobust.stats import (
    flip_tests,
    method_ranks,
    method_tests,
    noise_tests,
    prepare_table,
    regularizer_model_tests,
    run_stats,
    stats_options,
)
from camrobust.stats.options import CONFIG_KEYS, CORRECTION_SCOPES, CORRECTIONS
from camrobust.stats.synthetic import synthetic_per_image

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
METHODS = ("gradcam", "gradcampp", "xgradcam", "eigencam")
DEFAULTS = {
    "alpha": 0.05,
    "correction": "holm",
    "correction_scope": "stratum",
    "min_pairs": 10,
    "measures": ["ssim"],
}


def opts(**changes):
    """Validated options: the schema's defaults with `changes`."""
    return stats_options(DEFAULTS | changes)


def run(family, df, **changes):
    """One family on a per-image table, through the stats stage's one table check."""
    options = opts(**changes)
    return family(prepare_table(df, options.measures), options, progress=False)


def _kept_wide(df, keys: dict, column: str, measure: str = "ssim") -> pd.DataFrame:
    """The oracle's blocks: kept rows of a stratum as images × groups, complete rows only."""
    sub = df[df["kept"]]
    for k, v in keys.items():
        sub = sub[sub[k].astype(str) == v]
    return (
        sub.groupby(["image", column])[measure].mean().unstack(column).dropna().sort_index(axis=1)
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_per_image(
        seed=1, n_images=25, regularizers=("erm", "vat"), measures=("ssim", "pearson")
    )


@pytest.fixture(scope="module")
def methods_frame(table) -> pd.DataFrame:
    return run(method_tests, table, measures=["ssim", "pearson"])


def test_schema_and_library_agree_on_the_stats_options():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["stats"]["properties"]
    assert set(schema) == set(CONFIG_KEYS)
    assert tuple(schema["correction"]["enum"]) == CORRECTIONS
    assert tuple(schema["correction_scope"]["enum"]) == CORRECTION_SCOPES
    # DEFAULTS is the schema's but for the measures: the synthetic tables here hold ssim alone
    measures = schema["measures"]["default"]
    assert stats_options({k: v["default"] for k, v in schema.items()}) == opts(measures=measures)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpha": 1.5}, "stats.alpha"),
        ({"correction": "holmes"}, "stats.correction.*holm.*fdr_bh"),
        ({"correction_scope": "global"}, "stats.correction_scope.*stratum, study"),
        ({"min_pairs": 1}, "stats.min_pairs"),
        ({"measures": []}, "stats.measures is empty"),
        ({"extra": 1}, "unknown extra"),
    ],
)
def test_bad_options_raise_one_line_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        stats_options(DEFAULTS | change)
    with pytest.raises(ValueError, match="missing correction_scope"):
        stats_options({k: v for k, v in DEFAULTS.items() if k != "correction_scope"})


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
    assert (rows["correction"] == "holm").all() and (rows["correction_scope"] == "stratum").all()


def test_friedman_adjusted_across_strata_of_a_measure(methods_frame):
    omni = methods_frame[
        (methods_frame["test"] == "friedman") & (methods_frame["measure"] == "ssim")
    ]
    ok = omni["p_value"].notna()
    ref = multipletests(omni.loc[ok, "p_value"], method="holm")[1]
    np.testing.assert_allclose(omni.loc[ok, "p_adjusted"], ref, rtol=1e-12)


def test_pooled_levels_count_each_image_once(table, methods_frame):
    sub = table[(table["model"] == "resnet_erm") & (table["noise"] == "jpeg")]
    # oracle: an image's kept values averaged over its levels, one block per image
    wide = _kept_wide(sub, {}, "method", "pearson")
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    row = methods_frame.query(
        "model == 'resnet_erm' and noise == 'jpeg' and level == 'all' and measure == 'pearson'"
        " and test == 'friedman'"
    ).squeeze()
    assert row["n"] == len(wide) <= sub["image"].nunique()
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)


def test_planted_method_effect_is_detected_and_ranked_first():
    df = synthetic_per_image(
        seed=2, n_images=30, regularizers=("erm",), method_effect={"eigencam": 0.08}
    )
    out = run(method_tests, df)
    omni = out[out["test"] == "friedman"]
    assert omni["significant"].all()
    planted = out[(out["test"] == "wilcoxon") & (out["group_a"] == "eigencam")]
    assert planted["significant"].all() and (planted["effect_size"] > 0.5).all()
    ranks = run(method_ranks, df)
    pooled = ranks[(ranks["noise"] == "all") & (ranks["level"] == "all")]
    assert pooled.sort_values("avg_rank")["method"].iloc[0] == "eigencam"
    assert (pooled["n"] <= 30).all()  # pooled over noises and levels: one block per image
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
    out = run(method_tests, null, alpha=alpha)
    p = out.loc[(out["test"] == "friedman") & (out["level"] == "1"), "p_value"]
    assert len(p) == 200 and p.notna().all()
    rate = float((p < alpha).mean())
    assert 0.005 <= rate <= 2 * alpha


def test_average_ranks_and_critical_difference(table):
    ranks = run(method_ranks, table)
    sel = ranks.query("model == 'resnet_erm' and noise == 'gaussian' and level == '3'")
    wide = _kept_wide(table, {"model": "resnet_erm", "noise": "gaussian", "level": "3"}, "method")
    expect = sps.rankdata(-wide.to_numpy(), axis=1).mean(axis=0)
    np.testing.assert_allclose(sel.set_index("method").loc[wide.columns, "avg_rank"], expect)
    n, k = wide.shape
    q = sps.studentized_range.ppf(0.95, k, np.inf) / np.sqrt(2)
    assert sel["cd"].iloc[0] == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * n)))
    # the means of the ranks of k methods always sum to k(k+1)/2
    assert sel["avg_rank"].sum() == pytest.approx(k * (k + 1) / 2)
    pooled = ranks.query("model == 'resnet_erm' and noise == 'gaussian' and level == 'all'")
    wide = _kept_wide(table, {"model": "resnet_erm", "noise": "gaussian"}, "method")
    expect = sps.rankdata(-wide.to_numpy(), axis=1).mean(axis=0)
    np.testing.assert_allclose(pooled.set_index("method").loc[wide.columns, "avg_rank"], expect)
    assert (pooled["n"] == len(wide)).all()


def test_too_few_pairs_gives_note_rows_not_gaps():
    df = synthetic_per_image(seed=3, n_images=6, regularizers=("erm",), noises=("g",))
    out = run(method_tests, df)
    # per stratum: one Friedman + 6 pairs, for levels 1, 3 and pooled (at most 6 image blocks)
    assert len(out) == 3 * 7
    assert out["p_value"].isna().all() and out["note"].str.contains("min_pairs=10").all()
    assert out["significant"].isna().all()


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
    out = run(method_tests, df)
    fried = out[(out["test"] == "friedman") & (out["level"] == "1")].squeeze()
    assert np.isnan(fried["p_value"]) and "tied" in fried["note"]
    assert out.loc[out["test"] == "wilcoxon", "note"].str.contains("zero").all()
    two = run(method_tests, df[df["method"] != "c"].assign(ssim=np.linspace(0, 1, 24)))
    fried2 = two[(two["test"] == "friedman") & (two["level"] == "1")].squeeze()
    assert np.isnan(fried2["p_value"]) and "at least 3 groups" in fried2["note"]
    wil = two[(two["test"] == "wilcoxon") & (two["level"] == "1")].squeeze()
    assert np.isfinite(wil["p_value"])


def test_nan_similarities_are_counted_in_the_note(table):
    df = table.copy()
    df.loc[df.index[:5], "ssim"] = np.nan
    out = run(method_tests, df)
    assert out["note"].str.contains("5 NaN or degenerate similarities excluded").any()


def _model_means(df: pd.DataFrame, level: str | None) -> pd.DataFrame:
    """Oracle of the unit values: a model's kept-pair mean (pooled: mean of per-level means)."""
    kept = df[df["kept"]]
    keys = ["model", "regularizer", "seed"]
    per_level = kept.groupby([*keys, "level"])["ssim"].mean().reset_index()
    if level is not None:
        per_level = per_level[per_level["level"] == level]
    return per_level.groupby(keys)["ssim"].mean().rename("value").reset_index()


@pytest.mark.parametrize("level", ["3", "all"])
def test_regularizer_test_on_model_means_matches_statsmodels_ols(level):
    df = synthetic_per_image(
        seed=5,
        n_images=40,
        methods=("gradcam",),
        regularizers=("erm", "vat", "lvat_vae"),
        noises=("gaussian",),
        seeds=(0, 1, 2),
        seed_sd=0.02,
        regularizer_effect={"vat": 0.15},
    )
    table = run(regularizer_model_tests, df)
    out = table.query(f"level == '{level}' and endpoint == 'consistency_kept'").set_index("group_a")
    values = _model_means(df, None if level == "all" else level)
    # Every regulariser has seeds 0-2: the seed is a block (common random numbers).
    ref = smf.ols("value ~ C(regularizer, Treatment('erm')) + C(seed)", values).fit()
    ci = ref.conf_int(0.05)
    for reg in ("lvat_vae", "vat"):
        term = f"C(regularizer, Treatment('erm'))[T.{reg}]"
        row = out.loc[reg]
        assert row["group_b"] == "erm" and row["test"] == "model_ols"
        assert row["effect_size"] == pytest.approx(ref.params[term], rel=1e-10)
        assert row["statistic"] == pytest.approx(ref.tvalues[term], rel=1e-8)
        assert row["p_value"] == pytest.approx(ref.pvalues[term], rel=1e-8)
        assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(tuple(ci.loc[term]), rel=1e-8)
        assert row["df"] == ref.df_resid == 4 and row["n"] == 6 and row["seed_blocks"] == 3
        assert row["se"] == pytest.approx(ref.bse[term], rel=1e-8)
    # exploratory strata: Benjamini-Hochberg over every tested row of the table
    tested = table["p_value"].notna()
    bh = multipletests(table.loc[tested, "p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(table.loc[tested, "p_adjusted"], bh, rtol=1e-12)
    assert (table["correction"] == "fdr_bh").all() and (table["correction_scope"] == "study").all()
    assert out.loc["vat", "significant"] and not out.loc["lvat_vae", "significant"]


def test_a_single_seed_table_says_the_regularizer_effect_is_untestable():
    # One training seed (one model per regulariser): the tests still run, with the reason.
    df = synthetic_per_image(seed=5, n_images=20, methods=("gradcam",), noises=("g",))
    assert df["seed"].nunique() == 1
    out = regularizer_model_tests(
        prepare_table(df, ("ssim",)), opts(), endpoints=("consistency", "flip_rate")
    )
    assert len(out) == 2 * 3 * 2  # 2 endpoints × levels 1, 3, pooled × (vat, lvat_vae) vs erm
    assert out["p_value"].isna().all() and out["effect_size"].notna().all()
    assert out["note"].str.startswith("one model per regularizer").all()


def test_models_with_too_few_kept_pairs_are_named_not_dropped_silently():
    df = synthetic_per_image(
        seed=6, n_images=30, methods=("gradcam",), regularizers=("erm", "vat"), noises=("g",),
        levels=("1",), seeds=(0, 1, 2), seed_sd=0.02,
    )  # fmt: skip
    df.loc[(df["model"] == "resnet-vat-s2") & (df["image"] >= 5), "kept"] = False
    row = run(regularizer_model_tests, df).query("endpoint == 'consistency_kept'").squeeze()
    assert "resnet-vat-s2 left out (" in row["note"] and np.isfinite(row["p_value"])
    # the blocked model on the 5 models left: unbalanced, still statsmodels' OLS
    values = _model_means(df[df["model"] != "resnet-vat-s2"], "1")
    ref = smf.ols("value ~ C(regularizer, Treatment('erm')) + C(seed)", values).fit()
    term = "C(regularizer, Treatment('erm'))[T.vat]"
    assert row["n_models_a"] == 2 and row["n_models_b"] == 3 and row["df"] == ref.df_resid == 1
    assert row["effect_size"] == pytest.approx(ref.params[term], rel=1e-10)
    assert row["p_value"] == pytest.approx(ref.pvalues[term], rel=1e-8)


def test_seeds_not_shared_between_regularizers_are_not_blocks():
    # Each regulariser with seeds of its own (models trained apart): the one-way model.
    df = synthetic_per_image(
        seed=7, n_images=30, methods=("gradcam",), regularizers=("erm", "vat"), noises=("g",),
        levels=("1",), seeds=(0, 1, 2), seed_sd=0.02,
    )  # fmt: skip
    df["seed"] = df["seed"] + np.where(df["regularizer"] == "vat", 10, 0)
    row = run(regularizer_model_tests, df).query("endpoint == 'consistency_kept'").squeeze()
    ref = smf.ols("value ~ C(regularizer, Treatment('erm'))", _model_means(df, "1")).fit()
    term = "C(regularizer, Treatment('erm'))[T.vat]"
    assert row["seed_blocks"] == 0 and row["df"] == ref.df_resid == 4
    assert row["p_value"] == pytest.approx(ref.pvalues[term], rel=1e-8)


# Calibration and power of the regulariser test ------------------------------------------------
# 4 regularisers × 3 seeds × 100 images, s = 0.6 + image + seed + pair noise with the seed SD
# (0.05) as large as the image SD and the pair SD: the seed is a real source of variation that
# images cannot average away. The workflow trains every regulariser of a seed from the same
# weights and batches, so part of a seed's effect may be common to its regularisers (`shared`,
# the fraction of the seed variance that is; the total seed SD stays 0.05). The test blocks on
# the seed: df = (4 − 1)(3 − 1) = 6. Measured with these settings (400 simulated studies):
#   independent seeds (shared 0): false-positive rate 0.050 / 0.065 / 0.0625 per comparison with
#     erm (lvat_glow / lvat_vae / vat); 60% shared: 0.045 / 0.065 / 0.0675. The unblocked
#     one-way test used before gave 0.055 / 0.060 / 0.050 with independent seeds.
#   images as replicates (paired Wilcoxon over the 100 images, one model per regulariser: the
#     design before training seeds): 0.852 / 0.842 / 0.830 (60% shared: 0.750 / 0.765 / 0.738);
#     with the three seeds averaged per image first: 0.835 / 0.840 / 0.868 (0.752 / 0.748 / 0.78).
#   planted effect of 2 seed SDs (seed 1): independent seeds, detected in 0.515 of the studies
#     (noncentral-t theory 0.537; the unblocked test 0.543 of theory 0.576); 5 independent seeds
#     0.81 (theory 0.827); 3 seeds with 60% of the seed variance shared 0.8825 (theory 0.894).
# No calibrated test reaches 80% at 2 seed SDs with 3 independent seeds per regulariser: even
# with the seed variance known, a two-sided z-test of 3 against 3 models has power
# Φ(2/√(2/3) − 1.96) = 0.69. The blocked test reaches it once 47% of the seed variance is
# shared; five seeds reach it without.
REGS = ("erm", "lvat_glow", "lvat_vae", "vat")
SEED_SD = 0.05


def _simulate(rng, n_sims: int, n_seeds: int, effect: float, shared: float = 0.0, n_images=100):
    """Similarities of n_sims independent studies, shape (sims, regularisers, seeds, images)."""
    s = (
        0.6
        + rng.normal(0.0, 0.05, (n_sims, 1, 1, n_images))
        + rng.normal(0.0, SEED_SD * np.sqrt(shared), (n_sims, 1, n_seeds, 1))
        + rng.normal(0.0, SEED_SD * np.sqrt(1 - shared), (n_sims, len(REGS), n_seeds, 1))
        + rng.normal(0.0, 0.05, (n_sims, len(REGS), n_seeds, n_images))
    )
    s[:, REGS.index("vat")] += effect
    return s


def _per_image(s: np.ndarray) -> pd.DataFrame:
    """The simulated studies as one per-image table, each study its own noise stratum."""
    n_sims, n_regs, n_seeds, n_images = s.shape
    sim, reg, seed, image = np.indices(s.shape).reshape(4, -1)
    models = [f"resnet-{r}-s{k}" for r in REGS for k in range(n_seeds)]
    return pd.DataFrame(
        {
            "dataset": "shapes",
            "model": pd.Categorical.from_codes(reg * n_seeds + seed, models),
            "arch": "resnet",
            "regularizer": pd.Categorical.from_codes(reg, REGS),
            "seed": seed,
            "noise": pd.Categorical.from_codes(sim, [f"sim{i:03d}" for i in range(n_sims)]),
            "level": "1",
            "method": "gradcam",
            "image": image,
            "label": 0,
            "pred_clean": 0,
            "pred_noisy": 0,
            "kept": True,
            "degenerate": False,
            "ssim": s.ravel(),
        }
    )


def _rejections(s: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Raw p < alpha of the model-level test, per study (rows) and regulariser vs erm."""
    options = opts(alpha=alpha)
    table = prepare_table(_per_image(s), options.measures)
    out = regularizer_model_tests(table, options, progress=False, endpoints=("consistency",))
    assert len(out) == 3 * s.shape[0] and out["p_value"].notna().all()
    return out.pivot(index="noise", columns="group_a", values="p_value") < alpha


def _nct_power(effect_in_sd: float, n_seeds: int, shared: float = 0.0, alpha=0.05) -> float:
    """Power of the two-sided seed-blocked t-test of n_seeds vs n_seeds models among 4
    regularisers, the effect in total seed SDs, `shared` of the seed variance common to a seed."""
    df = (len(REGS) - 1) * (n_seeds - 1)
    ncp = effect_in_sd / np.sqrt((1 - shared) * 2 / n_seeds)
    q = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(q, df, ncp) + sps.nct.cdf(-q, df, ncp))


@pytest.mark.parametrize("shared", [0.0, 0.6])
def test_regularizer_test_is_calibrated_when_seeds_vary_and_images_as_replicates_are_not(shared):
    rng = np.random.default_rng(0)
    s = _simulate(rng, n_sims=400, n_seeds=3, effect=0.0, shared=shared)
    fpr = _rejections(s).mean()
    # binomial SE of a rate near 0.05 over 400 studies is 0.011: alpha + 0.03 is 2.8 SE away
    assert (fpr <= 0.05 + 0.03).all() and fpr.mean() >= 0.02, fpr.to_dict()
    # the old design on the same studies: paired Wilcoxon over images, one model per regulariser
    old = sps.wilcoxon(s[:, 1:, 0, :], s[:, :1, 0, :], axis=-1).pvalue < 0.05
    assert old.mean() > 0.6, old.mean(axis=0)


def test_regularizer_test_detects_two_seed_sds_as_often_as_the_design_allows():
    rng = np.random.default_rng(1)
    three = _rejections(_simulate(rng, n_sims=400, n_seeds=3, effect=2 * SEED_SD))
    five = _rejections(_simulate(rng, n_sims=400, n_seeds=5, effect=2 * SEED_SD))
    crn = _rejections(_simulate(rng, n_sims=400, n_seeds=3, effect=2 * SEED_SD, shared=0.6))
    # independent seeds, 3 each: power within 3 binomial SEs (0.025 each) of the theory's 0.537
    assert three["vat"].mean() >= _nct_power(2.0, 3) - 0.075
    # 5 independent seeds, or 3 with 60% of the seed variance shared: the 80% the design asks
    assert _nct_power(2.0, 5) > 0.82 and five["vat"].mean() >= 0.80
    assert _nct_power(2.0, 3, shared=0.6) > 0.89 and crn["vat"].mean() >= 0.80
    # the comparisons without a planted effect stay calibrated meanwhile
    for study in (three, five, crn):
        assert (study[["lvat_glow", "lvat_vae"]].mean() <= 0.08).all()


def test_seed_share_estimates_the_planted_one():
    # regularizers.csv reports the seed variance common to a seed's models and each model's own.
    rng = np.random.default_rng(2)
    for shared in (0.0, 0.6):
        s = _simulate(rng, n_sims=200, n_seeds=3, effect=0.0, shared=shared)
        table = prepare_table(_per_image(s), ("ssim",))
        out = regularizer_model_tests(table, opts(), progress=False, endpoints=("consistency",))
        per_study = out.groupby("noise", observed=True)[["seed_var_common", "seed_var_own"]].first()
        assert per_study.notna().all().all() and (per_study["seed_var_own"] > 0).all()
        common, own = per_study.mean()  # unbiased per study: pooled before the ratio
        assert common / (common + own) == pytest.approx(shared, abs=0.08)
        assert common + own == pytest.approx(SEED_SD**2, rel=0.15)


# Kept vs flipped, noise types, correction scope ---------------------------------------------


def test_flip_tests_per_level_match_scipy_and_van_elteren_matches_stouffer(table):
    out = run(flip_tests, table, min_pairs=3)
    sub = table.query("model == 'resnet_erm' and method == 'gradcam' and noise == 'jpeg'")
    rows = out.query(
        "model == 'resnet_erm' and method == 'gradcam' and noise == 'jpeg' and measure == 'ssim'"
    ).set_index("level")
    z_weights, p_one_sided, u_sum, nm_sum = [], [], 0.0, 0
    for level, part in sub.groupby("level"):
        kept = part.loc[part["kept"], "ssim"].to_numpy()
        flipped = part.loc[~part["kept"], "ssim"].to_numpy()
        ref = sps.mannwhitneyu(kept, flipped, alternative="two-sided")
        row = rows.loc[level]
        assert row["test"] == "mann_whitney" and row["n"] == kept.size + flipped.size
        assert row["statistic"] == pytest.approx(ref.statistic)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
        assert row["effect_size"] == pytest.approx(ref.statistic / (kept.size * flipped.size))
        # van Elteren = Stouffer over levels with weights sd(W)/(N + 1), no continuity correction
        one = sps.mannwhitneyu(
            kept, flipped, alternative="greater", use_continuity=False, method="asymptotic"
        )
        both = np.concatenate([kept, flipped])
        n_all = both.size
        sd = np.sqrt(
            kept.size * flipped.size * (n_all + 1) / 12 * sps.tiecorrect(sps.rankdata(both))
        )
        z_weights.append(sd / (n_all + 1))
        p_one_sided.append(one.pvalue)
        u_sum += one.statistic
        nm_sum += kept.size * flipped.size
    pooled = rows.loc["all"]
    stouffer = sps.combine_pvalues(p_one_sided, method="stouffer", weights=z_weights)
    assert pooled["test"] == "van_elteren"
    assert pooled["statistic"] == pytest.approx(stouffer.statistic, rel=1e-9)
    p_two = 2 * min(stouffer.pvalue, 1 - stouffer.pvalue)
    assert pooled["p_value"] == pytest.approx(p_two, rel=1e-9)
    assert pooled["effect_size"] == pytest.approx(u_sum / nm_sum)
    assert pooled["effect_size_name"] == "auroc_within_level"
    ssim = out[out["measure"] == "ssim"]
    ref_adj = multipletests(ssim["p_value"].dropna(), method="holm")[1]
    np.testing.assert_allclose(ssim["p_adjusted"].dropna(), ref_adj)
    few = run(flip_tests, table, min_pairs=1000)
    assert few["p_value"].isna().all() and few["note"].str.contains("min_pairs=1000").all()


def test_a_level_confound_is_not_read_as_separation():
    # Within each level kept and flipped pairs are alike; flips come mostly from the high level,
    # where every pair is less similar. Pooled naively, kept pairs look far more similar.
    rng = np.random.default_rng(3)
    parts = []
    for level, flip_rate, mean in (("1", 0.1, 0.9), ("5", 0.9, 0.5)):
        kept = rng.random(200) >= flip_rate
        parts.append(
            pd.DataFrame(
                {
                    "dataset": "d",
                    "model": "m",
                    "arch": "a",
                    "regularizer": "erm",
                    "seed": 0,
                    "noise": "n",
                    "level": level,
                    "method": "gradcam",
                    "image": np.arange(200),
                    "label": 0,
                    "pred_clean": 0,
                    "pred_noisy": np.where(kept, 0, 1),
                    "kept": kept,
                    "ssim": rng.normal(mean, 0.05, 200),
                }
            )  # fmt: skip
        )
    df = pd.concat(parts, ignore_index=True)
    naive = sps.mannwhitneyu(df.loc[df["kept"], "ssim"], df.loc[~df["kept"], "ssim"])
    assert naive.pvalue < 1e-20
    row = run(flip_tests, df).query("level == 'all'").squeeze()
    assert row["p_value"] > 0.05 and abs(row["effect_size"] - 0.5) < 0.1


def test_noise_friedman_with_image_blocks_matches_scipy():
    df = synthetic_per_image(
        seed=6,
        n_images=20,
        regularizers=("erm",),
        methods=("gradcam",),
        noises=("gaussian", "jpeg", "shot"),
        noise_effect={"shot": -0.1},
    )
    out = run(noise_tests, df)
    wide = _kept_wide(df, {}, "noise")  # an image's kept values averaged over levels per noise
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    omni = out[out["test"] == "friedman"].squeeze()
    n = len(wide)
    assert omni["n"] == n and omni["level"] == "all"
    assert omni["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert omni["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert omni["effect_size"] == pytest.approx(ref.statistic / (n * 2), rel=1e-12)
    pairs = out[out["test"] == "wilcoxon"]
    p_ref = []
    for (_, row), (a, b) in zip(
        pairs.iterrows(), itertools.combinations(wide.columns, 2), strict=True
    ):
        assert (row["group_a"], row["group_b"]) == (a, b)
        w = sps.wilcoxon(wide[a], wide[b])
        assert row["statistic"] == pytest.approx(w.statistic)
        p_ref.append(w.pvalue)
    np.testing.assert_allclose(pairs["p_value"], p_ref, rtol=1e-12)
    np.testing.assert_allclose(pairs["p_adjusted"], multipletests(p_ref, method="holm")[1])
    shot = pairs[pairs["group_b"] == "shot"]
    assert shot["significant"].all() and (shot["effect_size"] > 0).all()


def test_study_scope_corrects_every_row_of_a_table_together(table):
    out = run(method_tests, table, correction="fdr_bh", correction_scope="study")
    ok = out["p_value"].notna()
    ref = multipletests(out.loc[ok, "p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[ok, "p_adjusted"], ref, rtol=1e-12)
    assert (out["correction"] == "fdr_bh").all() and (out["correction_scope"] == "study").all()
    stratum = run(method_tests, table, correction="fdr_bh")
    rows = stratum.query(
        "model == 'resnet_vat' and noise == 'jpeg' and level == '1' and measure == 'ssim'"
        " and test == 'wilcoxon'"
    )
    ref = multipletests(rows["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(rows["p_adjusted"], ref, rtol=1e-12)


def test_bad_tables_raise_clear_errors(table):
    with pytest.raises(ValueError, match="lacks columns: kept"):
        prepare_table(table.drop(columns="kept"), ("ssim",))
    with pytest.raises(ValueError, match="lacks columns: iou_top20"):
        prepare_table(table, ("iou_top20",))
    with pytest.raises(ValueError, match="model 'resnet_erm'.*several"):
        prepare_table(table.assign(regularizer=np.arange(len(table)) % 2), ("ssim",))
    with pytest.raises(ValueError, match="reserved level name 'all'"):
        prepare_table(table.assign(level="all"), ("ssim",))
    dup = pd.concat([table, table.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate per-image rows"):
        run(method_tests, dup)


def test_run_stats_gives_every_frame_with_its_correction_and_is_deterministic():
    df = synthetic_per_image(
        seed=7,
        n_images=12,
        methods=METHODS[:3],
        regularizers=("erm", "vat"),
        noises=("g", "h", "i"),
        seeds=(0, 1),
        seed_sd=0.02,
    )
    config = DEFAULTS | {"min_pairs": 5}
    a = run_stats(df, config, progress=False)
    b = run_stats(df, config, progress=False)
    assert list(a) == ["methods", "method_ranks", "regularizers", "mixedlm", "flips", "noise"]
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    for name in ("methods", "regularizers", "mixedlm", "flips", "noise"):
        assert a[name]["p_value"].notna().any(), name
        # the regulariser strata are exploratory: false-discovery rate over the study
        explored = name == "regularizers"
        assert (a[name]["correction"] == ("fdr_bh" if explored else "holm")).all(), name
        assert (a[name]["correction_scope"] == ("study" if explored else "stratum")).all(), name
    with pytest.raises(ValueError, match="unknown correction"):
        run_stats(df, DEFAULTS | {"correction": "nope"})


# Replication across global seeds ------------------------------------------------------------


def _regularizer_table(seed: int, vat: float) -> pd.DataFrame:
    df = synthetic_per_image(
        seed=seed, n_images=30, methods=("gradcam", "eigencam"), noises=("g", "j"),
        seeds=(0, 1, 2), seed_sd=0.01, regularizer_effect={"vat": vat},
    )  # fmt: skip
    return run(regularizer_model_tests, df)


def test_replication_counts_agreeing_and_opposite_conclusions(tmp_path, capsys):
    from camrobust.stats.replication import main, replication

    a, b = _regularizer_table(1, 0.1), _regularizer_table(2, 0.1)
    out = replication(a, b).set_index("rows")
    # 2 methods × 2 noises × (2 levels + pooled) × 2 regularisers vs erm
    assert out.loc["all", "comparisons"] == 24 and out.loc["pooled", "comparisons"] == 8
    # vat's planted effect is significant and positive in both runs; lvat_vae's null is not
    pooled = out.loc["pooled"]
    assert pooled["both_same_sign"] == 4 and pooled["both_opposite_sign"] == 0
    assert pooled["agreement"] == pooled["both_same_sign"] / (
        pooled["both_same_sign"] + pooled["a_only"] + pooled["b_only"]
    )
    # the second run with the opposite effect: every shared conclusion reversed
    flipped = replication(a, _regularizer_table(2, -0.1)).set_index("rows").loc["pooled"]
    assert flipped["both_opposite_sign"] == 4 and flipped["agreement"] == 0.0
    assert flipped["effect_correlation"] < 0 < pooled["effect_correlation"]
    # another design is refused with the count of unmatched comparisons
    with pytest.raises(ValueError, match="the tables differ in 12 comparisons"):
        replication(a, a[a["method"] == "gradcam"])
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]) == 0
    printed = capsys.readouterr().out
    assert "both_same_sign" in printed and "expected_agreement" in printed
    assert main([str(tmp_path / "a.csv"), str(tmp_path / "missing.csv")]) == 1
    assert "missing.csv" in capsys.readouterr().err


def _comparisons(effects, ses, significant, p_values, noise="g", df=6) -> pd.DataFrame:
    """A regularizers.csv of pooled comparisons vat vs erm, one per method."""
    n = len(effects)
    return pd.DataFrame(
        {
            "dataset": "d", "arch": "a", "method": [f"m{i}" for i in range(n)], "noise": noise,
            "measure": "ssim", "endpoint": "consistency", "group_a": "vat", "group_b": "erm",
            "level": "all", "effect_size": effects, "se": ses, "df": df, "p_value": p_values,
            "significant": significant,
        }
    )  # fmt: skip


def test_replication_reference_values_follow_their_formulas():
    from camrobust.stats.replication import replication

    a = pd.concat([
        _comparisons([0.05, 0.0, 0.02], [0.01, 0.01, 0.02], [True, False, False], [0.002, 1.0, 0.4]),
        _comparisons([-0.03, 0.01], [0.01, 0.01], [True, False], [0.02, 0.5], noise="h"),
    ], ignore_index=True)  # fmt: skip
    b = pd.concat([
        _comparisons([0.02, 0.0, 0.06], [0.01, 0.03, 0.02], [True, False, True], [0.04, 1.0, 0.01]),
        _comparisons([0.02, 0.01], [0.01, 0.01], [True, False], [0.03, 0.6], noise="h"),
    ], ignore_index=True)  # fmt: skip
    row = replication(a, b).set_index("rows").loc["pooled"]
    diff = a["effect_size"] - b["effect_size"]
    spread = np.sqrt(a["se"] ** 2 + b["se"] ** 2)
    z = diff / spread
    nu = spread**4 / ((a["se"] ** 4 + b["se"] ** 4) / 6)
    assert row["z_comparisons"] == 5
    assert row["z_exceed"] == pytest.approx((z.abs() > 1.96).mean())  # 2 of 5: 3.0 SE and 3.5 SE
    assert row["z_exceed"] == 0.4
    assert row["z_exceed_expected"] == pytest.approx((2 * sps.t.sf(1.96, nu)).mean())
    inside = diff.abs() <= sps.t.ppf(0.975, nu) * spread
    assert row["pi_coverage"] == pytest.approx(inside.mean())
    # expected agreement: run A's power at its threshold (largest significant p, 0.02) to find
    # the effect with its sign if the truth were its estimate, Σp²/Σ(2p − p²)
    q = sps.t.ppf(1 - 0.02 / 2, 6)
    power = sps.nct.sf(q, 6, a["effect_size"].abs() / a["se"])
    assert row["expected_agreement"] == pytest.approx(
        (power**2).sum() / (2 * power - power**2).sum(), rel=1e-4
    )
    # comparisons: (m0: both +), (m2: b only), (h m0: opposite signs) -> 1 of 3
    assert (row["both_same_sign"], row["both_opposite_sign"], row["b_only"]) == (1, 1, 1)
    assert row["agreement"] == pytest.approx(1 / 3)
    # clusters (noise family × regulariser): g is + in both runs, h − in A and + in B
    assert (row["clusters"], row["clusters_either"], row["clusters_same_sign"]) == (2, 2, 1)
    assert row["cluster_agreement"] == 0.5


def test_degenerate_pairs_are_left_out_of_every_test_and_counted():
    from camrobust.stats.run import informative_only

    df = synthetic_per_image(seed=8, n_images=20, methods=METHODS[:3], regularizers=("erm",),
                             noises=("g",), levels=("1",), keep_rate=1.0)  # fmt: skip
    df.loc[df.index[:4], "degenerate"] = True  # images 0-3 of the first method
    out = run_stats(df, DEFAULTS | {"min_pairs": 5}, progress=False)
    fried = out["methods"].query("test == 'friedman'").squeeze()
    # the four images with a degenerate pair are no complete block any more
    wide = _kept_wide(informative_only(prepare_table(df, ("ssim",)), ("ssim",)), {}, "method")
    assert fried["n"] == len(wide) == 16
    assert "4 NaN or degenerate similarities excluded" in fried["note"]
    ref = sps.friedmanchisquare(*wide.to_numpy().T)
    assert fried["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    kept = informative_only(prepare_table(df, ("ssim",)), ("ssim",))
    assert kept["ssim"].isna().sum() == 4 and df["ssim"].notna().all()  # the table keeps them
