"""The headline's pre-specified regulariser claims: one endpoint per model and noise family.

Per model and noise family the endpoint is the mean, over the CAM methods that explain (no
placebo; each group of methods with identical maps once, `frames.explaining_rows`) and the noise
levels, of its consistency on the headline measure (`report.measure`) over the images that every
model of its seed block kept (camrobust/stats/endpoints.py): one number per trained model,
fixed before the data are seen, averaging over the strata instead of picking one. Each
regulariser is compared with the reference by the seed-blocked OLS of
camrobust/stats/models.py, per (dataset, architecture, noise family); the claims of a dataset
(regularisers × families × architectures) form one Holm family. Each claim also gets:

- TOST equivalence with the smallest effect of interest δ (`claims.smallest_effect`): the two
  one-sided t tests of β ≤ −δ and β ≥ δ with the OLS estimate, SE and df; p_tost is the larger
  of the two p-values, Holm-adjusted over the same family; `equivalent` when it is below α
  (equivalently: the 1 − 2α interval lies within ±δ);
- the minimum detectable effect `mde`: the |β| a two-sided t test at level α/m (m claims in the
  family: Holm's first step, what it needs whatever the other claims show) finds with
  probability MDE_POWER, from the noncentral t with the claim's df and SE (σ̂ from the residuals);
- the per-arm means of the endpoint (mean_a, mean_b) and of the CAM layer's activation shift
  (shift_a, shift_b), so a difference in C can be read next to how far the features moved.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from camrobust.columns import POOLED_LEVEL
from camrobust.frames import explaining_rows
from camrobust.names import CLAIMS_TABLE, SENSITIVITY_TABLE
from camrobust.stats.endpoints import PRIMARY, cell_sums
from camrobust.stats.frames import finish
from camrobust.stats.models import MODEL_EXTRA, MODEL_STRATA, stratum_rows
from camrobust.stats.options import CLAIM_KEYS, ClaimOptions, claim_options
from camrobust.stats.sensitivity import sensitivity_tests
from camrobust.stats.validate import adjust, prepare_table

# 80 % power, the convention the minimum detectable effect is quoted at.
MDE_POWER = 0.8
MODEL_KEYS = (*CLAIM_KEYS, "model", "regularizer", "seed")
CLAIM_EXTRA = (
    *MODEL_EXTRA, "delta", "p_tost", "p_tost_adjusted", "equivalent", "mde", "mde_alpha",
    "shift_a", "shift_b", "n_methods", "n_levels", "claims",
)  # fmt: skip


def _shifts(table: pd.DataFrame) -> pd.Series:
    """Per model and noise family: the mean over levels of the mean activation shift."""
    if "feature_shift" not in table:
        return pd.Series(dtype=float)
    first = table[table["method"].astype(str) == table["method"].astype(str).min()]
    keys = [*MODEL_KEYS, "level"]
    per_level = first[keys].astype(str).assign(shift=first["feature_shift"].to_numpy(dtype=float))
    levels = per_level.groupby(keys, observed=True)["shift"].mean()
    return levels.groupby(list(MODEL_KEYS), observed=True).mean()


def headline_values(table: pd.DataFrame, measure: str, min_pairs: int) -> pd.DataFrame:
    """Per (dataset, arch, noise, model): `value`, the mean of the always-kept consistency over
    every (method, level) cell of its family, NaN (with `note`) unless each cell has at least
    `min_pairs` always-kept images; `count` its fewest, `n_methods`, `n_levels`, `shift`."""
    cells = cell_sums(table, measure)
    keys = list(MODEL_KEYS)
    grouped = cells.groupby(keys, observed=True, sort=True)
    out = grouped.agg(value=("c", "mean"), count=("n_common", "min"), n_cells=("c", "size"))
    out["n_methods"] = grouped["method"].nunique()
    out["n_levels"] = grouped["level"].nunique()
    out["n_short"] = (cells["n_common"] < min_pairs).groupby([cells[k] for k in keys]).sum()
    family = out.groupby(list(CLAIM_KEYS))
    expected = family["n_methods"].transform("max") * family["n_levels"].transform("max")
    short = (out["n_short"] > 0) | (out["n_cells"] < expected)
    out.loc[short, "value"] = np.nan
    out["note"] = np.where(
        short,
        out["n_short"].astype(str) + f" cells with fewer than min_pairs={min_pairs} images "
        "kept by every model of the seed, or a cell missing",
        "",
    )
    out["shift"] = _shifts(table).reindex(out.index)
    return out.reset_index()


def _arm_means(rows: list[dict], sub: pd.DataFrame, used: np.ndarray, reference: str) -> None:
    """Add each row's per-arm mean activation shift and its family's design counts."""
    regs = sub["regularizer"].to_numpy(dtype=object).astype(str)
    shift = sub["shift"].to_numpy(dtype=float)
    design = {"n_methods": int(sub["n_methods"].max()), "n_levels": int(sub["n_levels"].max())}
    for r in rows:
        for side, reg in (("a", r["group_a"]), ("b", reference)):
            arm = used & (regs == reg)
            r[f"shift_{side}"] = float(shift[arm].mean()) if arm.any() else np.nan
        r |= design


def claim_tests(values: pd.DataFrame, options: ClaimOptions) -> pd.DataFrame:
    """One row per (dataset, arch, noise family, regulariser vs reference) from
    `headline_values`: the seed-blocked OLS, Holm over the claims of each dataset (p_adjusted),
    TOST and the minimum detectable effect (`_equivalence_and_power`)."""
    records = []
    names = ("model", "regularizer", "seed")  # plain strings: fast per-family access
    values = values.assign(n_excluded=0, **{c: values[c].to_numpy(dtype=object) for c in names})
    for key, sub in values.groupby(list(CLAIM_KEYS), sort=True, observed=True):
        head = dict(zip(CLAIM_KEYS, key, strict=True))
        head |= {"method": POOLED_LEVEL, "level": POOLED_LEVEL, "measure": options.measure}
        rows = stratum_rows(sub, options.stats)
        used = np.isfinite(sub["value"].to_numpy(dtype=float)) & (
            sub["count"].to_numpy() >= options.min_pairs
        )
        _arm_means(rows, sub, used, options.reference)
        for r in rows:
            family = ("claims", head["dataset"]) if np.isfinite(r["p_value"]) else None
            records.append({**head, "endpoint": PRIMARY, **r, "family": family})
    out = finish(records, MODEL_STRATA, options.stats, extra_columns=CLAIM_EXTRA)
    out["correction_scope"] = "claims of the dataset"
    return _equivalence_and_power(out, options)


def minimum_detectable_effect(se: float, df: float, alpha: float, power: float) -> float:
    """The |effect| a two-sided t test at level `alpha` with `df` residual degrees of freedom
    and standard error `se` detects with probability `power` (noncentral t)."""
    if not (se > 0 and df > 0):
        return float("nan")
    return _noncentrality(float(df), float(alpha), float(power)) * se


@functools.lru_cache(maxsize=256)
def _noncentrality(df: float, alpha: float, power: float) -> float:
    """The noncentrality at which the two-sided t test has `power` (claims share their df)."""
    q = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(ncp: float) -> float:
        # the lower tail P(T ≤ −q) as P(T ≥ q) at −ncp: scipy's nct.cdf returns NaN for some
        # large noncentralities
        return stats.nct.sf(q, df, ncp) + stats.nct.sf(q, df, -ncp) - power

    high = 2.0 * q + 5.0  # power is above one half once the noncentrality passes q
    while shortfall(high) < 0 and high < 1e6:
        high *= 2.0
    return float(optimize.brentq(shortfall, 0.0, high))


def tost_p(estimate: np.ndarray, se: np.ndarray, df: np.ndarray, delta: float) -> np.ndarray:
    """Two one-sided t tests of |β| ≥ δ: the larger of P(T ≥ (β̂ + δ)/SE) and P(T ≤ (β̂ − δ)/SE)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = stats.t.sf((estimate + delta) / se, df)
        upper = stats.t.cdf((estimate - delta) / se, df)
    return np.maximum(lower, upper)


