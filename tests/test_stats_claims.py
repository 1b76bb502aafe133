"""The headline claims and their sensitivity analyses against statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from camrobust.names import CLAIMS_TABLES, REFERENCE
from camrobust.stats import prepare_table
from camrobust.stats.claims import (
    MDE_POWER,
    claim_tests,
    headline_values,
    minimum_detectable_effect,
    run_claims,
)
from camrobust.stats.endpoints import endpoint_values
from camrobust.stats.options import claim_options
from camrobust.stats.sensitivity import block_permutations, sensitivity_tests
from camrobust.stats.synthetic import synthetic_per_image

PARAMS = {"alpha": 0.05, "min_pairs": 5, "measure": "ssim", "smallest_effect": 0.05,
          "permutations": 20000, "seed": 0}  # fmt: skip
REGS = ("erm", "lvat_glow", "lvat_vae", "vat")


def _table(regs=REGS, seeds=(0, 1, 2), effect=None, seed=11) -> pd.DataFrame:
    df = synthetic_per_image(
        seed=seed, n_images=30, methods=("gradcam", "eigencam"), regularizers=regs,
        noises=("fgsm", "gaussian"), levels=("1", "3"), seeds=seeds, seed_sd=0.02,
        regularizer_effect=effect or {"vat": 0.1}, keep_rate=0.9,
    )  # fmt: skip
    df["feature_shift"] = np.where(df["regularizer"] == "vat", 0.2, 0.4) + 0.01 * df["image"]
    return prepare_table(df, ("ssim",))


def test_the_endpoint_is_the_mean_of_the_always_kept_consistency_over_methods_and_levels():
    table = _table()
    values = headline_values(table, "ssim", min_pairs=5).set_index(["noise", "model"])
    cells = endpoint_values(table, "ssim", method_free=False, endpoints=("consistency",))
    cells = cells[cells["level"] != "all"]
    want = cells.groupby(["noise", "model"])["value"].mean()
    np.testing.assert_allclose(values["value"], want.reindex(values.index), rtol=1e-12)
    assert (values["n_methods"] == 2).all() and (values["n_levels"] == 2).all()
    shift = table.groupby(["noise", "model"])["feature_shift"].mean()
    np.testing.assert_allclose(values["shift"], shift.reindex(values.index), rtol=1e-12)
    # a cell with fewer always-kept images than min_pairs leaves the model without a value
    short = headline_values(table, "ssim", min_pairs=29)
    assert short["value"].isna().all() and short["note"].str.contains("min_pairs=29").all()


def test_placebos_and_repeated_maps_stay_out_of_the_endpoint():
    """A placebo (randomcam) and a method repeating gradcam's maps on one model (hirescam) would
    move every model's endpoint: run_claims averages gradcam and eigencam alone."""
    table = _table()
    base = run_claims(table, PARAMS, "erm")["claims"]
    rng = np.random.default_rng(0)
    extra = []
    for method, same_as in (("randomcam", ""), ("hirescam", "gradcam")):
        rows = table[table["method"] == "gradcam"].assign(method=method)
        rows["ssim"] = rng.uniform(0, 1, len(rows))  # would change every endpoint
        rows["same_as"] = np.where(rows["model"] == rows["model"].iloc[0], same_as, "")
        extra.append(rows)
    marked = pd.concat([table.assign(same_as=""), *extra], ignore_index=True)
    marked["placebo"] = marked["method"] == "randomcam"
    out = run_claims(marked, PARAMS, "erm")["claims"]
    np.testing.assert_allclose(out["effect_size"], base["effect_size"], rtol=1e-12)
    assert (out["n_methods"] == 2).all()


