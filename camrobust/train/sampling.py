"""Which training images go into which batch: the labeled subset and the per-epoch batch order."""

from __future__ import annotations

import numpy as np
import torch

from camrobust.seeding import numpy_rng


def balanced_labeled_indices(labels: np.ndarray, n_labeled: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded class-balanced labeled subset (n_labeled / n_classes each)."""
    classes = np.unique(labels)
    per_class, rest = divmod(n_labeled, len(classes))
    if rest or per_class == 0:
        raise ValueError(
            f"n_labeled={n_labeled} must be a positive multiple of the {len(classes)} classes"
        )
    rng = numpy_rng(seed, "labeled_subset")
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(
                f"n_labeled={n_labeled} needs {per_class} images of class {c}, "
                f"the training set has {len(members)}"
            )
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen))


def epoch_batches(
    pool_size: int, batch: int, iters: int, generator: torch.Generator
) -> torch.Tensor:
    """iters×batch positions into a pool, walking through fresh random permutations in turn."""
    needed = batch * iters
    perms = [torch.randperm(pool_size, generator=generator) for _ in range(-(-needed // pool_size))]
    return torch.cat(perms)[:needed].view(iters, batch)
