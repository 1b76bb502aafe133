"""The crossed MixedLM of the regulariser effect against a direct statsmodels fit, its rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.multitest import multipletests

import camrobust.stats.mixed as mixed
from camrobust.stats import mixedlm_tests, prepare_table, stats_options
from camrobust.stats.synthetic import synthetic_per_image

TERM = "C(regularizer, Treatment('erm'))[T.{}]"


def fit(df: pd.DataFrame, **changes) -> pd.DataFrame:
    config = {
        "alpha": 0.05,
        "correction": "holm",
        "correction_scope": "stratum",
        "min_pairs": 10,
        "measures": ["ssim"],
    }
    options = stats_options(config | changes)
    return mixedlm_tests(prepare_table(df, options.measures), options, progress=False)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return synthetic_per_image(
        seed=11,
        n_images=30,
        methods=("gradcam",),
        regularizers=("erm", "vat", "lvat_glow"),
        noises=("gaussian",),
        levels=("1", "3", "5"),
        regularizer_effect={"vat": 0.08},
        seeds=(0, 1, 2),
        seed_sd=0.01,
    )


@pytest.fixture(scope="module")
def planted_out(planted) -> pd.DataFrame:
    return fit(planted)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_coefficients_match_a_direct_crossed_statsmodels_fit(planted, planted_out):
    kept = planted[planted["kept"]]
    data = pd.DataFrame(
        {
            "s": kept["ssim"].to_numpy(),
            "regularizer": kept["regularizer"].to_numpy(),
            "model": kept["model"].to_numpy(),
            "level": kept["level"].astype(float).to_numpy() - 3.0,  # centred on 1, 3, 5
            "image": kept["image"].astype(str).to_numpy(),
        }
    )
    vc = {"image": "0 + C(image)", "model": "0 + C(model)", "model_slope": "0 + C(model):level"}
    model = smf.mixedlm(
        "s ~ C(regularizer, Treatment('erm')) * level",
        data,
        groups=np.zeros(len(data)),
        re_formula="0",
        vc_formula=vc,
    )
    ref = model.fit(reml=True, method=list(mixed.FIT_METHODS))
    # The optimiser order is chosen for reaching the REML optimum: never below statsmodels' default.
    assert ref.converged
    assert ref.llf >= model.fit(reml=True).llf - 1e-5
    coef = planted_out[planted_out["effect_size_name"] == "coefficient"].set_index("factor")
    assert list(coef.index) == list(ref.fe_params.index)
    np.testing.assert_allclose(coef["effect_size"], ref.fe_params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(coef["p_value"], ref.pvalues[ref.fe_params.index], rtol=1e-5)
    np.testing.assert_allclose(coef["statistic"], ref.tvalues[ref.fe_params.index], rtol=1e-5)
    ci = ref.conf_int(alpha=0.05).loc[ref.fe_params.index]
    np.testing.assert_allclose(coef["ci_lo"], ci[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(coef["ci_hi"], ci[1], rtol=1e-6, atol=1e-9)
    assert (coef["level_center"] == 3.0).all() and (coef["n"] == len(data)).all()
    var = planted_out[planted_out["effect_size_name"] == "variance"].set_index("factor")
    names = ["image variance", "model variance", "model slope variance"]
    assert list(var.index) == names
    np.testing.assert_allclose(var["effect_size"], ref.vcomp, rtol=1e-5, atol=1e-12)
    # Holm over the non-intercept terms of the fit; the intercept is not tested
    tested = coef.drop(index="Intercept")
    holm = multipletests(tested["p_value"], method="holm")[1]
    np.testing.assert_allclose(tested["p_adjusted"], holm, rtol=1e-12)
    assert np.isnan(coef.loc["Intercept", "p_adjusted"])
    assert (planted_out["correction_scope"] == "stratum").all()


def test_planted_regularizer_effect_is_recovered(planted_out):
    out = planted_out.set_index("factor")
    vat = out.loc[TERM.format("vat")]
    assert vat["group_a"] == "vat" and vat["group_b"] == "erm"
    assert vat["effect_size"] > 0 and vat["significant"]
    assert vat["ci_lo"] < 0.08 < vat["ci_hi"]
    glow = out.loc[TERM.format("lvat_glow")]
    assert glow["ci_lo"] < 0 < glow["ci_hi"]  # nothing planted


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_the_model_variance_widens_the_regularizer_interval():
    # With a large seed effect, the crossed model's interval for a regulariser is wider than the
    # image-only model's (which treats 3 models per regulariser as if they were one).
    df = synthetic_per_image(
        seed=14, n_images=30, methods=("gradcam",), regularizers=("erm", "vat"),
        noises=("g",), levels=("1", "3"), seeds=(0, 1, 2), seed_sd=0.05,
    )  # fmt: skip
    row = fit(df).set_index("factor").loc[TERM.format("vat")]
    kept = df[df["kept"]].assign(level=lambda d: d["level"].astype(float) - 2.0)
    naive = smf.mixedlm(
        "ssim ~ C(regularizer, Treatment('erm')) * level", kept, groups=kept["image"]
    ).fit(reml=True)
    lo, hi = naive.conf_int().loc[TERM.format("vat")]
    assert row["ci_hi"] - row["ci_lo"] > 2 * (hi - lo)


def test_a_single_seed_table_fits_images_only_and_says_so():
    df = synthetic_per_image(
        seed=12, n_images=20, methods=("gradcam",), regularizers=("erm", "vat"), noises=("g",)
    )
    out = fit(df)
    assert "model variance" not in set(out["factor"])
    assert out["note"].str.contains("one model per regularizer").all()
    assert out["p_value"].notna().sum() == 4  # intercept, vat, level, vat:level


def test_non_convergence_is_reported_not_dropped(monkeypatch):
    df = synthetic_per_image(
        seed=12, n_images=12, methods=("gradcam",), regularizers=("erm", "vat"), noises=("g",),
        seeds=(0, 1),
    )  # fmt: skip
    # Forced (one iteration per optimiser), so the outcome does not hang on the path a CPU's
    # floating point takes: every row is kept and says why.
    fit_once = MixedLM.fit
    monkeypatch.setattr(MixedLM, "fit", lambda self, **kw: fit_once(self, **kw, maxiter=1))
    out = fit(df)
    assert len(out) == 4 + 3  # 4 fixed effects + 3 variance components
    assert out["note"].str.contains("ConvergenceWarning: Maximum Likelihood optimization").all()
    monkeypatch.undo()
    # No variance at all: depending on the CPU the optimiser stops unconverged or the Hessian
    # is singular; either way the stratum keeps its rows, each with the reason.
    flat = fit(df.assign(ssim=0.5))
    assert len(flat) in (1, 4 + 3)
    assert flat["note"].str.contains("ConvergenceWarning|fit failed: LinAlgError").all()
    # one row per image: the image variance is not identified, and the row says so
    lone = fit(
        synthetic_per_image(
            seed=13, n_images=12, methods=("gradcam",), regularizers=("erm", "vat")
        ).pipe(lambda d: d.assign(image=np.arange(len(d))))
    )
    assert len(lone) == 2 and lone["p_value"].isna().all()
    assert (lone["note"] == "one kept pair per image: the image variance is not identified").all()


def test_a_failing_fit_becomes_one_row_with_its_reason(planted, monkeypatch):
    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(mixed.smf, "mixedlm", broken)
    row = fit(planted).squeeze()
    assert np.isnan(row["p_value"]) and row["note"] == "fit failed: LinAlgError: Singular matrix"


def test_strata_that_cannot_be_fitted_say_why(planted):
    no_ref = fit(planted[planted["regularizer"] != "erm"])
    assert "reference regularizer 'erm' absent" in no_ref["note"].squeeze()
    single = fit(planted[planted["regularizer"] == "erm"])
    assert "single regularizer" in single["note"].squeeze()
    few = fit(planted, min_pairs=10_000)
    assert "min_pairs=10000" in few["note"].squeeze()
    one_level = fit(planted[planted["level"] == "3"])
    assert "single level" in one_level["note"].iloc[0]
    assert not one_level["factor"].str.contains("level").any()
    assert "model slope variance" not in set(one_level["factor"])
    with pytest.raises(ValueError, match="level 'severe' is not a finite number"):
        fit(planted.assign(level="severe"))
