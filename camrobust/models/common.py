"""Pieces shared by the classifiers: fixed input standardisation, channel widths, input checks."""

from __future__ import annotations

import torch
from torch import nn

# Re-exported for the classifiers; it lives in the torch-free names module, where the plan
# counts the default layers' channels with it.
from camrobust.names import scaled as scaled

# Fixed constants, not dataset statistics, so the model carries no data-dependent state.
INPUT_MEAN = 0.5
INPUT_STD = 0.25
MIN_IMAGE_SIZE = 32


class Standardize(nn.Module):
    """Map images in [0, 1] to roughly zero mean, unit spread: (x - 0.5) / 0.25."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - INPUT_MEAN) / INPUT_STD


def check_width(width: float) -> None:
    """Reject non-positive width multipliers with a clear message."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")


def check_images(x: torch.Tensor, in_channels: int) -> None:
    """Classifier inputs are float N×C×H×W with the expected channels and H, W ≥ 32."""
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"expected a float N×{in_channels}×H×W batch in [0, 1], got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"expected a float batch in [0, 1], got dtype {x.dtype}")
    if min(x.shape[2], x.shape[3]) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"images must be at least {MIN_IMAGE_SIZE}×{MIN_IMAGE_SIZE}, got {tuple(x.shape[2:])}"
        )


def conv_bn_act(
    c_in: int, c_out: int, kernel: int, padding: int, act: nn.Module, stride: int = 1
) -> nn.Sequential:
    """conv → batch norm → activation as one named block, so CAMs can hook its output."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        act,
    )


def logit_head(num_classes: int, top_bn: bool) -> nn.Module:
    """Optional batch norm on the logits ("top_bn" of the VAT code), else identity."""
    return nn.BatchNorm1d(num_classes) if top_bn else nn.Identity()