def test_claims_are_the_blocked_ols_with_holm_over_the_datasets_claims():
    table = _table()
    options = claim_options(PARAMS, "erm")
    values = headline_values(table, "ssim", options.min_pairs)
    claims = claim_tests(values, options)
    assert len(claims) == 2 * 3 and (claims["claims"] == 6).all()
    for noise, sub in values.groupby("noise"):
        ref = smf.ols("value ~ C(regularizer, Treatment('erm')) + C(seed)", sub).fit()
        rows = claims[claims["noise"] == noise].set_index("group_a")
        for reg in REGS[1:]:
            term = f"C(regularizer, Treatment('erm'))[T.{reg}]"
            assert rows.loc[reg, "effect_size"] == pytest.approx(ref.params[term], rel=1e-10)
            assert rows.loc[reg, "se"] == pytest.approx(ref.bse[term], rel=1e-8)
            assert rows.loc[reg, "p_value"] == pytest.approx(ref.pvalues[term], rel=1e-8)
            assert rows.loc[reg, "df"] == ref.df_resid == 6
            means = sub.groupby("regularizer")["shift"].mean()
            assert rows.loc[reg, "shift_a"] == pytest.approx(means[reg])
            assert rows.loc[reg, "shift_b"] == pytest.approx(means["erm"])
    holm = multipletests(claims["p_value"], method="holm")[1]
    np.testing.assert_allclose(claims["p_adjusted"], holm, rtol=1e-12)
    tost = multipletests(claims["p_tost"], method="holm")[1]
    np.testing.assert_allclose(claims["p_tost_adjusted"], tost, rtol=1e-12)
    assert (claims[["method", "level", "endpoint"]] == ["all", "all", "consistency"]).all().all()
    vat = claims[claims["group_a"] == "vat"]
    assert vat["significant"].all() and (vat["effect_size"] > 0).all()


def test_tost_and_the_minimum_detectable_effect_match_statsmodels_for_a_paired_design():
    # Two regularisers with seeds as blocks: the blocked OLS is the paired t test.
    table = _table(regs=("erm", "vat"), seeds=(0, 1, 2, 3), effect={"vat": 0.01})
    table = table[table["noise"] == "gaussian"]
    options = claim_options(PARAMS, "erm")
    values = headline_values(table, "ssim", options.min_pairs)
    row = claim_tests(values, options).squeeze()
    vat = values[values["regularizer"] == "vat"].sort_values("seed")["value"].to_numpy()
    erm = values[values["regularizer"] == "erm"].sort_values("seed")["value"].to_numpy()
    p_tost = ttost_paired(vat, erm, -0.05, 0.05)[0]
    assert row["p_tost"] == pytest.approx(p_tost, rel=1e-9)
    assert row["p_tost_adjusted"] == row["p_tost"] and row["claims"] == 1  # one claim
    assert bool(row["equivalent"]) == (p_tost < 0.05)
    d = vat - erm
    effect = TTestPower().solve_power(nobs=4, alpha=0.05, power=MDE_POWER)
    assert row["mde"] == pytest.approx(effect * d.std(ddof=1), rel=1e-6)
    assert row["mde_alpha"] == 0.05
    # the MDE at Holm's first step (α/m) of a larger family is larger
    assert minimum_detectable_effect(row["se"], row["df"], 0.05 / 6, MDE_POWER) > row["mde"]
    assert np.isnan(minimum_detectable_effect(0.0, 3, 0.05, MDE_POWER))


