"""VGG-11 with batch norm and a CIFAR-style MLP head (512w → 512w → classes, dropout)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from camrobust.models.common import (
    Standardize,
    check_images,
    check_width,
    conv_bn_act,
    logit_head,
    scaled,
)

# A leaf in torch.fx traces: the CAM engine splits models at the target layer, and the
# checks' control flow on shapes cannot be traced symbolically.
torch.fx.wrap("check_images")

# Channels of the eight 3×3 convs; "M" is a 2×2 max-pool. Unlike ImageNet VGG-11 the fourth pool
# is left out, so the last conv block (the CAM layer) sees 4×4 at 32×32 like ResNet-18's layer4,
# instead of 2×2 maps that say little about where the object is.
VGG11_LAYOUT: tuple[int | str, ...] = (
    64,
    "M",
    128,
    "M",
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
)


class VGG11BN(nn.Module):
    """VGG-11-BN; four max-pools take 32×32 to 2×2, then average pooling and an MLP classifier."""

    def __init__(
        self,
        num_classes: int = 10,
        width: float = 1.0,
        top_bn: bool = False,
        in_channels: int = 3,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_width(width)
        self.in_channels = in_channels
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, n_conv, n_pool = in_channels, 0, 0
        for item in VGG11_LAYOUT:
            if item == "M":
                n_pool += 1
                blocks[f"pool{n_pool}"] = nn.MaxPool2d(2, 2)
            else:
                n_conv += 1
                c_out = scaled(int(item), width)
                blocks[f"conv{n_conv}"] = conv_bn_act(c_in, c_out, 3, 1, nn.ReLU())
                c_in = c_out
        hidden = scaled(512, width)
        self.normalize = Standardize()
        self.features = nn.Sequential(blocks)
        # Averages the remaining map (2×2 at 32×32) into one vector for the MLP.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(c_in, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.top_bn = logit_head(num_classes, top_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels)
        h = self.avgpool(self.features(self.normalize(x))).flatten(1)
        return self.top_bn(self.classifier(h))
