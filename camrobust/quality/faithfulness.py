"""Faithfulness of CAMs on the clean images: does the model's confidence follow the map?

Every score is a change in the softmax probability of the explained class, for maps already
ReLU'd, resized to the image and min–max scaled (as pytorch-grad-cam returns them):

- ``confidence_change``: p(x ⊙ map) − p(x), the map multiplied into every channel
  (pytorch-grad-cam's CamMultImageConfidenceChange). Higher is more faithful.
- ``road_morf`` / ``road_lerf``: ROAD (Rong et al. 2022) with pytorch-grad-cam's percentile
  semantics: at percentile p the ⌈(P−1)·p/100⌉ least (MoRF) or most (LeRF) relevant of the P
  pixels are kept and the rest replaced by noisy linear imputation; the score is the change
  p(imputed) − p(x), averaged over the percentiles (ROADMostRelevantFirstAverage,
  ROADLeastRelevantFirstAverage). MoRF: lower is more faithful; LeRF: higher.
- ``road_combined``: (road_lerf − road_morf) / 2 (ROADCombined). Higher is more faithful.
- ``deletion_auc`` / ``insertion_auc`` (Petsiuk et al. 2018): the target probability while the
  most relevant pixels are set to 0 (deletion) or copied into a blurred image (insertion), k·P //
  steps pixels at step k = 0 … steps; the area by the trapezoid rule on [0, 1]. Deletion: lower
  is more faithful; insertion: higher.

Pixels of equal relevance are ordered by raster index, so a removal never depends on ties; where
pytorch-grad-cam thresholds at the percentile instead (removing every pixel tied at the
threshold, e.g. all of a map's zeros) the two differ (docs/sensitivity-faithfulness.md). A
constant map ranks no pixel above another: its scores are NaN and it is flagged ``degenerate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from camrobust.cam.state import frozen_eval
from camrobust.quality.imputation import linear_impute
from camrobust.quality.layout import fast_layout
from camrobust.seeding import torch_generator

FAITHFULNESS_METRICS: tuple[str, ...] = (
    "confidence_change",
    "road_morf",
    "road_lerf",
    "road_combined",
    "deletion_auc",
    "insertion_auc",
)
#: pytorch-grad-cam's ROADCombined percentiles
ROAD_PERCENTILES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
#: ROAD's imputation noise (std, in input units)
ROAD_NOISE = 0.01
#: RISE's insertion baseline: a Gaussian blur with an 11-pixel kernel and sigma 5
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0


@dataclass
class FaithfulnessResult:
    """Per method: each metric per image, the per-percentile ROAD scores, the degenerate flags."""

    scores: dict[str, dict[str, np.ndarray]]
    road_morf: dict[str, np.ndarray]
    road_lerf: dict[str, np.ndarray]
    degenerate: dict[str, np.ndarray]
    percentiles: tuple[float, ...]


def target_probability(
    model: nn.Module, images: Tensor, targets: Tensor, batch_size: int
) -> Tensor:
    """Softmax probability of each image's target class, float64, in batches without gradients."""
    out = []
    with frozen_eval(model), torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            logits = model(fast_layout(images[start : start + batch_size])).double()
            tgt = targets[start : start + batch_size]
            out.append(logits.softmax(dim=1).gather(1, tgt[:, None])[:, 0])
    return torch.cat(out)


def relevance_rank(maps: Tensor, most_first: bool = True) -> Tensor:
    """Each pixel's position (N×H×W, 0 first) in the order most (or least) relevant first."""
    flat = maps.flatten(1)
    order = torch.sort(-flat if most_first else flat, dim=1, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1], device=maps.device).expand_as(order))
    return rank.view_as(maps)


def road_kept(n_pixels: int, percentile: float) -> int:
    """Pixels ROAD keeps at `percentile`: those below numpy's linear percentile of untied values."""
    return math.ceil((n_pixels - 1) * (percentile / 100))


def trapezoid_auc(curve: Tensor) -> Tensor:
    """Area under curves sampled at equal steps on [0, 1] (last axis), by the trapezoid rule."""
    steps = curve.shape[-1] - 1
    return (curve.sum(dim=-1) - (curve[..., 0] + curve[..., -1]) / 2) / steps


def _check(images: Tensor, maps: Mapping[str, Tensor], targets: Tensor) -> None:
    n, _, h, w = images.shape
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},), got {tuple(targets.shape)}")
    for name, m in maps.items():
        if m.shape != (n, h, w):
            raise ValueError(f"maps[{name!r}] must be {n}×{h}×{w} (one per image, image size)")
        if not bool(torch.isfinite(m).all()):
            raise ValueError(f"maps[{name!r}] contain NaN or infinite values")


class _Scorer:
    """Target probabilities of many perturbed images, each paired with its source image."""

    def __init__(self, model: nn.Module, targets: Tensor, batch_size: int) -> None:
        self.model, self.targets, self.batch_size = model, targets, batch_size

    def __call__(self, perturbed: Tensor, source: Tensor) -> Tensor:
        return target_probability(self.model, perturbed, self.targets[source], self.batch_size)


def _road(
    scorer: _Scorer,
    images: Tensor,
    rank: Tensor,
    percentiles: Sequence[float],
    draws: Tensor,
    noise: float,
) -> Tensor:
    """Probability after ROAD removal at every percentile (N×P); `rank` orders the removal."""
    n_pixels = rank[0].numel()
    index = torch.arange(images.shape[0], device=images.device)
    out = []
    for j, p in enumerate(percentiles):
        keep = rank >= n_pixels - road_kept(n_pixels, p)  # the kept are the last in the order
        filled = linear_impute(images, keep)
        filled = filled + noise * draws[:, j] * (~keep[:, None])
        out.append(scorer(filled, index))
    return torch.stack(out, dim=1)


