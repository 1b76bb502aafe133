"""Seeded perturbations for the sensitivity metrics: uniform noise in an L∞ ball, per image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from camrobust.seeding import torch_generator


def linf_noise(
    seed: int, image: int, n_samples: int, shape: Sequence[int], radius: float
) -> Tensor:
    """`n_samples` draws of U[-radius, radius] noise of `shape` for image number `image` (CPU).

    Each image has its own generator (seeded from `seed` and its index), so the draws do not
    depend on the batch size or on which other images are evaluated, and a test can replay them.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    gen = torch_generator("sensitivity", seed, image)
    unit = torch.rand((n_samples, *shape), generator=gen, dtype=torch.float32)
    return (unit * 2 - 1) * radius
