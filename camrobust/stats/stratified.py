"""Kept vs flipped across levels without mixing them: van Elteren's stratified rank-sum test.

Kept pairs come mostly from low levels and flipped ones from high levels, so one Mann-Whitney
over the pooled levels partly measures severity. Van Elteren's test ranks within each level and
sums the kept rank sums with weights 1/(N_l + 1), which is Stouffer's combination of the
per-level Mann-Whitney z-scores with weights sd(W_l)/(N_l + 1). Its effect size is the AUROC
over within-level (kept, flipped) comparisons only: Σ_l U_l / Σ_l n_l m_l.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata

from camrobust.stats.core import result_row


def _level_terms(kept: np.ndarray, flipped: np.ndarray) -> tuple[float, float, float, float]:
    """One level's centred weighted rank sum, its variance, U and n·m (tie-corrected)."""
    n, m = kept.size, flipped.size
    total = n + m
    ranks = rankdata(np.concatenate([kept, flipped]))
    w = ranks[:n].sum()
    _, ties = np.unique(ranks, return_counts=True)
    tie_term = float((ties**3 - ties).sum()) / (total * (total - 1)) if total > 1 else 0.0
    var_w = n * m / 12.0 * ((total + 1) - tie_term)
    u = w - n * (n + 1) / 2.0
    return (w - n * (total + 1) / 2.0) / (total + 1), var_w / (total + 1) ** 2, u, float(n * m)


def van_elteren_row(
    levels: Sequence[tuple[np.ndarray, np.ndarray]], *, min_pairs: int, family: str = "omnibus"
) -> dict:
    """Two-sided van Elteren test of kept vs flipped similarity over (kept, flipped) per level.

    Levels lacking kept or flipped pairs carry no comparison and are left out; the totals need
    min_pairs each. statistic = z; effect = the within-level AUROC (kept positive).
    """
    n_kept = sum(int(np.size(k)) for k, _ in levels)
    n_flipped = sum(int(np.size(f)) for _, f in levels)
    kw = {"n": n_kept + n_flipped, "effect_size_name": "auroc_within_level", "family": family}
    names = ("van_elteren", "kept", "kept", "flipped")
    if n_kept < min_pairs or n_flipped < min_pairs:
        note = f"kept n={n_kept}, flipped n={n_flipped}: each needs min_pairs={min_pairs}"
        return result_row(*names, note=note, **kw)
    terms = np.array(
        [
            _level_terms(np.asarray(k, dtype=float), np.asarray(f, dtype=float))
            for k, f in levels
            if np.size(k) and np.size(f)
        ]
    )
    if terms.size == 0:
        return result_row(*names, note="no level has both kept and flipped pairs", **kw)
    centred, var, u, nm = terms.sum(axis=0)
    if var <= 0:
        return result_row(*names, note="every level tied: statistic undefined", **kw)
    z = centred / np.sqrt(var)
    return result_row(*names, statistic=z, p_value=2.0 * norm.sf(abs(z)), effect_size=u / nm, **kw)