def _curve(
    scorer: _Scorer, start: Tensor, end: Tensor, rank: Tensor, steps: int, batch_size: int
) -> Tensor:
    """Probabilities (N×(steps+1)) as the pixels of rank < k·P//steps switch from start to end."""
    n, n_pixels = rank.shape[0], rank[0].numel()
    counts = [k * n_pixels // steps for k in range(steps + 1)]
    per_chunk = max(1, batch_size // (steps + 1))
    out = []
    for lo in range(0, n, per_chunk):
        hi = min(lo + per_chunk, n)
        switched = torch.stack([rank[lo:hi] < c for c in counts], dim=1)[:, :, None]
        mixed = torch.where(switched, end[lo:hi, None], start[lo:hi, None]).flatten(0, 1)
        source = torch.arange(lo, hi, device=rank.device).repeat_interleave(steps + 1)
        out.append(scorer(mixed, source).view(hi - lo, steps + 1))
    return torch.cat(out)


def _road_draws(
    seed: int, first: int, n: int, shape: tuple[int, ...], n_percentiles: int
) -> Tensor:
    """Standard normal ROAD noise for images first … first+n−1: n × 2 (MoRF, LeRF) × P × C×H×W."""
    return torch.stack(
        [
            torch.randn((2, n_percentiles, *shape), generator=torch_generator("road", seed, i))
            for i in range(first, first + n)
        ]
    )


def _chunk_scores(
    model: nn.Module,
    images: Tensor,
    maps: Mapping[str, Tensor],
    targets: Tensor,
    draws: Tensor,
    percentiles: Sequence[float],
    road_noise: float,
    steps: int,
    batch_size: int,
) -> dict[str, dict[str, Tensor]]:
    """Every metric (and the per-percentile ROAD scores) of each method for a chunk of images."""
    scorer = _Scorer(model, targets, batch_size)
    index = torch.arange(images.shape[0], device=images.device)
    clean = scorer(images, index)
    # torchvision loads here: importing it costs a quality job about a second of CPU.
    from torchvision.transforms.functional import gaussian_blur

    blurred = gaussian_blur(images, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])
    out = {}
    for name, m in maps.items():
        most_first = relevance_rank(m, most_first=True)
        least_first = relevance_rank(m, most_first=False)
        morf = _road(scorer, images, most_first, percentiles, draws[:, 0], road_noise)
        lerf = _road(scorer, images, least_first, percentiles, draws[:, 1], road_noise)
        morf, lerf = morf - clean[:, None], lerf - clean[:, None]
        deletion = _curve(scorer, images, torch.zeros_like(images), most_first, steps, batch_size)
        insertion = _curve(scorer, blurred, images, most_first, steps, batch_size)
        out[name] = {
            "confidence_change": scorer(images * m[:, None], index) - clean,
            "road_morf": morf.mean(dim=1),
            "road_lerf": lerf.mean(dim=1),
            "road_combined": (lerf.mean(dim=1) - morf.mean(dim=1)) / 2,
            "deletion_auc": trapezoid_auc(deletion),
            "insertion_auc": trapezoid_auc(insertion),
            "road_morf_curve": morf,
            "road_lerf_curve": lerf,
        }
    return out


def faithfulness(
    model: nn.Module,
    images: Tensor,
    maps: Mapping[str, Tensor],
    targets: Tensor,
    *,
    percentiles: Sequence[float] = ROAD_PERCENTILES,
    road_noise: float = ROAD_NOISE,
    steps: int,
    seed: int = 0,
    batch_size: int = 64,
) -> FaithfulnessResult:
    """Every faithfulness metric of each method's `maps` (N×H×W in [0, 1]) for `images` (N×C×H×W).

    `targets` are the explained classes. Images go `batch_size` at a time (memory stays bounded),
    on the model's device. The ROAD noise of image i is drawn from its own generator (seeded
    from `seed` and i), shared by all methods, so methods are compared on the same draws and
    the batch size does not matter.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    if not percentiles or not all(0 < p < 100 for p in percentiles):
        raise ValueError(f"ROAD percentiles must lie strictly between 0 and 100, got {percentiles}")
    _check(images, maps, targets)
    param = next(model.parameters(), None)
    device = images.device if param is None else param.device
    n = images.shape[0]
    parts: dict[str, dict[str, list[Tensor]]] = {name: {} for name in maps}
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        x = images[lo:hi].to(device)
        draws = _road_draws(seed, lo, hi - lo, tuple(x.shape[1:]), len(percentiles))
        chunk = _chunk_scores(
            model, x,
            {name: m[lo:hi].to(device, torch.float32) for name, m in maps.items()},
            targets[lo:hi].to(device).long(), draws.to(device, x.dtype),
            percentiles, road_noise, steps, batch_size,
        )  # fmt: skip
        for name, values in chunk.items():
            for key, value in values.items():
                parts[name].setdefault(key, []).append(value.cpu())
    scores, morf, lerf, degenerate = {}, {}, {}, {}
    for name, m in maps.items():
        flat = m.flatten(1)
        constant = (flat.amax(dim=1) == flat.amin(dim=1)).cpu().numpy()
        joined = {key: torch.cat(values).numpy() for key, values in parts[name].items()}
        morf[name] = np.where(constant[:, None], np.nan, joined.pop("road_morf_curve"))
        lerf[name] = np.where(constant[:, None], np.nan, joined.pop("road_lerf_curve"))
        scores[name] = {key: np.where(constant, np.nan, v) for key, v in joined.items()}
        degenerate[name] = constant
    return FaithfulnessResult(scores, morf, lerf, degenerate, tuple(percentiles))
