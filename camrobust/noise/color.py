"""RGB <-> HSV on tensors with channels last (…×3) in [0,1], with skimage.color's conventions.

Hue is in [0, 1); a pixel with no chroma gets hue 0 and saturation 0; where channels tie for the
maximum, blue wins over green and green over red (the order skimage assigns them in).
"""

from __future__ import annotations

import torch


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """HSV of a …×3 RGB tensor, stacked on the last dim as (hue, saturation, value)."""
    r, g, b = rgb.unbind(dim=-1)
    value = rgb.amax(dim=-1)
    delta = value - rgb.amin(dim=-1)
    chroma = delta > 0
    safe_delta = torch.where(chroma, delta, torch.ones_like(delta))
    safe_value = torch.where(value > 0, value, torch.ones_like(value))
    saturation = torch.where(chroma, delta / safe_value, torch.zeros_like(delta))
    hue = (g - b) / safe_delta
    hue = torch.where(g == value, 2.0 + (b - r) / safe_delta, hue)
    hue = torch.where(b == value, 4.0 + (r - g) / safe_delta, hue)
    hue = torch.remainder(hue / 6.0, 1.0)
    hue = torch.where(chroma, hue, torch.zeros_like(hue))
    return torch.stack([hue, saturation, value], dim=-1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """RGB of a …×3 HSV tensor (hue in [0, 1), saturation and value in [0, 1]).

    Closed form of the six-sector rule: channel n in (r, g, b) = (5, 3, 1) is
    v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 hue) mod 6.
    """
    hue, saturation, value = hsv[..., 0:1], hsv[..., 1:2], hsv[..., 2:3]
    n = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device)
    k = torch.remainder(n + 6.0 * hue, 6.0)
    ramp = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return value - value * saturation * ramp
