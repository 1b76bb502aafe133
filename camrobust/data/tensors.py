"""Conversions between stored uint8 images and model inputs (the one place pixels are scaled)."""

from __future__ import annotations

import numpy as np
import torch


def unit_float(levels: torch.Tensor) -> torch.Tensor:
    """uint8 levels 0..255 → float32 in [0, 1], layout unchanged."""
    return levels.float().div_(255.0)


def nchw_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×H×W×C tensor → float N×C×H×W in [0, 1], the input every classifier takes."""
    return unit_float(images.permute(0, 3, 1, 2))


def to_model_input(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 N×H×W×C array → float N×C×H×W in [0, 1] on `device`."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 N×H×W×C images, got {images.dtype} {images.shape}")
    return nchw_unit_float(torch.from_numpy(np.ascontiguousarray(images)).to(device))
