"""Post-processing of raw CAMs: ReLU, bilinear resize, per-map min–max scaling to [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def normalize_maps(
    maps: Tensor | np.ndarray, size: tuple[int, int] | None = None
) -> Tensor | np.ndarray:
    """ReLU, bilinear resize to `size` = (height, width), then min–max scale each map to [0, 1].

    Accepts N×h×w (or one h×w map) as a tensor or numpy array and returns the same kind, float32.
    A map that is constant after the ReLU (e.g. all zero) comes back all zero, never NaN. Equals
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
    x = x.float().clamp(min=0)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("maps contain NaN or infinite values")
    flat = x.flatten(1)
    constant = flat.amax(dim=1) == flat.amin(dim=1)
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
