"""Sensitivity analyses of the headline claims, written to results/stats/sensitivity.csv.

On the same model values as the claims (camrobust/stats/claims.py), per (dataset, architecture,
noise family), three checks of what the seed-blocked OLS assumes:

- `residual_sd`: per arm, the residual SD of the blocked OLS, σ̂²_arm = Σ_arm e² / Σ_arm (1 − h)
  (h the leverages): each is unbiased for a common σ², and the pooled σ̂² the claims use is
  their weighted mean; an arm whose SD stands out is where the equal-variance assumption fails;
- `randomization`: the within-block randomisation test of the global null (no regulariser
  changes anything): the regulariser F statistic of the blocked OLS over every arrangement of
  the regulariser labels within the seed blocks (Π_b k_b!: 4!³ = 13,824 for four regularisers
  and three seeds), p = the share at least as large as the observed one (the observed
  arrangement included); with more arrangements than `claims.permutations`, that many drawn at
  random (seeded) and p = (1 + #≥)/(1 + N). Without seed blocks the labels are permuted over
  all models;
- `paired_contrast`: per regulariser against the reference, the paired t test of the per-seed
  differences (df = seeds − 1): exact under normal differences whatever the arms' variances,
  at the cost of degrees of freedom.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.columns import POOLED_LEVEL
from camrobust.seeding import numpy_rng
from camrobust.stats.endpoints import PRIMARY
from camrobust.stats.models import design, fit_ols
from camrobust.stats.options import CLAIM_KEYS, ClaimOptions

SENSITIVITY_COLUMNS = (
    *CLAIM_KEYS, "measure", "endpoint", "analysis", "group_a", "group_b", "estimate",
    "statistic", "df", "p_value", "ci_lo", "ci_hi", "n", "n_permutations", "exact", "note",
)  # fmt: skip


def residual_sds(x: np.ndarray, regs: np.ndarray, values: np.ndarray) -> dict[str, tuple]:
    """Per arm: (residual SD, its effective df Σ(1 − h), models) of the OLS of values on x."""
    coef = np.linalg.lstsq(x, values, rcond=None)[0]
    resid = values - x @ coef
    leverage = np.einsum("ij,ji->i", x, np.linalg.pinv(x))
    out = {}
    for arm in np.unique(regs):
        share = float((1.0 - leverage[regs == arm]).sum())
        sd = math.sqrt(float((resid[regs == arm] ** 2).sum()) / share) if share > 1e-12 else np.nan
        out[str(arm)] = (sd, share, int((regs == arm).sum()))
    return out


def block_permutations(blocks: np.ndarray, limit: int, rng: np.random.Generator):
    """Index arrays (N × n) permuting positions within equal `blocks` labels: every arrangement
    when there are at most `limit` (exact, the identity first), else `limit` random ones."""
    groups = [np.flatnonzero(blocks == b) for b in np.unique(blocks)]
    total = math.prod(math.factorial(len(g)) for g in groups)
    if total <= limit:
        perms = np.arange(len(blocks))[None, :]
        for g in groups:
            orders = np.array(list(itertools.permutations(g)))  # identity first
            perms = np.repeat(perms, len(orders), axis=0)
            perms[:, g] = np.tile(orders, (len(perms) // len(orders), 1))
        return perms, True
    perms = np.tile(np.arange(len(blocks)), (limit, 1))
    for g in groups:
        perms[:, g] = rng.permuted(np.tile(g, (limit, 1)), axis=1)
    return perms, False


def randomization_test(
    x: np.ndarray, n_regs: int, values: np.ndarray, blocks: np.ndarray, limit: int, rng
) -> dict:
    """The F statistic of the regulariser columns 1..n_regs−1 of `x` and its within-block
    randomisation p-value (see the module docstring)."""
    df = len(values) - x.shape[1]
    reduced = np.delete(x, np.s_[1:n_regs], axis=1)
    rss1, rss0 = fit_ols(x, values)[1], fit_ols(reduced, values)[1]
    f = ((rss0 - rss1) / (n_regs - 1)) / (rss1 / df)
    perms, exact = block_permutations(blocks, limit, rng)
    hat = x @ np.linalg.pinv(x)
    resid = values[perms] - values[perms] @ hat.T
    rss = (resid**2).sum(axis=1)
    # The reduced model's RSS is the same for every arrangement: a larger F is a smaller RSS.
    extreme = int((rss <= rss1 * (1 + 1e-9) + 1e-300).sum())
    p = extreme / len(perms) if exact else (1 + extreme) / (1 + len(perms))
    return {"statistic": float(f), "p_value": p, "n_permutations": len(perms), "exact": exact}


def paired_contrast(a: np.ndarray, b: np.ndarray, alpha: float) -> dict:
    """Paired t test of a − b (aligned by seed): mean, t, df, p and the 1 − alpha interval."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n < 2 or not d.std(ddof=1) > 0:
        note = f"{n} paired seeds" if n < 2 else "no variation of the paired differences"
        return {"estimate": float(d.mean()) if n else np.nan, "n": n, "note": note}
    se = d.std(ddof=1) / math.sqrt(n)
    t = d.mean() / se
    q = stats.t.ppf(1 - alpha / 2, n - 1)
    return {
        "estimate": float(d.mean()), "statistic": float(t), "df": n - 1,
        "p_value": float(2 * stats.t.sf(abs(t), n - 1)), "ci_lo": float(d.mean() - q * se),
        "ci_hi": float(d.mean() + q * se), "n": n, "note": "",
    }  # fmt: skip


