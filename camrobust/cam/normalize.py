"""Post-processing of raw CAMs: ReLU, bilinear resize, per-map min–max scaling to [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: A map whose spread after the ReLU is at most this fraction of its largest magnitude is flat up
#: to the float32 rounding of the network that produced it (spreads of 1e-11 to 1e-15 occur on
#: untrained layers): it is degenerate and comes back all zero, not stretched to [0, 1].
ROUNDING_SPREAD = 1e-6


def normalize_maps(
    maps: Tensor | np.ndarray, size: tuple[int, int] | None = None
) -> Tensor | np.ndarray:
    """ReLU, bilinear resize to `size` = (height, width), then min–max scale each map to [0, 1].

    Accepts N×h×w (or one h×w map) as a tensor or numpy array and returns the same kind, float32.
    A map that is constant after the ReLU (e.g. all zero), or whose spread after the ReLU is at
    most `ROUNDING_SPREAD` of its largest magnitude, comes back all zero, never NaN. Equals
    pytorch-grad-cam's post-processing (which scales before and after cv2's resize, adding 1e-7 to
    the range) up to that epsilon; the resize matches cv2.INTER_LINEAR (half-pixel centres).
    """
    as_numpy = isinstance(maps, np.ndarray)
    x = torch.from_numpy(maps) if as_numpy else maps
    if not isinstance(x, Tensor):
        raise TypeError(f"maps must be a torch.Tensor or numpy array, not {type(maps).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"maps must be N×h×w or h×w, got shape {tuple(x.shape)}")
    single = x.ndim == 2
    x = x[None] if single else x
    if x.numel() == 0:
        raise ValueError(f"maps are empty, shape {tuple(x.shape)}")
    raw = x.float()
    if not bool(torch.isfinite(raw).all()):
        raise ValueError("maps contain NaN or infinite values")
    x = raw.clamp(min=0)
    flat = x.flatten(1)
    spread = flat.amax(dim=1) - flat.amin(dim=1)
    constant = spread <= ROUNDING_SPREAD * raw.flatten(1).abs().amax(dim=1)
    if size is not None:
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"size must be (height, width) positive integers, got {size}")
        x = F.interpolate(
            x[:, None], size=tuple(int(s) for s in size), mode="bilinear", align_corners=False
        )[:, 0]
    lo = x.amin(dim=(1, 2), keepdim=True)
    span = x.amax(dim=(1, 2), keepdim=True) - lo
    degenerate = constant[:, None, None] | (span == 0)
    out = torch.where(degenerate, torch.zeros_like(x), (x - lo) / torch.where(degenerate, 1, span))
    out = out[0] if single else out
    return out.numpy() if as_numpy else out
