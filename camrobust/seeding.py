"""Seeds derived from the config seed and names, so every random draw is reproducible."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch stays unimported for the Snakefile, which only needs derive_seed
    import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (config seed, dataset, noise, level...), stable across runs."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def numpy_rng(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded from `parts`."""
    return np.random.default_rng(derive_seed(*parts))


def torch_generator(*parts: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch Generator on `device` seeded from `parts`."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*parts))
    return gen
