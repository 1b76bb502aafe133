"""The regulariser effect with the trained model as the unit: a linear model on model values.

A regulariser is a training recipe; each training seed gives one model. Images measure a model
precisely but say nothing about how much a second seed would differ, so testing regularisers
with images as replicates compares particular networks, not recipes: under a pure seed effect
its false-positive rate is far above alpha (the calibration tests in tests/test_stats.py
measure it). Here each model contributes one value per stratum and endpoint (camrobust/stats/
endpoints.py: C over the images every model of its seed kept, C over its own kept pairs, R, H,
RM, the within-level AUROC, the flip rate and the CAM layer's activation shift). The values are
compared by the ordinary least squares model value ~ C(regularizer, Treatment(reference)) +
C(seed): each
regulariser coefficient is its difference from the reference, tested with the residual variance
pooled over every regulariser's seeds, with a t interval at 1 − alpha.

The seed is a block: the workflow trains every regulariser of an architecture and training seed
from the same initial weights and the same batches (common random numbers), so the part of the
seed-to-seed variation they share cancels from every difference. Without shared seeds (each
seed under one regulariser only) the block terms are dropped and the model is the one-way
value ~ C(regularizer), df = models − regularisers. Either way the test is exact under normal
model effects; blocking costs degrees of freedom, (regularisers − 1)(seeds − 1) instead of
regularisers·(seeds − 1), and pays off as soon as a real share of the seed variance is common.
This assumes the seed variance is the same under every regulariser; with three seeds per
regulariser, Welch's unpooled test has about half the degrees of freedom and markedly less
power, which is why the pooled model is the primary test.

These strata are exploratory: the pre-specified claims of the headline are in
camrobust/stats/claims.py. Their p-values are adjusted by Benjamini-Hochberg over every tested
row of the table (EXPLORATORY), whatever `stats.correction` says for the other tables.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.stats.core import result_row
from camrobust.stats.endpoints import ENDPOINTS, METHOD_FREE, endpoint_values
from camrobust.stats.frames import POOLED, finish, join_notes, log_rows, strata, tag_families
from camrobust.stats.options import StatsOptions

log = logging.getLogger(__name__)

TEST = "model_ols"
STRATUM_KEYS = ("dataset", "arch", "method", "noise")
MODEL_STRATA = ("dataset", "arch", "method", "noise", "level", "measure", "endpoint")
MODEL_EXTRA = (
    "ci_lo", "ci_hi", "df", "n_models_a", "n_models_b", "mean_a", "mean_b", "seed_blocks",
    "seed_var_common", "seed_var_own", "se", "n_excluded", "count_min", "count_max",
)  # fmt: skip
# The regulariser strata are exploratory: false-discovery rate over the whole table.
EXPLORATORY = {"correction": "fdr_bh", "correction_scope": "study"}


def design(
    regs: np.ndarray, seeds: np.ndarray | None, reference: str
) -> tuple[np.ndarray, list[str], int]:
    """Design matrix: intercept, regulariser dummies (`names`, sorted, without the reference),
    then the seed blocks' dummies; also `names` and the number of blocks (0: none). No blocks
    unless some seed has models under two regularisers, and a degree of freedom and every
    regulariser survive them."""
    names = [r for r in np.unique(regs) if r != reference]
    plain = np.column_stack([np.ones(len(regs))] + [(regs == r).astype(float) for r in names])
    if seeds is None:
        return plain, names, 0
    blocks = np.unique(seeds)
    shared = any(len(np.unique(regs[seeds == b])) > 1 for b in blocks)
    x = np.column_stack([plain] + [(seeds == b).astype(float) for b in blocks[1:]])
    # Blocks must leave a degree of freedom and every regulariser estimable.
    if not shared or len(regs) <= x.shape[1] or np.linalg.matrix_rank(x) < x.shape[1]:
        return plain, names, 0
    return x, names, len(blocks)


def fit_ols(x: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares coefficients and residual sum of squares."""
    coef = np.linalg.lstsq(x, values, rcond=None)[0]
    resid = values - x @ coef
    return coef, float(resid @ resid)


def _seed_variances(x: np.ndarray, values: np.ndarray, blocks: int, n_regs: int, rss: float):
    """Method-of-moments variance components of a model value: (common to a seed's models, own
    to a model). E[MS seed] = σ²_own + k·σ²_common with k models per block, E[MS residual] =
    σ²_own; unbiased, so σ²_common may come out negative: pool over strata before taking a ratio.
    NaN without blocks or residual degrees of freedom (then seed_blocks or the note says why)."""
    df = len(values) - x.shape[1]
    if blocks < 2 or df < 1:
        return np.nan, np.nan
    ms_resid = rss / df
    ms_seed = (fit_ols(x[:, :n_regs], values)[1] - rss) / (blocks - 1)
    return float((ms_seed - ms_resid) / (len(values) / blocks)), float(ms_resid)


