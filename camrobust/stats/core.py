"""One stratum's tests (omnibus + pairwise) as result rows, with a reason when one is not run.

Each row names its correction family in `family`: "omnibus" rows are corrected across the strata
of a measure, "pairwise" rows within their stratum (see frames.tag_families and frames.finish).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.stats import effects

ROW_COLUMNS = (
    "test",
    "factor",
    "group_a",
    "group_b",
    "statistic",
    "p_value",
    "p_adjusted",
    "significant",
    "effect_size",
    "effect_size_name",
    "n",
    "note",
)


def result_row(
    test: str,
    factor: str,
    group_a: str = "",
    group_b: str = "",
    *,
    n: int,
    effect_size_name: str,
    statistic: float = np.nan,
    p_value: float = np.nan,
    effect_size: float = np.nan,
    note: str = "",
    family: str | None = "omnibus",
) -> dict:
    """A result row; p_adjusted and significant are filled once the family is known."""
    return {
        "family": family,
        "test": test,
        "factor": factor,
        "group_a": group_a,
        "group_b": group_b,
        "statistic": float(statistic),
        "p_value": float(p_value),
        "p_adjusted": np.nan,
        "significant": pd.NA,
        "effect_size": float(effect_size),
        "effect_size_name": effect_size_name,
        "n": int(n),
        "note": note,
    }


def _quiet(fn, *args, **kwargs):
    """Call a scipy test with its warnings silenced; undefined results are checked by the caller."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _undefined(statistic: float, p_value: float) -> bool:
    return not (np.isfinite(statistic) and np.isfinite(p_value))


def _friedman_row(values: np.ndarray, factor: str, min_pairs: int, few: str) -> dict:
    """Friedman's omnibus test over the columns of `values` (k ≥ 2 groups), or why not."""
    n, k = values.shape
    if k < 3:
        return result_row(
            "friedman",
            factor,
            n=n,
            effect_size_name="kendalls_w",
            note=f"Friedman needs at least 3 groups, got {k}; see the pairwise Wilcoxon row",
        )
    if n < min_pairs:
        return result_row("friedman", factor, n=n, effect_size_name="kendalls_w", note=few)
    res = _quiet(stats.friedmanchisquare, *values.T)
    if _undefined(res.statistic, res.pvalue):
        return result_row(
            "friedman",
            factor,
            n=n,
            effect_size_name="kendalls_w",
            note="every block tied across groups: statistic undefined",
        )
    return result_row(
        "friedman",
        factor,
        n=n,
        effect_size_name="kendalls_w",
        statistic=res.statistic,
        p_value=res.pvalue,
        effect_size=effects.kendalls_w(res.statistic, n, k),
    )


def _wilcoxon_row(
    a: np.ndarray, b: np.ndarray, factor: str, pair: tuple[str, str], min_pairs: int, few: str
) -> dict:
    """The pairwise Wilcoxon signed-rank test of paired samples `a` and `b`, or why not."""
    n = len(a)
    kw = {"n": n, "effect_size_name": "rank_biserial", "family": "pairwise"}
    if n < min_pairs:
        return result_row("wilcoxon", factor, *pair, note=few, **kw)
    if np.all(a == b):
        return result_row("wilcoxon", factor, *pair, note="all paired differences are zero", **kw)
    res = _quiet(stats.wilcoxon, a, b)
    if _undefined(res.statistic, res.pvalue):
        return result_row("wilcoxon", factor, *pair, note="Wilcoxon statistic undefined", **kw)
    return result_row(
        "wilcoxon",
        factor,
        *pair,
        statistic=res.statistic,
        p_value=res.pvalue,
        effect_size=effects.paired_rank_biserial(a, b),
        **kw,
    )


def paired_family(
    wide: pd.DataFrame,
    factor: str,
    *,
    min_pairs: int,
) -> list[dict]:
    """Friedman over the columns of `wide` (rows are complete blocks), then pairwise Wilcoxon."""
    groups = [str(g) for g in wide.columns]
    values = wide.to_numpy(dtype=float)
    n, k = values.shape
    few = f"{n} complete blocks < min_pairs={min_pairs}"
    if k < 2:
        note = f"single {factor} ({', '.join(groups) or 'none'}): nothing to compare"
        return [result_row("friedman", factor, n=n, effect_size_name="kendalls_w", note=note)]
    omnibus = _friedman_row(values, factor, min_pairs, few)
    pairwise = [
        _wilcoxon_row(values[:, i], values[:, j], factor, (groups[i], groups[j]), min_pairs, few)
        for i, j in itertools.combinations(range(k), 2)
    ]
    return [omnibus, *pairwise]


def mann_whitney_row(
    kept: np.ndarray, flipped: np.ndarray, *, min_pairs: int, family: str = "omnibus"
) -> dict:
    """Two-sided Mann-Whitney U of kept vs flipped similarity, AUROC = U/(n_kept n_flipped)."""
    a = np.asarray(kept, dtype=float)
    b = np.asarray(flipped, dtype=float)
    kw = {"n": a.size + b.size, "effect_size_name": "auroc", "family": family}
    names = ("kept", "kept", "flipped")
    if a.size < min_pairs or b.size < min_pairs:
        note = f"kept n={a.size}, flipped n={b.size}: each needs min_pairs={min_pairs}"
        return result_row("mann_whitney", *names, note=note, **kw)
    res = _quiet(stats.mannwhitneyu, a, b, alternative="two-sided")
    if _undefined(res.statistic, res.pvalue):
        return result_row("mann_whitney", *names, note="Mann-Whitney statistic undefined", **kw)
    return result_row(
        "mann_whitney",
        *names,
        statistic=res.statistic,
        p_value=res.pvalue,
        effect_size=effects.auroc_from_u(res.statistic, a.size, b.size),
        **kw,
    )
