"""AblationCAM channel weights: the relative drop of the target score when a channel is zeroed."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: runs the network from the target layer on: (ablated activations R×C×h×w, image index R) → logits
Rerun = Callable[[Tensor, Tensor], Tensor]


def ablation_weights(
    rerun: Rerun, acts: Tensor, scores: Tensor, targets: Tensor, chunk: int
) -> Tensor:
    """(y − y_k)/y per image and channel, y_k the target logit with channel k set to zero: N×C.

    Zeroing is the method's definition (Desai & Ramaswamy 2020) and what pytorch-grad-cam does when
    the activation's minimum is 0 (post-ReLU layers). Where activations go negative pytorch-grad-cam
    instead writes min − j·1e7 (cumulative over the rows of its chunk); we always zero. Channels
    already all zero are skipped: ablating them changes nothing (weight 0, zero contribution).
    Where y == 0 the drop is not divided (only the map's scale, not its shape, depends on y).
    """
    n, c = acts.shape[:2]
    weights = torch.zeros(n, c, device=acts.device, dtype=torch.float32)
    live = acts.reshape(n, c, -1).ne(0).any(dim=-1)
    rows = live.nonzero()
    for start in range(0, rows.shape[0], chunk):
        image, channel = rows[start : start + chunk].unbind(dim=1)
        ablated = acts[image].clone()
        ablated[torch.arange(image.shape[0], device=acts.device), channel] = 0
        logits = rerun(ablated, image)
        weights[image, channel] = logits.gather(1, targets[image][:, None])[:, 0].float()
    base = scores.float()[:, None]
    drop = torch.where(live, base - weights, torch.zeros_like(weights))
    return drop / torch.where(base == 0, torch.ones_like(base), base)