def treatment_rows(
    regs: np.ndarray,
    values: np.ndarray,
    reference: str,
    alpha: float,
    seeds: np.ndarray | None = None,
) -> list[dict]:
    """OLS of value on regulariser (treatment coding) and seed blocks: a row per regulariser vs
    the reference. Equal to statsmodels OLS on the same formula (tests check it)."""
    regs = np.asarray(regs).astype(str)
    x, names, blocks = design(
        regs, None if seeds is None else np.asarray(seeds).astype(str), reference
    )
    coef, rss = fit_ols(x, values)
    df = int(len(values) - x.shape[1])
    sigma2 = rss / df if df > 0 else np.nan
    var_common, var_own = _seed_variances(x, values, blocks, len(names) + 1, rss)
    # Full column rank (each regulariser has a model; blocks only when estimable): X'X inverts.
    cov = np.linalg.inv(x.T @ x) * sigma2 if df > 0 else None
    quantile = stats.t.ppf(1 - alpha / 2, df) if df > 0 else np.nan
    ref_mean = float(values[regs == reference].mean())
    rows = []
    for i, reg in enumerate(names, start=1):
        n_a, n_b = int((regs == reg).sum()), int((regs == reference).sum())
        diff = float(coef[i])
        se = float(np.sqrt(cov[i, i])) if cov is not None else np.nan
        extra = {
            "df": df,
            "n_models_a": n_a,
            "n_models_b": n_b,
            "mean_a": float(values[regs == reg].mean()),
            "mean_b": ref_mean,
            "seed_blocks": blocks,
            "seed_var_common": var_common,
            "seed_var_own": var_own,
            "ci_lo": np.nan,
            "ci_hi": np.nan,
            "se": se,
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


def stratum_rows(cells: pd.DataFrame, options: StatsOptions) -> list[dict]:
    """The rows of one stratum and level from its model cells, or one row saying why not."""
    # Plain arrays once: element access on pandas' Arrow-backed strings is slow in a loop.
    cell_regs = cells["regularizer"].to_numpy(dtype=object).astype(str)
    regs = np.unique(cell_regs)
    value = cells["value"].to_numpy(dtype=float)
    count = cells["count"].to_numpy()
    use = np.isfinite(value) & (count >= options.min_pairs)
    dropped = [
        f"{m} left out ({c} pairs{'' if np.isfinite(v) else ', no value (at some level)'})"
        for m, c, v, u in zip(cells["model"].to_numpy(dtype=object), count, value, use, strict=True)
        if not u
    ]
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
    seeds = cells["seed"].to_numpy(dtype=object)[use]
    rows = treatment_rows(cell_regs[use], value[use], options.reference, options.alpha, seeds)
    excluded = int(cells["n_excluded"].to_numpy()[use].sum())
    if excluded:
        dropped.append(f"{excluded} degenerate or NaN pairs left out")
    counts = {"count_min": int(count[use].min()), "count_max": int(count[use].max())}
    for r in rows:
        r |= {"n_excluded": excluded, **counts}
    for reg in sorted(set(regs) - have):
        note = f"no usable model of {reg}"
        kw = {"n": 0, "effect_size_name": "mean_difference", "family": "pairwise"}
        rows.append(result_row(TEST, "regularizer", reg, options.reference, note=note, **kw))
    for r in rows:
        r["note"] = join_notes(r["note"], *dropped)
    return rows


def regularizer_model_tests(
    table: pd.DataFrame,
    options: StatsOptions,
    progress: bool | None = None,
    endpoints: tuple[str, ...] = ENDPOINTS,
) -> pd.DataFrame:
    """Exploratory regulariser strata: each regulariser vs the reference, the model as the unit.

    Per (dataset, arch, method, noise, level, measure, endpoint) and with the levels pooled
    (level "all"): estimate (effect_size = the regulariser's coefficient, a difference of
    model values), its standard error `se` and interval (ci_lo, ci_hi at 1 − alpha), t
    statistic, p-value, df, and the models used per side (n). The endpoints that depend on
    neither method nor measure (flip rate, activation shift) have method and measure "all".
    p_adjusted: Benjamini-Hochberg over every tested row (EXPLORATORY).
    """
    records = []
    for i, measure in enumerate(options.measures):
        cells = endpoint_values(table, measure, method_free=i == 0, endpoints=endpoints)
        by = [*STRATUM_KEYS, "level", "endpoint"]
        for stratum, sub in strata(cells, by, f"regularizer tests ({measure})", progress):
            free = stratum["method"] == POOLED and stratum["endpoint"] in METHOD_FREE
            head = {**stratum, "measure": POOLED if free else measure}
            records.extend(tag_families(stratum_rows(sub, options), head))
    exploratory = replace(options, **EXPLORATORY)
    out = finish(records, MODEL_STRATA, exploratory, extra_columns=MODEL_EXTRA)
    return log_rows(log, "regularizer tests", out)
