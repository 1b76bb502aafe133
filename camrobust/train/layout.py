"""The memory format a classifier trains in on the CPU."""

from __future__ import annotations

import torch
from torch import nn

#: Fewest input channels of a strided 1×1 convolution whose channels-last weight gradient ran
#: clean on an AVX2 CPU (torch 2.14.1, oneDNN 3.12); 2 to 7 corrupted the heap
#: (benchmarks/memory_format.py, docs/performance.md).
SAFE_STRIDED_POINTWISE_CHANNELS = 8


def narrow_strided_pointwise(model: nn.Module) -> list[str]:
    """Names of the 1×1 convolutions with a stride whose input is narrower than the safe width."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and max(m.stride) > 1
        and m.in_channels < SAFE_STRIDED_POINTWISE_CHANNELS
    ]


def cpu_training_format(model: nn.Module) -> torch.memory_format:
    """Channels-last, where oneDNN trains the narrow convolutions faster, unless the network has a
    convolution whose channels-last weight gradient corrupts memory on AVX2 CPUs."""
    if narrow_strided_pointwise(model):
        return torch.contiguous_format
    return torch.channels_last
