"""Seeded, class-stratified subsets (the evaluation subset every later stage uses)."""

from __future__ import annotations

import numpy as np

from camrobust.seeding import numpy_rng


def stratified_indices(labels: np.ndarray, n: int, *seed: object) -> np.ndarray:
    """Sorted indices of `n` items whose class shares match `labels` (largest remainder)."""
    labels = np.asarray(labels)
    if not 0 < n <= len(labels):
        raise ValueError(f"subset size {n} must be between 1 and the {len(labels)} available")
    rng = numpy_rng(*seed, "stratified")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    # Hand the remaining slots to the classes with the largest fractional parts (ties by class).
    leftover = n - take.sum()
    order = np.lexsort((classes, -(quota - take)))
    take[order[:leftover]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
