"""Mixed model of the regulariser effect with crossed random effects for image and model.

similarity ~ C(regularizer, Treatment(reference)) * level, with variance components for the
image (every model sees the same images), for the model within its regulariser (the training
seed) and for the model's own slope over level, fitted by REML in one statsmodels MixedLM group
(crossed effects are variance components of a single group). The regulariser coefficients are
therefore judged against seed-to-seed variation, not only against image noise. Inference is
statsmodels' Wald z, which is optimistic with a handful of models per regulariser: the primary
regulariser test is the linear model on model means (stats/models.py).
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLMResults
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from camrobust.stats.core import result_row
from camrobust.stats.frames import (
    finish,
    join_notes,
    label,
    log_rows,
    nan_note,
    strata,
    tag_families,
)
from camrobust.stats.options import StatsOptions
from camrobust.stats.validate import numeric_levels

log = logging.getLogger(__name__)

MIXED_STRATA = ("dataset", "arch", "method", "noise", "measure")
MIXED_EXTRA = ("ci_lo", "ci_hi", "level_center")
_TERM_LEVEL = re.compile(r"\[T\.(.+?)\]")
_BOUNDARY = "The MLE may be on the boundary of the parameter space."
# Below this share of the total variance a variance component is taken to sit at zero.
BOUNDARY_SHARE = 1e-3
# Powell first: the model-slope variance often sits at zero, where the gradient methods (and
# statsmodels' default bfgs) stop short of the REML optimum without converging; they remain
# fallbacks. Cost per fit: docs/metric.md, "Statistics".
FIT_METHODS = ("powell", "lbfgs", "bfgs")
# The variance components: name -> patsy formula (the slope only when there are several levels).
VARIANCE_COMPONENTS = {
    "image": "0 + C(image)",
    "model": "0 + C(model)",
    "model_slope": "0 + C(model):level",
}
SINGLE_MODEL_NOTE = (
    "one model per regularizer: no model variance, so the regularizer terms compare these "
    "particular models, not regularizers (train several seeds)"
)


def mixed_formula(reference: str, with_level: bool) -> str:
    """The fixed-effect formula; `s` is the similarity, `level` the centred numeric level."""
    reg = f"C(regularizer, Treatment({reference!r}))"
    return f"s ~ {reg} * level" if with_level else f"s ~ {reg}"


def variance_components(with_level: bool, with_model: bool) -> dict[str, str]:
    """The vc_formula of a stratum: image always; model (and its slope) when identifiable."""
    names = ["image"]
    if with_model:
        names += ["model", "model_slope"] if with_level else ["model"]
    return {name: VARIANCE_COMPONENTS[name] for name in names}


def mixed_data(sub: pd.DataFrame, measure: str) -> tuple[pd.DataFrame, float]:
    """Kept pairs as (s, regularizer, model, level centred on the mean of its levels, image)."""
    kept = sub[sub["kept"] & sub[measure].notna()]
    level = numeric_levels(kept["level"])
    center = float(np.mean(np.unique(level))) if len(level) else np.nan
    data = pd.DataFrame(
        {
            "s": kept[measure].to_numpy(dtype=float),
            "regularizer": kept["regularizer"].astype(str).to_numpy(),
            "model": kept["model"].astype(str).to_numpy(),
            "level": (level - center).to_numpy(),
            "image": kept["image"].astype(str).to_numpy(),
        }
    )
    return data, center


def _fit_note(
    caught: list[warnings.WarningMessage],
    result: MixedLMResults,
    vcomp: dict[str, float],
    notes: list[str],
) -> str:
    """The fit's convergence warnings, variance components `vcomp` at the boundary, `notes`."""
    conv = [str(w.message).splitlines()[0] for w in caught if w.category is ConvergenceWarning]
    # statsmodels flags "boundary" whenever a variance is < 0.01 in absolute terms, which is
    # every fit on [0, 1] similarities; judge it relative to the total variance instead.
    conv = [m for m in conv if not m.startswith(_BOUNDARY)]
    total = sum(vcomp.values()) + float(result.scale)
    zero = [name for name, v in vcomp.items() if v <= BOUNDARY_SHARE * total]
    if zero:
        conv.append(f"{_BOUNDARY} ({', '.join(zero)} variance ~0)")
    if not result.converged and not conv:
        conv = ["optimizer did not converge"]
    return join_notes(*(f"ConvergenceWarning: {m}" for m in dict.fromkeys(conv)), *notes)


def _coefficient_rows(
    result: MixedLMResults, reference: str, n: int, fit_note: str, alpha: float
) -> list[dict]:
    """A row per fixed-effect coefficient with its z statistic, p-value and interval."""
    ci = result.conf_int(alpha=alpha)
    rows = []
    for term in result.fe_params.index:
        match = _TERM_LEVEL.search(term)
        p = float(result.pvalues[term])
        rows.append(
            result_row(
                "mixedlm",
                term,
                match.group(1) if match else "",
                reference if match else "",
                n=n,
                effect_size_name="coefficient",
                statistic=float(result.tvalues[term]),
                p_value=p,
                effect_size=float(result.fe_params[term]),
                note=join_notes(fit_note, "" if np.isfinite(p) else "p-value undefined"),
                family=None if term == "Intercept" else "terms",
            )
            | {"ci_lo": float(ci.loc[term, 0]), "ci_hi": float(ci.loc[term, 1])}
        )
    return rows


