"""The regulariser effect with the trained model as the unit: a linear model on model means.

A regulariser is a training recipe; each training seed gives one model. Images measure a model
precisely but say nothing about how much a second seed would differ, so testing regularisers
with images as replicates compares particular networks, not recipes (its false-positive rate
under a pure seed effect is far above alpha; see tests/test_stats_calibration.py). Here each
model contributes one value per stratum, its mean similarity over kept pairs (with the levels
pooled: the mean of its per-level means, so a model that flips more at high levels is not
rewarded for losing its least similar pairs). The values are compared with the ordinary least
squares model value ~ C(regularizer, Treatment(reference)): each coefficient is a regulariser's
difference from the reference, tested with the residual variance pooled over every
regulariser's seeds (df = models − regularisers), with a t interval at 1 − alpha.
This assumes the seed variance is the same under every regulariser; with three seeds per
regulariser, Welch's unpooled test has about half the degrees of freedom and markedly less
power, which is why the pooled model is the primary test.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.stats.core import result_row
from camrobust.stats.frames import finish, join_notes, log_rows, strata, tag_families
from camrobust.stats.options import StatsOptions

log = logging.getLogger(__name__)

POOLED = "all"
MODEL_STRATA = ("dataset", "arch", "method", "noise", "level", "measure")
MODEL_EXTRA = ("ci_lo", "ci_hi", "df", "n_models_a", "n_models_b", "mean_a", "mean_b")


def model_values(sub: pd.DataFrame, measure: str, min_pairs: int) -> tuple[pd.DataFrame, list[str]]:
    """One value per model of a stratum (kept-pair mean; pooled: mean of per-level means).

    Returns (model, regularizer, value) for the models with at least min_pairs kept pairs and a
    kept pair at every level of the stratum, and a note per model left out.
    """
    kept = sub[sub["kept"] & sub[measure].notna()]
    cells = kept.groupby(["model", "level"], observed=True)[measure].agg(["mean", "size"])
    levels = sorted(sub["level"].unique())
    means = cells["mean"].unstack("level").reindex(columns=levels)
    counts = cells["size"].unstack("level").reindex(columns=levels).fillna(0)
    models = sub.drop_duplicates("model").set_index("model")["regularizer"].astype(str)
    means = means.reindex(models.index)
    counts = counts.reindex(models.index).fillna(0)
    n_pairs = counts.sum(axis=1)
    no_level = means.isna().any(axis=1)
    few = n_pairs < min_pairs
    notes = [
        f"{m} left out ({int(n_pairs[m])} kept pairs"
        + (", none at some level" if no_level[m] else "")
        + ")"
        for m in models.index[(no_level | few).to_numpy()]
    ]
    use = ~(no_level | few)
    values = pd.DataFrame(
        {
            "model": models.index[use.to_numpy()],
            "regularizer": models[use].to_numpy(),
            "value": means[use].mean(axis=1).to_numpy(),
        }
    )
    return values, notes


def treatment_rows(values: pd.DataFrame, reference: str, alpha: float) -> list[dict]:
    """OLS of value on regulariser (treatment coding): a row per regulariser vs the reference.

    Closed form: the coefficients are group-mean differences, the residual variance is pooled
    within regularisers. Equal to statsmodels OLS on the same values (tests check it).
    """
    groups = values.groupby("regularizer")["value"]
    mean, size = groups.mean(), groups.size()
    df = int(len(values) - len(size))
    rss = float(((values["value"] - groups.transform("mean")) ** 2).sum())
    sigma2 = rss / df if df > 0 else np.nan
    quantile = stats.t.ppf(1 - alpha / 2, df) if df > 0 else np.nan
    rows = []
    for reg in sorted(size.index):
        if reg == reference:
            continue
        n_a, n_b = int(size[reg]), int(size[reference])
        head = {"n": n_a + n_b, "effect_size_name": "mean_difference", "family": "pairwise"}
        extra = {
            "df": df,
            "n_models_a": n_a,
            "n_models_b": n_b,
            "mean_a": float(mean[reg]),
            "mean_b": float(mean[reference]),
        }
        diff = float(mean[reg] - mean[reference])
        if df < 1:
            note = (
                "one model per regularizer: the seed-to-seed variation is not measured, "
                "so the regularizer effect cannot be tested (train several seeds)"
            )
            rows.append(
                result_row(
                    "model_ols", "regularizer", reg, reference, effect_size=diff, note=note, **head
                )
                | extra
                | {"ci_lo": np.nan, "ci_hi": np.nan}
            )
            continue
        se = float(np.sqrt(sigma2 * (1 / n_a + 1 / n_b)))
        if not se > 0:
            rows.append(
                result_row(
                    "model_ols",
                    "regularizer",
                    reg,
                    reference,
                    effect_size=diff,
                    note="no variation between models: statistic undefined",
                    **head,
                )
                | extra
                | {"ci_lo": np.nan, "ci_hi": np.nan}
            )
            continue
        t = diff / se
        rows.append(
            result_row(
                "model_ols",
                "regularizer",
                reg,
                reference,
                statistic=t,
                p_value=2.0 * stats.t.sf(abs(t), df),
                effect_size=diff,
                **head,
            )
            | extra
            | {"ci_lo": diff - quantile * se, "ci_hi": diff + quantile * se}
        )
    return rows


def _stratum_rows(sub: pd.DataFrame, measure: str, options: StatsOptions) -> list[dict]:
    """The rows of one stratum, or one row saying why it has none."""
    values, dropped = model_values(sub, measure, options.min_pairs)
    regs = sorted(sub["regularizer"].astype(str).unique())
    have = set(values["regularizer"])
    reason = ""
    if options.reference not in regs:
        reason = f"reference regularizer {options.reference!r} absent (have {', '.join(regs)})"
    elif len(regs) < 2:
        reason = f"single regularizer ({regs[0]}): nothing to compare"
    elif options.reference not in have:
        reason = f"no usable model of the reference {options.reference!r}"
    if reason:
        row = result_row(
            "model_ols", "regularizer", n=len(values), effect_size_name="mean_difference"
        )
        return [row | {"note": join_notes(reason, *dropped)}]
    rows = treatment_rows(values, options.reference, options.alpha)
    for reg in sorted(set(regs) - have):
        rows.append(
            result_row(
                "model_ols",
                "regularizer",
                reg,
                options.reference,
                n=0,
                effect_size_name="mean_difference",
                note=f"no usable model of {reg}",
                family="pairwise",
            )
        )
    for r in rows:
        r["note"] = join_notes(r["note"], *dropped)
    return rows


def regularizer_model_tests(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Primary regulariser test: each regulariser vs the reference, with the model as the unit.

    Per (dataset, arch, method, noise, level, measure) and with the levels pooled (level "all"):
    estimate (effect_size = difference of the regularisers' mean model values), its interval
    (ci_lo, ci_hi at 1 − alpha), t statistic, p-value, df, and the models used per side (n).
    The rows of one stratum form one correction family under the scope `stratum`.
    """
    records = []
    for measure in options.measures:
        keys = ("dataset", "arch", "method", "noise")
        for stratum, sub in strata(table, keys, f"regularizer tests ({measure})", progress):
            parts = [(level, part) for level, part in sub.groupby("level", sort=True)]
            if len(parts) > 1:
                parts.append((POOLED, sub))
            for level, part in parts:
                head = {**stratum, "level": level, "measure": measure}
                records.extend(tag_families(_stratum_rows(part, measure, options), head))
    out = finish(records, MODEL_STRATA, options, extra_columns=MODEL_EXTRA)
    return log_rows(log, "regularizer tests", out)
