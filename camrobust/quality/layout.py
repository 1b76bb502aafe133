"""The memory layout in which batches of perturbed images reach the model."""

from __future__ import annotations

import torch
from torch import Tensor


def fast_layout(images: Tensor) -> Tensor:
    """Channels-last on the CPU, where oneDNN runs these narrow convs ~1.3× faster; else as is.

    Only the layout changes, not the values (maps agree to float32 rounding, ~1e-8).
    """
    if images.device.type == "cpu" and images.ndim == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images