def _variance_rows(vcomp: dict[str, float], n: int, fit_note: str) -> list[dict]:
    """A row per variance component (estimated, not tested)."""
    return [
        result_row(
            "mixedlm",
            f"{name.replace('_', ' ')} variance",
            n=n,
            effect_size_name="variance",
            effect_size=var,
            note=join_notes("variance component, not tested", fit_note),
            family=None,
        )
        for name, var in vcomp.items()
    ]


def _fit_rows(data: pd.DataFrame, reference: str, center: float, alpha: float) -> list[dict]:
    """Fit one stratum's MixedLM and return a row per coefficient, or one row with the reason."""
    with_level = data["level"].nunique() > 1
    with_model = bool((data.groupby("regularizer")["model"].nunique() > 1).any())
    formula = mixed_formula(reference, with_level)
    notes = [
        "" if with_level else "single level: level terms omitted",
        "" if with_model else SINGLE_MODEL_NOTE,
    ]
    n = len(data)
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            model = smf.mixedlm(
                formula,
                data,
                groups=np.zeros(n),
                re_formula="0",
                vc_formula=variance_components(with_level, with_model),
            )
            result = model.fit(reml=True, method=list(FIT_METHODS))
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as err:
        reason = str(err).splitlines()[0] if str(err) else ""
        note = join_notes(f"fit failed: {type(err).__name__}: {reason}", *notes)
        return [result_row("mixedlm", "fit", n=n, effect_size_name="coefficient", note=note)]
    names = list(model.exog_vc.names)
    vcomp = dict(zip(names, np.asarray(result.vcomp, dtype=float), strict=True))
    fit_note = _fit_note(caught, result, vcomp, notes)
    rows = _coefficient_rows(result, reference, n, fit_note, alpha)
    rows += _variance_rows(vcomp, n, fit_note)
    for r in rows:
        r["level_center"] = center
    return rows


def _reason(data: pd.DataFrame, regs: list[str], reference: str, min_pairs: int) -> str:
    """Why a stratum cannot be fitted ('' when it can)."""
    if reference not in regs:
        return f"reference regularizer {reference!r} absent (have {', '.join(regs)})"
    if len(regs) < 2:
        return f"single regularizer ({regs[0]}): nothing to compare"
    if len(data) < min_pairs:
        return f"{len(data)} kept pairs < min_pairs={min_pairs}"
    if data["image"].nunique() < 2:
        return "fewer than 2 images: no image variance"
    if data["image"].nunique() == len(data):
        # The image variance would be confounded with the residual one.
        return "one kept pair per image: the image variance is not identified"
    if data["regularizer"].nunique() < len(regs):
        missing = sorted(set(regs) - set(data["regularizer"]))
        return f"no kept pairs under {', '.join(missing)}"
    return ""


def mixedlm_tests(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Detailed regulariser model per (dataset, arch, method, noise, measure) on kept pairs.

    Level is numeric and centred on the mean of the stratum's distinct levels (column
    level_center), so a regulariser's main effect is its difference from the reference at a
    typical level and its ":level" term the difference in slope. Every fixed-effect coefficient
    is a row with its z statistic, p-value and interval at 1 − alpha, then one row per variance
    component. Under the scope `stratum` the non-intercept terms of one fit are one family. A fit
    that fails or does not converge keeps its rows with the reason in `note`.
    """
    records = []
    for measure in options.measures:
        keys = ("dataset", "arch", "method", "noise")
        for stratum, sub in strata(table, keys, f"mixed models ({measure})", progress):
            head = {**stratum, "measure": measure}
            data, center = mixed_data(sub, measure)
            regs = sorted(sub["regularizer"].astype(str).unique())
            reason = _reason(data, regs, options.reference, options.min_pairs)
            if reason:
                row = result_row("mixedlm", "fit", n=len(data), effect_size_name="coefficient")
                row |= {"note": reason, "ci_lo": np.nan, "ci_hi": np.nan, "level_center": center}
                records.extend(tag_families([row], head))
                continue
            rows = _fit_rows(data, options.reference, center, options.alpha)
            left_out = int((sub["kept"] & sub[measure].isna()).sum())
            for r in rows:
                r["note"] = join_notes(r["note"], nan_note(left_out))
            records.extend(tag_families(rows, head))
            log.debug("mixed model fitted for %s", label(head))
    out = finish(records, MIXED_STRATA, options, extra_columns=MIXED_EXTRA)
    return log_rows(log, "mixed models", out)