def _equivalence_and_power(out: pd.DataFrame, options: ClaimOptions) -> pd.DataFrame:
    """TOST against ±δ (Holm over each dataset's claims) and the MDE at α/m per claim."""
    est, se, df = (out[c].to_numpy(dtype=float) for c in ("effect_size", "se", "df"))
    tested = np.isfinite(out["p_value"].to_numpy(dtype=float))
    p_tost = np.where(tested, tost_p(est, se, df, options.smallest_effect), np.nan)
    claims = pd.Series(tested).groupby(out["dataset"].to_numpy()).transform("sum").to_numpy()
    claims = np.where(tested, claims, np.nan)
    adjusted = np.full(len(out), np.nan)
    for idx in pd.Series(np.arange(len(out))[tested]).groupby(out["dataset"][tested].to_numpy()):
        adjusted[idx[1].to_numpy()] = adjust(p_tost[idx[1].to_numpy()], "holm", options.alpha)
    level = options.alpha / claims
    out["delta"] = options.smallest_effect
    out["p_tost"] = p_tost
    out["p_tost_adjusted"] = adjusted
    out["mde"] = [
        minimum_detectable_effect(e, d, a, MDE_POWER) if t else np.nan
        for e, d, a, t in zip(se, df, level, tested, strict=True)
    ]
    out["mde_alpha"] = level
    out["claims"] = claims
    equivalent = pd.array(adjusted < options.alpha, dtype="boolean")
    equivalent[~np.isfinite(adjusted)] = pd.NA
    out["equivalent"] = equivalent
    return out


def run_claims(
    per_image: pd.DataFrame, params: Mapping[str, Any], reference: str
) -> dict[str, pd.DataFrame]:
    """The claims job: `claims` (claim_tests) and `sensitivity` (camrobust/stats/sensitivity.py)
    from the per-image table; `params` are the job's (options.CLAIM_CONFIG_KEYS)."""
    options = claim_options(params, reference)
    table = prepare_table(explaining_rows(per_image), (options.measure,))
    values = headline_values(table, options.measure, options.min_pairs)
    return {
        CLAIMS_TABLE: claim_tests(values, options),
        SENSITIVITY_TABLE: sensitivity_tests(values, options),
    }
