"""Localisation of normalised CAMs against ground-truth object masks (energy share, pointing game).

A map that is all zero (degenerate) has no energy and no maximum: its energy share is defined
as 0 and its pointing hit as False, so the columns stay finite; the per-image table's
``degenerate`` flag marks such rows.
"""

from __future__ import annotations

import torch


def _check(maps: torch.Tensor, masks: torch.Tensor) -> None:
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(
            f"mask metrics need N×H×W maps and masks of one shape, got {tuple(maps.shape)} "
            f"and {tuple(masks.shape)}"
        )


def mask_energy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's total value inside its mask (N values in [0, 1]); 0 for a zero map."""
    _check(maps, masks)
    x = maps.reshape(maps.shape[0], -1).double()
    inside = masks.reshape(masks.shape[0], -1).to(device=maps.device) != 0
    total = x.sum(dim=1)
    share = (x * inside).sum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, share.clamp(0.0, 1.0), torch.zeros_like(share))


def pointing_hit(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Whether each map's maximum lies inside its mask (first maximum in raster order on ties).

    False for a zero map, which has no maximum to point with.
    """
    _check(maps, masks)
    x = maps.reshape(maps.shape[0], -1)
    inside = masks.reshape(masks.shape[0], -1).to(device=maps.device) != 0
    peak = x.argmax(dim=1, keepdim=True)
    hit = inside.gather(1, peak).squeeze(1)
    return hit & (x.amax(dim=1) > 0)
