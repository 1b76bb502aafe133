"""CNN-13 "Conv-Large" of the VAT/LVAT papers, with a width multiplier."""

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


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.1)


class CNN13(nn.Module):
    """Conv-Large: 3×conv128, pool, dropout, 3×conv256, pool, dropout, conv512 (valid),
    conv1×1-256, conv1×1-128, global average pool, linear, optional BN on the logits."""

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
        c1, c2, c3 = scaled(128, width), scaled(256, width), scaled(512, width)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=conv_bn_act(in_channels, c1, 3, 1, _lrelu()),
            conv2=conv_bn_act(c1, c1, 3, 1, _lrelu()),
            conv3=conv_bn_act(c1, c1, 3, 1, _lrelu()),
            pool1=nn.MaxPool2d(2, 2),
            drop1=nn.Dropout(dropout),
            conv4=conv_bn_act(c1, c2, 3, 1, _lrelu()),
            conv5=conv_bn_act(c2, c2, 3, 1, _lrelu()),
            conv6=conv_bn_act(c2, c2, 3, 1, _lrelu()),
            pool2=nn.MaxPool2d(2, 2),
            drop2=nn.Dropout(dropout),
            conv7=conv_bn_act(c2, c3, 3, 0, _lrelu()),
            conv8=conv_bn_act(c3, c2, 1, 0, _lrelu()),
            conv9=conv_bn_act(c2, c1, 1, 0, _lrelu()),
        )
        self.normalize = Standardize()
        self.features = nn.Sequential(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c1, num_classes)
        self.top_bn = logit_head(num_classes, top_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels)
        h = self.pool(self.features(self.normalize(x))).flatten(1)
        return self.top_bn(self.fc(h))
