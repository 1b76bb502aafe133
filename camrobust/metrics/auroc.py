"""Threshold-free separation of kept from flipped pairs by their similarity."""

from __future__ import annotations

import numpy as np
import torch

# The ranks Spearman's measure uses, not scipy's rankdata: importing scipy.stats slows every job.
from camrobust.metrics.measures import average_ranks


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
    pooled = torch.from_numpy(np.concatenate([pos, neg]))[None]
    ranks = average_ranks(pooled)[0].numpy()  # ties count ½
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))