def _family_rows(sub: pd.DataFrame, options: ClaimOptions, rng: np.random.Generator) -> list[dict]:
    """The three analyses of one noise family's model values (usable models only)."""
    use = np.isfinite(sub["value"].to_numpy(dtype=float)) & (
        sub["count"].to_numpy() >= options.min_pairs
    )
    regs = sub["regularizer"].astype(str).to_numpy()[use]
    seeds = sub["seed"].astype(str).to_numpy()[use]
    values = sub["value"].to_numpy(dtype=float)[use]
    if options.reference not in regs or len(np.unique(regs)) < 2:
        note = f"needs the reference {options.reference!r} and another regulariser with a value"
        return [{"analysis": "randomization", "n": len(values), "note": note}]
    x, names, n_blocks = design(regs, seeds, options.reference)
    df = len(values) - x.shape[1]
    rows = []
    if df < 1:
        note = "one model per regularizer: no residual degrees of freedom"
        return [{"analysis": "randomization", "n": len(values), "note": note}]
    for arm, (sd, share, n) in residual_sds(x, regs, values).items():
        rows.append({"analysis": "residual_sd", "group_a": arm, "estimate": sd, "df": share,
                     "n": n, "note": ""})  # fmt: skip
    blocks = seeds if n_blocks else np.zeros(len(values), dtype=int)
    test = randomization_test(x, len(names) + 1, values, blocks, options.permutations, rng)
    rows.append({"analysis": "randomization", "n": len(values), "note": "", **test})
    by_seed = pd.Series(values, index=pd.MultiIndex.from_arrays([regs, seeds]))
    reference = by_seed.loc[options.reference]
    for reg in names:
        pair = pd.concat([by_seed.loc[reg], reference], axis=1, join="inner")
        contrast = paired_contrast(pair.iloc[:, 0], pair.iloc[:, 1], options.alpha)
        rows.append({"analysis": "paired_contrast", "group_a": reg,
                     "group_b": options.reference, **contrast})  # fmt: skip
    return rows


def sensitivity_tests(values: pd.DataFrame, options: ClaimOptions) -> pd.DataFrame:
    """The sensitivity rows (SENSITIVITY_COLUMNS) of every claim family of `values`
    (claims.headline_values); the random arrangements are seeded from the config seed and
    the family."""
    records = []
    for key, sub in values.groupby(list(CLAIM_KEYS), sort=True, observed=True):
        head = dict(zip(CLAIM_KEYS, key, strict=True))
        head |= {"measure": options.measure, "endpoint": PRIMARY}
        rng = numpy_rng(options.seed, "randomization", *key)
        records.extend({**head, **row} for row in _family_rows(sub, options, rng))
    out = pd.DataFrame.from_records(records, columns=list(SENSITIVITY_COLUMNS))
    out["note"] = out["note"].fillna("")
    return out.assign(method=POOLED_LEVEL, level=POOLED_LEVEL)
