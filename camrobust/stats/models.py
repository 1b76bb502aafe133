"""The regulariser effect with the trained model as the unit: a linear model on model means.

A regulariser is a training recipe; each training seed gives one model. Images measure a model
precisely but say nothing about how much a second seed would differ, so testing regularisers
with images as replicates compares particular networks, not recipes: under a pure seed effect
its false-positive rate is far above alpha (the calibration tests in tests/test_stats.py
measure it). Here each model contributes one value per stratum, its mean similarity over kept
pairs (with the levels pooled: the mean of its per-level means, so a model that flips more at
high levels is not rewarded for losing its least similar pairs). The values are compared by the
ordinary least squares model value ~ C(regularizer, Treatment(reference)): each coefficient is
a regulariser's difference from the reference, tested with the residual variance pooled over
every regulariser's seeds (df = models − regularisers), with a t interval at 1 − alpha.
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
from camrobust.stats.frames import POOLED, finish, join_notes, log_rows, strata, tag_families
from camrobust.stats.options import StatsOptions

log = logging.getLogger(__name__)

TEST = "model_ols"
STRATUM_KEYS = ("dataset", "arch", "method", "noise")
MODEL_STRATA = ("dataset", "arch", "method", "noise", "level", "measure")
MODEL_EXTRA = ("ci_lo", "ci_hi", "df", "n_models_a", "n_models_b", "mean_a", "mean_b")


def model_values(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """One row per (stratum, level, model): the kept-pair mean and count, in one pass.

    Rows for level "all" hold the mean of the model's per-level means (NaN if some level of the
    stratum has no kept pair of it) and the total count.
    """
    s = table[measure].to_numpy(dtype=float)
    use = table["kept"].to_numpy() & np.isfinite(s)
    keys = [*STRATUM_KEYS, "model", "regularizer", "level"]
    # Keys as strings: pandas' sum over several categorical keys can overflow its group codes.
    cells = (
        table[keys]
        .astype(str)
        .assign(total=np.where(use, s, 0.0), count=use.astype(np.int64))
        .groupby(keys, observed=True, sort=True)
        .sum()
        .reset_index()
    )
    cells["value"] = cells["total"] / cells["count"].where(cells["count"] > 0)
    levels = cells.groupby(list(STRATUM_KEYS), observed=True)["level"].transform("nunique")
    several = cells[levels > 1]
    by_model = several.groupby([*STRATUM_KEYS, "model", "regularizer"], observed=True, sort=True)
    pooled = by_model.agg(
        value=("value", lambda v: v.mean(skipna=False)), count=("count", "sum"), n=("level", "size")
    ).reset_index()
    # A model absent at a level of its stratum has no pooled value either.
    n_levels = several.groupby(list(STRATUM_KEYS), observed=True)["level"].nunique()
    full = pooled.set_index(list(STRATUM_KEYS)).index.map(n_levels).to_numpy() == pooled["n"]
    pooled.loc[~full, "value"] = np.nan
    pooled["level"] = POOLED
    columns = [*keys, "value", "count"]
    return pd.concat([cells[columns], pooled[columns]], ignore_index=True)


def treatment_rows(
    regs: np.ndarray, values: np.ndarray, reference: str, alpha: float
) -> list[dict]:
    """OLS of value on regulariser (treatment coding): a row per regulariser vs the reference.

    Closed form: the coefficients are group-mean differences, the residual variance is pooled
    within regularisers. Equal to statsmodels OLS on the same values (tests check it).
    """
    names, group = np.unique(regs, return_inverse=True)
    size = np.bincount(group)
    mean = np.bincount(group, values) / size
    df = int(len(values) - len(names))
    rss = float(((values - mean[group]) ** 2).sum())
    sigma2 = rss / df if df > 0 else np.nan
    quantile = stats.t.ppf(1 - alpha / 2, df) if df > 0 else np.nan
    ref = int(np.flatnonzero(names == reference)[0])
    rows = []
    for i, reg in enumerate(names):
        if i == ref:
            continue
        n_a, n_b = int(size[i]), int(size[ref])
        diff = float(mean[i] - mean[ref])
        se = float(np.sqrt(sigma2 * (1 / n_a + 1 / n_b))) if df > 0 else np.nan
        extra = {
            "df": df,
            "n_models_a": n_a,
            "n_models_b": n_b,
            "mean_a": float(mean[i]),
            "mean_b": float(mean[ref]),
            "ci_lo": np.nan,
            "ci_hi": np.nan,
        }
        kw = {"n": n_a + n_b, "effect_size_name": "mean_difference", "family": "pairwise"}
        if df < 1:
            note = (
                "one model per regularizer: the seed-to-seed variation is not measured, "
                "so the regularizer effect cannot be tested (train several seeds)"
            )
        elif not se > 0:
            note = "no variation between models: statistic undefined"
        else:
            t = diff / se
            p = 2.0 * stats.t.sf(abs(t), df)
            extra |= {"ci_lo": diff - quantile * se, "ci_hi": diff + quantile * se}
            row = result_row(TEST, "regularizer", str(reg), reference, **kw)
            rows.append(row | {"statistic": t, "p_value": p, "effect_size": diff} | extra)
            continue
        row = result_row(TEST, "regularizer", str(reg), reference, note=note, **kw)
        rows.append(row | {"effect_size": diff} | extra)
    return rows


def _stratum_rows(cells: pd.DataFrame, options: StatsOptions) -> list[dict]:
    """The rows of one stratum and level from its model cells, or one row saying why not."""
    regs = np.sort(cells["regularizer"].astype(str).unique())
    value = cells["value"].to_numpy(dtype=float)
    count = cells["count"].to_numpy()
    use = np.isfinite(value) & (count >= options.min_pairs)
    dropped = [
        f"{m} left out ({c} kept pairs{'' if np.isfinite(v) else ', none at some level'})"
        for m, c, v, u in zip(cells["model"], count, value, use, strict=True)
        if not u
    ]
    cell_regs = cells["regularizer"].astype(str).to_numpy()
    have = set(cell_regs[use])
    reason = ""
    if options.reference not in regs:
        reason = f"reference regularizer {options.reference!r} absent (have {', '.join(regs)})"
    elif len(regs) < 2:
        reason = f"single regularizer ({regs[0]}): nothing to compare"
    elif options.reference not in have:
        reason = f"no usable model of the reference {options.reference!r}"
    if reason:
        row = result_row(TEST, "regularizer", n=int(use.sum()), effect_size_name="mean_difference")
        return [row | {"note": join_notes(reason, *dropped)}]
    rows = treatment_rows(cell_regs[use], value[use], options.reference, options.alpha)
    for reg in sorted(set(regs) - have):
        note = f"no usable model of {reg}"
        kw = {"n": 0, "effect_size_name": "mean_difference", "family": "pairwise"}
        rows.append(result_row(TEST, "regularizer", reg, options.reference, note=note, **kw))
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
        cells = model_values(table, measure)
        by = [*STRATUM_KEYS, "level"]
        for stratum, sub in strata(cells, by, f"regularizer tests ({measure})", progress):
            head = {**stratum, "measure": measure}
            records.extend(tag_families(_stratum_rows(sub, options), head))
    out = finish(records, MODEL_STRATA, options, extra_columns=MODEL_EXTRA)
    return log_rows(log, "regularizer tests", out)
