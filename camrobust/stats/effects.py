"""Effect sizes that go beside the p-values, so a tiny but significant difference reads as tiny."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, studentized_range


def kendalls_w(friedman_chi2: float, n_blocks: int, k_groups: int) -> float:
    """Kendall's W from Friedman's chi-square: 0 = no agreement between blocks, 1 = full."""
    return float(friedman_chi2) / (n_blocks * (k_groups - 1))


def paired_rank_biserial(a: np.ndarray, b: np.ndarray) -> float:
    """Matched-pairs rank-biserial r = (R+ - R-)/(R+ + R-) over nonzero differences a - b."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    ranks = rankdata(np.abs(d))
    r_plus = ranks[d > 0].sum()
    r_minus = ranks[d < 0].sum()
    return float((r_plus - r_minus) / (r_plus + r_minus))


def auroc_from_u(u_first: float, n_first: int, n_second: int) -> float:
    """P(first > second) + P(tie)/2, from Mann-Whitney's U of the first sample."""
    return float(u_first) / (n_first * n_second)


def nemenyi_cd(k_groups: int, n_blocks: int, alpha: float) -> float:
    """Nemenyi critical difference of average ranks (Demšar 2006), for critical-difference plots."""
    q = studentized_range.ppf(1.0 - alpha, k_groups, np.inf) / np.sqrt(2.0)
    return float(q * np.sqrt(k_groups * (k_groups + 1) / (6.0 * n_blocks)))
