"""Target-layer output layouts: token sequences and channels-last maps as N×C×h×w feature maps.

CAM formulas read N×C×h×w. Vision transformers return N×T×C tokens (class, distillation and
register tokens first, then the patches row by row) and Swin returns N×h×w×C; `Layout` maps such
an output to the grid and back (AblationCAM feeds its ablated grid to the rest of the network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LAYOUTS = ("nchw", "nhwc", "tokens")


@dataclass(frozen=True)
class Layout:
    """How a layer's output holds its feature map: `kind` in LAYOUTS, leading non-patch tokens."""

    kind: str
    prefix_tokens: int = 0

    def to_grid(self, raw: Tensor, image_hw: tuple[int, int], layer: str) -> Tensor:
        """The N×C×h×w feature map inside `raw` (a view where possible)."""
        expected = 3 if self.kind == "tokens" else 4
        if raw.ndim != expected:
            raise ValueError(
                f"target_layer '{layer}' outputs shape {tuple(raw.shape)}, not the "
                f"{self._shape_name()} of layout '{self.kind}'; pick another layer or pass layout="
            )
        if self.kind == "nchw":
            return raw
        if self.kind == "nhwc":
            return raw.permute(0, 3, 1, 2)
        n, tokens, channels = raw.shape
        h, w = _patch_grid(tokens - self.prefix_tokens, image_hw, layer, tuple(raw.shape), self)
        patches = raw[:, self.prefix_tokens :, :]
        return patches.reshape(n, h, w, channels).permute(0, 3, 1, 2)

    def to_raw(self, grid: Tensor, raw: Tensor) -> Tensor:
        """Inverse of `to_grid`: `grid` R×C×h×w in the layer's layout; prefix tokens from `raw`."""
        if self.kind == "nchw":
            return grid
        if self.kind == "nhwc":
            return grid.permute(0, 2, 3, 1).contiguous()
        r, c = grid.shape[:2]
        patches = grid.permute(0, 2, 3, 1).reshape(r, -1, c)
        return torch.cat((raw[:, : self.prefix_tokens, :], patches), dim=1)

    def _shape_name(self) -> str:
        return {"nchw": "N×C×H×W", "nhwc": "N×H×W×C", "tokens": "N×tokens×C"}[self.kind]


def _patch_grid(
    patches: int, image_hw: tuple[int, int], layer: str, shape: tuple[int, ...], layout: Layout
) -> tuple[int, int]:
    """(h, w) with h·w = patches and h/w nearest the image's aspect ratio; ValueError if none."""
    height, width = image_hw
    h = round(math.sqrt(patches * height / width)) if patches > 0 else 0
    if h < 1 or patches % h:
        raise ValueError(
            f"target_layer '{layer}' outputs shape {shape}: {patches} tokens after "
            f"{layout.prefix_tokens} prefix token(s) do not form a patch grid of a "
            f"{height}×{width} image; check prefix_tokens or pass layout="
        )
    return h, patches // h
