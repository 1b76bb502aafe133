"""Mixed model of the regulariser effect: similarity ~ regulariser × level + (1 | image)."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from camrobust.stats.core import result_row
from camrobust.stats.frames import finish, join_notes, label, log_rows, strata
from camrobust.stats.validate import adjust, check_options, check_per_image, numeric_levels

log = logging.getLogger(__name__)

MIXED_STRATA = ("dataset", "arch", "method", "noise", "measure")
MIXED_EXTRA = ("ci_lo", "ci_hi", "level_center")
_TERM_LEVEL = re.compile(r"\[T\.(.+?)\]")
_BOUNDARY = "The MLE may be on the boundary of the parameter space."
# Below this share of the total variance the random intercept is taken to sit at zero.
BOUNDARY_SHARE = 1e-3
# Powell first, gradient methods as fallbacks. On [0, 1] similarities the variances are ~1e-4,
# and statsmodels' default (bfgs) often stopped short of the REML optimum, and took longer
# (measured in docs/performance.md).
FIT_METHODS = ("powell", "lbfgs", "bfgs")


def mixed_formula(reference: str, with_level: bool) -> str:
    """The model formula; `s` is the similarity, `level` the centred numeric level."""
    reg = f"C(regularizer, Treatment({reference!r}))"
    return f"s ~ {reg} * level" if with_level else f"s ~ {reg}"


def mixed_data(sub: pd.DataFrame, measure: str) -> tuple[pd.DataFrame, float]:
    """Kept pairs as (s, regularizer, level centred on the mean of its distinct values, image)."""
    kept = sub[sub["kept"] & sub[measure].notna()]
    level = numeric_levels(kept["level"])
    center = float(np.mean(np.unique(level))) if len(level) else np.nan
    data = pd.DataFrame(
        {
            "s": kept[measure].to_numpy(dtype=float),
            "regularizer": kept["regularizer"].astype(str).to_numpy(),
            "level": (level - center).to_numpy(),
            "image": kept["image"].astype(str).to_numpy(),
        }
    )
    return data, center


def _fit_rows(
    data: pd.DataFrame,
    reference: str,
    center: float,
    *,
    alpha: float,
    correction: str,
) -> list[dict]:
    """Fit one stratum's MixedLM and return a row per coefficient, or one row with the reason."""
    with_level = data["level"].nunique() > 1
    formula = mixed_formula(reference, with_level)
    level_note = "" if with_level else "single level: level terms omitted"
    n = len(data)
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            model = smf.mixedlm(formula, data, groups=data["image"])
            result = model.fit(reml=True, method=list(FIT_METHODS))
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as err:
        reason = str(err).splitlines()[0] if str(err) else ""
        note = join_notes(f"fit failed: {type(err).__name__}: {reason}", level_note)
        return [result_row("mixedlm", "fit", n=n, effect_size_name="coefficient", note=note)]
    conv = [str(w.message).splitlines()[0] for w in caught if w.category is ConvergenceWarning]
    # statsmodels flags "boundary" whenever the variance is < 0.01 in absolute terms, which is
    # every fit on [0, 1] similarities; judge it relative to the residual variance instead.
    conv = [m for m in conv if not m.startswith(_BOUNDARY)]
    var = float(result.cov_re.iloc[0, 0])
    if var < BOUNDARY_SHARE * (var + float(result.scale)):
        conv.append(f"{_BOUNDARY} (image variance ~0)")
    if not result.converged and not conv:
        conv = ["optimizer did not converge"]
    fit_note = join_notes(*(f"ConvergenceWarning: {m}" for m in dict.fromkeys(conv)), level_note)
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
            )
            | {"ci_lo": float(ci.loc[term, 0]), "ci_hi": float(ci.loc[term, 1])}
        )
    p_adj = adjust([r["p_value"] for r in rows[1:]], correction, alpha)
    for r, p in zip(rows[1:], p_adj, strict=True):
        r["p_adjusted"] = float(p)
    rows.append(
        result_row(
            "mixedlm",
            "image variance",
            n=n,
            effect_size_name="variance",
            effect_size=var,
            note=join_notes("random-intercept variance, not tested", fit_note),
        )
    )
    for r in rows:
        r["level_center"] = center
    return rows


def mixedlm_tests(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    reference: str = "erm",
    progress: bool | None = None,
) -> pd.DataFrame:
    """MixedLM s ~ C(regularizer, Treatment(reference)) * level + random intercept per image.

    Per (dataset, arch, method, noise, measure) on kept pairs; level is numeric and centred on
    the mean of the stratum's distinct levels (column level_center), so a regulariser's main
    effect is its difference from the reference at a typical level. Every fixed-effect
    coefficient is a row with its z statistic, p-value, and CI at 1 − alpha; p_adjusted corrects
    the non-intercept terms of one fit. A fit that fails or does not converge keeps its rows with
    the reason in `note`.
    """
    df = check_per_image(per_image, measures)
    alpha, correction, min_pairs = check_options(alpha, correction, min_pairs)
    records = []
    for measure in measures:
        keys = ("dataset", "arch", "method", "noise")
        for stratum, sub in strata(df, keys, f"mixed models ({measure})", progress):
            head = {**stratum, "measure": measure}
            data, center = mixed_data(sub, measure)
            regs = sorted(sub["regularizer"].astype(str).unique())
            reason = ""
            if reference not in regs:
                reason = f"reference regularizer {reference!r} absent (have {', '.join(regs)})"
            elif len(regs) < 2:
                reason = f"single regularizer ({regs[0]}): nothing to compare"
            elif len(data) < min_pairs:
                reason = f"{len(data)} kept pairs < min_pairs={min_pairs}"
            elif data["image"].nunique() < 2:
                reason = "fewer than 2 images: no random intercept"
            elif data["image"].nunique() == len(data):
                # The image variance would be confounded with the residual one.
                reason = "one kept pair per image: the random intercept is not identified"
            elif data["regularizer"].nunique() < len(regs):
                missing = sorted(set(regs) - set(data["regularizer"]))
                reason = f"no kept pairs under {', '.join(missing)}"
            if reason:
                row = result_row("mixedlm", "fit", n=len(data), effect_size_name="coefficient")
                row |= {"note": reason, "ci_lo": np.nan, "ci_hi": np.nan, "level_center": center}
                records.append({**head, **row})
                continue
            for row in _fit_rows(data, reference, center, alpha=alpha, correction=correction):
                records.append({**head, **row})
            log.debug("mixed model fitted for %s", label(head))
    out = finish(
        records,
        MIXED_STRATA,
        across_strata=(),
        correction=correction,
        alpha=alpha,
        extra_columns=MIXED_EXTRA,
    )
    return log_rows(log, "mixed models", out)
