"""ScoreCAM channel weights: the target score of the input masked by each upsampled channel."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Forward = Callable[[Tensor], Tensor]


def score_weights(
    forward: Forward, images: Tensor, acts: Tensor, targets: Tensor, chunk: int
) -> Tensor:
    """Softmax over channels of the target logit for image × normalised-channel masks: N×C.

    As pytorch-grad-cam: masks are bilinear (align_corners) upsamplings min–max scaled with
    eps 1e-8, the score is the raw logit. Masked inputs are built `chunk` rows at a time, so
    memory is bounded by `chunk` images. Channels constant over the image give an all-zero
    mask: they share one forward of a zero image (pytorch-grad-cam would instead scale float
    rounding noise there).
    """
    n, c, h, w = acts.shape
    size = images.shape[-2:]
    flat = acts.reshape(n, c, h * w)
    constant = flat.amax(dim=-1) == flat.amin(dim=-1)
    scores = torch.empty(n, c, device=acts.device, dtype=torch.float32)
    rows = (~constant).nonzero()
    for start in range(0, rows.shape[0], chunk):
        image, channel = rows[start : start + chunk].unbind(dim=1)
        masks = F.interpolate(
            acts[image, channel][:, None], size=size, mode="bilinear", align_corners=True
        )
        lo = masks.amin(dim=(2, 3), keepdim=True)
        hi = masks.amax(dim=(2, 3), keepdim=True)
        masks = (masks - lo) / (hi - lo + 1e-8)
        logits = forward(images[image] * masks)
        scores[image, channel] = logits.gather(1, targets[image][:, None])[:, 0].float()
    if bool(constant.any()):
        blank = forward(torch.zeros_like(images[:1]))[0].float()
        image, channel = constant.nonzero().unbind(dim=1)
        scores[image, channel] = blank[targets[image]]
    return torch.softmax(scores, dim=1)
