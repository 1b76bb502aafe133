"""Threshold-free separation of kept from flipped pairs by their similarity."""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (scipy's rankdata 'average').

    In numpy rather than scipy: importing scipy.stats would add ~1 s to every metrics job.
    """
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(s_pos > s_neg) + ½ P(s_pos = s_neg): the Mann–Whitney U / (n_pos · n_neg).

    NaN when either group is empty (the AUROC is then undefined).
    """
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise ValueError("auroc: similarities must be finite")
    ranks = average_ranks(np.concatenate([pos, neg]))  # ties count ½
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))
