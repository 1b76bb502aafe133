"""Conversions between stored uint8 images and model inputs."""

from __future__ import annotations

import numpy as np
import torch


def to_model_input(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 N×H×W×C -> float N×C×H×W in [0,1] on `device`."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 N×H×W×C images, got {images.dtype} {images.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255)
