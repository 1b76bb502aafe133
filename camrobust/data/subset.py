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


def cap_indices(labels: np.ndarray, n: int | None, *seed: object) -> np.ndarray:
    """Indices of a class-stratified subset of at most `n` of `labels` (None: all of them)."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    return stratified_indices(labels, n, *seed)


def eval_indices(test_labels: np.ndarray, n_eval: int, seed: int, name: str) -> np.ndarray:
    """The evaluation subset's indices in the test split; an error naming the key if too few."""
    if n_eval > len(test_labels):
        raise ValueError(
            f"datasets.{name}.n_eval: {n_eval} is more than the {len(test_labels)} test images"
        )
    return stratified_indices(test_labels, n_eval, seed, name, "eval")
