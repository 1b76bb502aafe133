"""One stratum's tests (omnibus + pairwise) as result rows, with a reason when one is not run."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from camrobust.stats import effects
from camrobust.stats.validate import adjust

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
) -> dict:
    """A result row; p_adjusted and significant are filled once the family is known."""
    return {
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


def _finish_pairwise(rows: list[dict], correction: str, alpha: float) -> list[dict]:
    """Adjust the pairwise p-values of one stratum together (one family per omnibus test)."""
    p_adj = adjust([r["p_value"] for r in rows], correction, alpha)
    for r, p in zip(rows, p_adj, strict=True):
        r["p_adjusted"] = float(p)
    return rows


def paired_family(
    wide: pd.DataFrame,
    factor: str,
    *,
    min_pairs: int,
    correction: str,
    alpha: float,
) -> list[dict]:
    """Friedman over the columns of `wide` (rows are complete blocks), then pairwise Wilcoxon."""
    groups = [str(g) for g in wide.columns]
    values = wide.to_numpy(dtype=float)
    n, k = values.shape
    few = f"{n} complete blocks < min_pairs={min_pairs}"
    if k < 2:
        note = f"single {factor} ({', '.join(groups) or 'none'}): nothing to compare"
        return [result_row("friedman", factor, n=n, effect_size_name="kendalls_w", note=note)]
    if k < 3:
        omnibus = result_row(
            "friedman",
            factor,
            n=n,
            effect_size_name="kendalls_w",
            note=f"Friedman needs at least 3 groups, got {k}; see the pairwise Wilcoxon row",
        )
    elif n < min_pairs:
        omnibus = result_row("friedman", factor, n=n, effect_size_name="kendalls_w", note=few)
    else:
        res = _quiet(stats.friedmanchisquare, *values.T)
        if _undefined(res.statistic, res.pvalue):
            omnibus = result_row(
                "friedman",
                factor,
                n=n,
                effect_size_name="kendalls_w",
                note="every block tied across groups: statistic undefined",
            )
        else:
            omnibus = result_row(
                "friedman",
                factor,
                n=n,
                effect_size_name="kendalls_w",
                statistic=res.statistic,
                p_value=res.pvalue,
                effect_size=effects.kendalls_w(res.statistic, n, k),
            )
    pairwise = []
    for i, j in itertools.combinations(range(k), 2):
        a, b = values[:, i], values[:, j]
        kw = {"n": n, "effect_size_name": "rank_biserial"}
        if n < min_pairs:
            pairwise.append(result_row("wilcoxon", factor, groups[i], groups[j], note=few, **kw))
            continue
        if np.all(a == b):
            note = "all paired differences are zero"
            pairwise.append(result_row("wilcoxon", factor, groups[i], groups[j], note=note, **kw))
            continue
        res = _quiet(stats.wilcoxon, a, b)
        if _undefined(res.statistic, res.pvalue):
            note = "Wilcoxon statistic undefined"
            pairwise.append(result_row("wilcoxon", factor, groups[i], groups[j], note=note, **kw))
            continue
        pairwise.append(
            result_row(
                "wilcoxon",
                factor,
                groups[i],
                groups[j],
                statistic=res.statistic,
                p_value=res.pvalue,
                effect_size=effects.paired_rank_biserial(a, b),
                **kw,
            )
        )
    return [omnibus, *_finish_pairwise(pairwise, correction, alpha)]


def mann_whitney_row(
    a: np.ndarray,
    b: np.ndarray,
    factor: str,
    group_a: str,
    group_b: str,
    *,
    min_pairs: int,
    effect: str,
) -> dict:
    """Two-sided Mann-Whitney U of a vs b; effect 'auroc' (U/(n_a n_b)) or 'rank_biserial'."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    kw = {"n": a.size + b.size, "effect_size_name": effect}
    if a.size < min_pairs or b.size < min_pairs:
        note = f"{group_a} n={a.size}, {group_b} n={b.size}: each needs min_pairs={min_pairs}"
        return result_row("mann_whitney", factor, group_a, group_b, note=note, **kw)
    res = _quiet(stats.mannwhitneyu, a, b, alternative="two-sided")
    if _undefined(res.statistic, res.pvalue):
        note = "Mann-Whitney statistic undefined"
        return result_row("mann_whitney", factor, group_a, group_b, note=note, **kw)
    if effect == "auroc":
        size = effects.auroc_from_u(res.statistic, a.size, b.size)
    else:
        size = effects.mwu_rank_biserial(res.statistic, a.size, b.size)
    return result_row(
        "mann_whitney",
        factor,
        group_a,
        group_b,
        statistic=res.statistic,
        p_value=res.pvalue,
        effect_size=size,
        **kw,
    )


def independent_family(
    samples: Mapping[str, np.ndarray],
    factor: str,
    *,
    min_pairs: int,
    correction: str,
    alpha: float,
) -> list[dict]:
    """Kruskal-Wallis over groups with at least min_pairs values, then pairwise Mann-Whitney."""
    names = sorted(samples)
    sizes = {g: len(samples[g]) for g in names}
    usable = [g for g in names if sizes[g] >= min_pairs]
    small = [f"{g} (n={sizes[g]})" for g in names if sizes[g] < min_pairs]
    n_used = sum(sizes[g] for g in usable)
    kw = {"n": n_used, "effect_size_name": "epsilon_squared"}
    excluded = f"excluded, fewer than min_pairs={min_pairs}: {', '.join(small)}" if small else ""
    if len(names) < 2:
        note = f"single {factor} ({', '.join(names) or 'none'}): nothing to compare"
        return [result_row("kruskal", factor, note=note, **kw)]
    if len(usable) < 2:
        omnibus = result_row(
            "kruskal", factor, note=f"fewer than 2 groups usable; {excluded}", **kw
        )
    else:
        res = _quiet(stats.kruskal, *(samples[g] for g in usable))
        if _undefined(res.statistic, res.pvalue):
            note = "all values identical: statistic undefined"
            omnibus = result_row(
                "kruskal", factor, note="; ".join(filter(None, [note, excluded])), **kw
            )
        else:
            omnibus = result_row(
                "kruskal",
                factor,
                statistic=res.statistic,
                p_value=res.pvalue,
                effect_size=effects.epsilon_squared(res.statistic, n_used),
                note=excluded,
                **kw,
            )
    pairwise = [
        mann_whitney_row(
            samples[a], samples[b], factor, a, b, min_pairs=min_pairs, effect="rank_biserial"
        )
        for a, b in itertools.combinations(names, 2)
    ]
    return [omnibus, *_finish_pairwise(pairwise, correction, alpha)]
