"""ResNet-18 with the CIFAR stem (3×3 first conv, no max-pool), GAP + linear head."""

from __future__ import annotations

import torch
from torch import nn

from camrobust.models.common import Standardize, check_images, check_width, logit_head, scaled

# A leaf in torch.fx traces: the CAM engine splits models at the target layer, and the
# checks' control flow on shapes cannot be traced symbolically.
torch.fx.wrap("check_images")


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual connection (1×1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images: stages of 2 blocks at 64, 128, 256, 512 channels × width."""

    def __init__(
        self, num_classes: int = 10, width: float = 1.0, top_bn: bool = False, in_channels: int = 3
    ) -> None:
        super().__init__()
        check_width(width)
        self.in_channels = in_channels
        widths = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.normalize = Standardize()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        c_in = widths[0]
        for i, (c_out, stride) in enumerate(zip(widths, (1, 2, 2, 2), strict=True), start=1):
            self.add_module(
                f"layer{i}",
                nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)),
            )
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        self.top_bn = logit_head(num_classes, top_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels)
        h = self.relu(self.bn1(self.conv1(self.normalize(x))))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.top_bn(self.fc(self.avgpool(h).flatten(1)))