def test_sensitivity_rows_match_statsmodels_and_scipy():
    table = _table()
    options = claim_options(PARAMS, "erm")
    values = headline_values(table, "ssim", options.min_pairs)
    out = sensitivity_tests(values, options)
    sub = values[values["noise"] == "gaussian"].reset_index(drop=True)
    rows = out[out["noise"] == "gaussian"]
    # per-arm residual SDs: Σ_arm e² / Σ_arm (1 − h) of the blocked OLS
    fit = smf.ols("value ~ C(regularizer, Treatment('erm')) + C(seed)", sub).fit()
    h = fit.get_influence().hat_matrix_diag
    sds = rows[rows["analysis"] == "residual_sd"].set_index("group_a")
    for reg in REGS:
        arm = (sub["regularizer"] == reg).to_numpy()
        want = np.sqrt((fit.resid[arm] ** 2).sum() / (1 - h[arm]).sum())
        assert sds.loc[reg, "estimate"] == pytest.approx(want, rel=1e-9)
    # pooled: the arms' variances weighted by their effective dfs give σ̂²
    pooled = (sds["estimate"] ** 2 * sds["df"]).sum() / sds["df"].sum()
    assert pooled == pytest.approx(fit.mse_resid, rel=1e-9)
    assert sds["df"].sum() == pytest.approx(6)
    # the exact within-block randomisation test: all 4!^3 arrangements, as scipy enumerates them
    wide = sub.pivot(index="seed", columns="regularizer", values="value")
    samples = [wide[r].to_numpy() for r in REGS]

    def between(*groups, axis=-1):  # the regulariser sum of squares: F is monotone in it
        means = np.array([np.mean(g, axis=axis) for g in groups])
        return ((means - means.mean(axis=0)) ** 2).sum(axis=0)

    ref = sps.permutation_test(
        samples, between, permutation_type="samples", n_resamples=np.inf, alternative="greater",
        vectorized=True,
    )  # fmt: skip
    perm = rows[rows["analysis"] == "randomization"].squeeze()
    assert perm["exact"] and perm["n_permutations"] == 24**3 == 13824
    assert perm["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    anova = smf.ols("value ~ C(regularizer) + C(seed)", sub).fit()
    reduced = smf.ols("value ~ C(seed)", sub).fit()
    assert perm["statistic"] == pytest.approx(anova.compare_f_test(reduced)[0], rel=1e-9)
    # the paired per-seed contrast of each regulariser with erm
    for reg in REGS[1:]:
        row = rows[(rows["analysis"] == "paired_contrast") & (rows["group_a"] == reg)].squeeze()
        test = sps.ttest_rel(wide[reg], wide["erm"])
        assert row["statistic"] == pytest.approx(test.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(test.pvalue, rel=1e-10) and row["df"] == 2
        lo, hi = test.confidence_interval(0.95)
        assert (row["ci_lo"], row["ci_hi"]) == pytest.approx((lo, hi), rel=1e-10)


def test_more_arrangements_than_allowed_are_drawn_at_random_and_seeded():
    blocks = np.repeat([0, 1, 2], 4)
    exact, is_exact = block_permutations(blocks, 13824, np.random.default_rng(0))
    assert is_exact and len(exact) == 13824 and (exact[0] == np.arange(12)).all()
    assert len({tuple(p) for p in exact}) == 13824
    for perm in exact[::997]:  # each stays within its blocks
        assert (blocks[perm] == blocks).all()
    drawn, is_exact = block_permutations(blocks, 500, np.random.default_rng(0))
    again, _ = block_permutations(blocks, 500, np.random.default_rng(0))
    assert not is_exact and drawn.shape == (500, 12) and (drawn == again).all()
    assert all((blocks[p] == blocks).all() for p in drawn)
    options = claim_options({**PARAMS, "permutations": 500}, "erm")
    values = headline_values(_table(), "ssim", options.min_pairs)
    row = sensitivity_tests(values, options).query("analysis == 'randomization'").iloc[0]
    assert not row["exact"] and row["n_permutations"] == 500
    # Monte Carlo p = (1 + #at least as extreme) / (1 + N): a multiple of 1/501
    assert (row["p_value"] * 501) == pytest.approx(round(row["p_value"] * 501))


def test_one_model_per_regularizer_gives_untested_claims_and_options_are_checked():
    table = _table(seeds=(0,))
    out = run_claims(table, PARAMS, REFERENCE)
    assert tuple(out) == CLAIMS_TABLES  # the claims rule's outputs (tests/test_names.py)
    claims = out["claims"]
    assert claims["p_value"].isna().all() and claims["effect_size"].notna().all()
    assert claims["note"].str.startswith("one model per regularizer").all()
    assert claims["mde"].isna().all() and claims["equivalent"].isna().all()
    assert (out["sensitivity"]["note"] == "one model per regularizer: no residual degrees of "
            "freedom").all()  # fmt: skip
    with pytest.raises(ValueError, match="claims options: missing smallest_effect"):
        claim_options({k: v for k, v in PARAMS.items() if k != "smallest_effect"}, "erm")
    with pytest.raises(ValueError, match="claims.smallest_effect must be positive"):
        claim_options({**PARAMS, "smallest_effect": 0}, "erm")
