"""Vectorised image-level bootstrap: resampling weights and percentile intervals."""

from __future__ import annotations

import warnings

import numpy as np


def resample_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot × n_items counts of how often each item is drawn in a resample with replacement.

    A statistic that is a ratio of per-item sums is then ``counts @ numerators / counts @
    denominators`` for all resamples at once (one matrix product, no Python loop).
    """
    if n_items < 1:
        raise ValueError(f"bootstrap needs at least one item, got {n_items}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    return rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_boot).astype(np.float64)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0 (no warning)."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def harmonic(c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """2CR / (C + R) elementwise; 0 where C + R = 0 (the limit), NaN where C or R is NaN."""
    total = c + r
    out = np.where(np.isnan(total), np.nan, 0.0)
    np.divide(2 * c * r, total, out=out, where=total > 0)
    return out


def percentile_interval(replicates: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds along axis 0, ignoring NaN replicates.

    A replicate is NaN when its resample had no pair of the kind needed (e.g. no flipped pair);
    the interval is then taken over the resamples where the statistic exists (NaN if none).
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    tail = (1 - ci) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds
        lo, hi = np.nanquantile(replicates, [tail, 1 - tail], axis=0)
    return lo, hi
