"""MixedLM of the regulariser effect against a direct statsmodels fit, and its failure rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import camrobust.stats.mixed as mixed
from camrobust.stats import mixedlm_tests
from camrobust.stats.synthetic import synthetic_per_image


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return synthetic_per_image(
        seed=11,
        n_images=30,
        methods=("gradcam",),
        regularizers=("erm", "vat", "lvat_glow"),
        noises=("gaussian",),
        levels=("1", "3", "5"),
        regularizer_effect={"vat": 0.05},
    )


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_coefficients_match_a_direct_statsmodels_fit(planted):
    out = mixedlm_tests(planted)
    kept = planted[planted["kept"]]
    level = kept["level"].astype(float)
    data = pd.DataFrame(
        {
            "s": kept["ssim"].to_numpy(),
            "regularizer": kept["regularizer"].to_numpy(),
            "level": (level - 3.0).to_numpy(),  # centred on the mean of the levels 1, 3, 5
            "image": kept["image"].astype(str).to_numpy(),
        }
    )
    model = smf.mixedlm("s ~ C(regularizer, Treatment('erm')) * level", data, groups=data["image"])
    ref = model.fit(reml=True, method=list(mixed.FIT_METHODS))
    # The optimiser is chosen for reaching the REML optimum: never below statsmodels' default.
    assert ref.converged and ref.llf >= model.fit(reml=True).llf - 1e-9
    coef = out[out["effect_size_name"] == "coefficient"].set_index("factor")
    assert list(coef.index) == list(ref.fe_params.index)
    np.testing.assert_allclose(coef["effect_size"], ref.fe_params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(coef["p_value"], ref.pvalues[ref.fe_params.index], rtol=1e-5)
    np.testing.assert_allclose(coef["statistic"], ref.tvalues[ref.fe_params.index], rtol=1e-5)
    ci = ref.conf_int(alpha=0.05).loc[ref.fe_params.index]
    np.testing.assert_allclose(coef["ci_lo"], ci[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(coef["ci_hi"], ci[1], rtol=1e-6, atol=1e-9)
    assert (coef["level_center"] == 3.0).all() and (coef["n"] == len(data)).all()
    # statsmodels' absolute "boundary" warning (variance < 0.01) is not echoed for a real variance
    assert (coef["note"] == "").all()
    var = out[out["factor"] == "image variance"].squeeze()
    assert var["effect_size"] == pytest.approx(float(ref.cov_re.iloc[0, 0]), rel=1e-5)


def test_planted_regularizer_effect_is_recovered(planted):
    out = mixedlm_tests(planted, alpha=0.05)
    vat = out[out["factor"] == "C(regularizer, Treatment('erm'))[T.vat]"].squeeze()
    assert vat["group_a"] == "vat" and vat["group_b"] == "erm"
    assert vat["effect_size"] > 0 and vat["p_value"] < 0.05 and vat["significant"]
    assert vat["ci_lo"] < 0.05 < vat["ci_hi"]
    glow = out[out["factor"] == "C(regularizer, Treatment('erm'))[T.lvat_glow]"].squeeze()
    assert glow["ci_lo"] < 0 < glow["ci_hi"]  # nothing planted


def test_non_convergence_is_reported_not_dropped():
    df = synthetic_per_image(
        seed=12, n_images=12, methods=("gradcam",), regularizers=("erm", "vat"), noises=("g",)
    )
    df["ssim"] = 0.5  # no variance at all: the optimiser cannot converge
    out = mixedlm_tests(df)
    assert len(out) == 5  # 4 fixed effects + the image variance
    assert out["note"].str.contains("ConvergenceWarning").all()
    # one row per image: the random intercept is not identified, and the row says so
    lone = mixedlm_tests(
        synthetic_per_image(
            seed=13, n_images=12, methods=("gradcam",), regularizers=("erm", "vat")
        ).pipe(lambda d: d.assign(image=np.arange(len(d))))
    )
    assert len(lone) == 2 and lone["p_value"].isna().all()
    assert (lone["note"] == "one kept pair per image: the random intercept is not identified").all()


def test_a_failing_fit_becomes_one_row_with_its_reason(planted, monkeypatch):
    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(mixed.smf, "mixedlm", broken)
    out = mixedlm_tests(planted)
    row = out.squeeze()
    assert np.isnan(row["p_value"]) and row["note"] == "fit failed: LinAlgError: Singular matrix"


def test_strata_that_cannot_be_fitted_say_why(planted):
    no_ref = mixedlm_tests(planted[planted["regularizer"] != "erm"])
    assert "reference regularizer 'erm' absent" in no_ref["note"].squeeze()
    single = mixedlm_tests(planted[planted["regularizer"] == "erm"])
    assert "single regularizer" in single["note"].squeeze()
    few = mixedlm_tests(planted, min_pairs=10_000)
    assert "min_pairs=10000" in few["note"].squeeze()
    one_level = mixedlm_tests(planted[planted["level"] == "3"])
    assert "single level" in one_level["note"].iloc[0]
    assert not one_level["factor"].str.contains("level").any()
    with pytest.raises(ValueError, match="level 'severe' is not a finite number"):
        mixedlm_tests(planted.assign(level="severe"))
