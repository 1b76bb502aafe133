"""Similarity measures between pairs of normalised CAMs, batched in torch, mapped to [0, 1].

Every measure takes two N×H×W tensors with values in [0, 1] (maps already ReLU'd, resized and
min-max scaled) and returns N similarities s in [0, 1], with s = 1 for identical maps:

- ``ssim``: mean Gaussian-window SSIM (see ``ssim.py``), s = (SSIM + 1) / 2.
- ``pearson``: Pearson correlation over pixels, s = (r + 1) / 2.
- ``spearman``: Pearson correlation of average ranks (ties share their mean rank, as in
  ``scipy.stats.spearmanr``), s = (ρ + 1) / 2.
- ``cosine``: cosine of the flattened maps, in [0, 1] because maps are non-negative.
- ``iou_topK`` (K in 1..99, e.g. ``iou_top20``): IoU of each map's top K% pixels, with
  k = max(1, round(K·P/100)) of P pixels; equal values are taken in raster order (lower flat
  index first), so the selection is deterministic and both sets always hold exactly k pixels.
- ``l1``: 1 − ‖a − b‖₁ / (‖a‖₁ + ‖b‖₁), the normalised ℓ1 similarity the paper argues against.
- ``rbo``: the paper's similarity, rank-biased overlap of the maps' rankings of the image's
  regions (``rbo.py``); it needs the regions (``similarity(..., regions=...)``).

Degenerate pairs (a constant map, e.g. all zero after normalisation) have no correlation and
no direction. Then, instead of NaN: two exactly equal maps give s = 1 for every measure
(identical explanations); otherwise Pearson and Spearman give r = 0 (s = 0.5), cosine and ℓ1
give 0. SSIM, top-K IoU and RBO are always defined (SSIM's constants keep its denominator
positive; a constant map ranks every region in one tie). The per-image table flags such pairs
``degenerate`` so they can be excluded downstream.

On the CPU, ``similarity`` takes the pairs in cache-sized chunks, and the sorting behind
``spearman`` and ``iou_topK`` uses numpy's sort and partition for float32/float64 maps (SIMD
sorts, faster than torch's); elsewhere everything stays in torch on the maps' device.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import torch

from camrobust.columns import REGION_MEASURES
from camrobust.metrics.rbo import Regions, rbo_similarity
from camrobust.metrics.ssim import ssim

#: The measures of a pair of maps alone (the API's default).
MEASURES: tuple[str, ...] = ("ssim", "pearson", "spearman", "cosine", "iou_top20", "l1")
CPU_CHUNK_PIXELS = 32 * 32 * 32 - 1  # map pixels per CPU chunk, all measures but SSIM (see below)

_IOU = re.compile(r"iou_top(\d+)")


def _flat(a: torch.Tensor) -> torch.Tensor:
    return a.flatten(1)


def _equal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Maps are finite, so equal exactly where |a - b| peaks at 0 (cheaper than a bool all()).
    return (_flat(a) - _flat(b)).abs_().amax(dim=1) == 0


def _numpy_sorts(x: torch.Tensor) -> bool:
    """Whether numpy's sort and partition (SIMD, faster than torch's CPU sort) can take x."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row-wise Pearson r of N×P float64 rows; 0 where either row is constant."""
    xc = x - x.mean(dim=1, keepdim=True)
    yc = y - y.mean(dim=1, keepdim=True)
    # Exactly-constant rows have zero centred sums in float64; near-zero ones are still finite.
    sxx = torch.linalg.vecdot(xc, xc)
    syy = torch.linalg.vecdot(yc, yc)
    denom = torch.sqrt(sxx * syy)
    defined = denom > 0
    r = torch.linalg.vecdot(xc, yc) / torch.where(defined, denom, torch.ones_like(denom))
    return torch.where(defined, r.clamp(-1.0, 1.0), torch.zeros_like(r))


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Row-wise 1-based ranks of an N×P tensor, ties given their mean rank (scipy 'average')."""
    n, p = x.shape
    # Average ranks do not depend on how ties are ordered, so an unstable sort will do.
    if _numpy_sorts(x):
        order = torch.from_numpy(np.argsort(x.detach().numpy(), axis=1))
    else:
        order = torch.sort(x, dim=1).indices
    values = x.gather(1, order)
    pos = torch.arange(p, dtype=torch.int32, device=x.device).expand(n, p)
    starts = torch.ones(n, p, dtype=torch.bool, device=x.device)
    torch.ne(values[:, 1:], values[:, :-1], out=starts[:, 1:])
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    # First and last sorted position of each tie group, spread over the group's members.
    first = torch.where(starts, pos, 0).cummax(dim=1).values
    last = torch.where(ends, pos, p - 1).flip(1).cummin(dim=1).values.flip(1)
    sorted_ranks = first.add_(last).to(torch.float64).div_(2).add_(1)
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(r + 1) / 2 of the Pearson correlation of each pair of maps; 0.5 if a map is constant."""
    r = _correlation(_flat(a).double(), _flat(b).double())
    return torch.where(_equal(a, b), torch.ones_like(r), (r + 1) / 2)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(ρ + 1) / 2 of Spearman's rank correlation (average ranks); 0.5 if a map is constant."""
    r = _correlation(average_ranks(_flat(a)), average_ranks(_flat(b)))
    return torch.where(_equal(a, b), torch.ones_like(r), (r + 1) / 2)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the flattened non-negative maps; 0 if exactly one map is all zero."""
    x, y = _flat(a).double(), _flat(b).double()
    denom = torch.sqrt(torch.linalg.vecdot(x, x) * torch.linalg.vecdot(y, y))
    defined = denom > 0
    c = torch.linalg.vecdot(x, y) / torch.where(defined, denom, torch.ones_like(denom))
    c = torch.where(defined, c.clamp(0.0, 1.0), torch.zeros_like(c))
    return torch.where(_equal(a, b), torch.ones_like(c), c)


def _top_k_count(pixels: int, percent: int) -> int:
    """k = max(1, round(percent·P/100)): how many pixels the top `percent`% of a map holds."""
    return max(1, round(percent * pixels / 100))


def top_k_mask(a: torch.Tensor, percent: int) -> torch.Tensor:
    """N×P boolean mask of each flattened map's top `percent`% pixels, ties in raster order."""
    x = _flat(a)
    p = x.shape[1]
    k = _top_k_count(p, percent)
    # The k-th largest value: the (p - k)-th smallest, 0-based.
    if _numpy_sorts(x):
        kth = np.partition(x.detach().numpy(), p - k, axis=1)[:, p - k : p - k + 1]
        threshold = torch.from_numpy(kth)
    else:
        threshold = torch.kthvalue(x, p - k + 1, dim=1, keepdim=True).values
    above = x > threshold
    # Pixels equal to the k-th largest value fill the remaining places in raster order.
    at = x == threshold
    room = k - above.sum(dim=1, keepdim=True, dtype=torch.int32)
    return above | (at & (at.cumsum(dim=1, dtype=torch.int32) <= room))


def iou_top_k(a: torch.Tensor, b: torch.Tensor, percent: int) -> torch.Tensor:
    """IoU of the top `percent`% pixels of each pair of maps (both sets have k pixels)."""
    ma, mb = top_k_mask(a, percent), top_k_mask(b, percent)
    inter = (ma & mb).sum(dim=1).double()
    return inter / (2 * _top_k_count(ma.shape[1], percent) - inter)  # |A∪B| = |A|+|B|-|A∩B|


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − ‖a − b‖₁ / (‖a‖₁ + ‖b‖₁) of each pair of non-negative maps; 1 for two all-zero maps."""
    x, y = _flat(a).double(), _flat(b).double()
    total = x.sum(dim=1) + y.sum(dim=1)
    distance = (x - y).abs_().sum(dim=1)
    s = 1 - distance / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, s.clamp(0.0, 1.0), torch.ones_like(s))


def ssim_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(SSIM + 1) / 2 with skimage's Gaussian window (σ = 1.5, 11 taps) and data range 1."""
    # Rounding can push SSIM a hair past ±1 for near-identical maps; s must stay in [0, 1].
    return ((ssim(a, b, data_range=1.0).double() + 1) / 2).clamp(0.0, 1.0)


def measure_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The function computing measure `name`; unknown names are a ValueError listing the known."""
    fixed = {
        "ssim": ssim_similarity,
        "pearson": pearson,
        "spearman": spearman,
        "cosine": cosine,
        "l1": l1,
    }
    if name in fixed:
        return fixed[name]
    match = _IOU.fullmatch(name)
    if match and 1 <= int(match.group(1)) <= 99 and not match.group(1).startswith("0"):
        percent = int(match.group(1))
        return lambda a, b: iou_top_k(a, b, percent)
    raise ValueError(
        f"unknown similarity measure '{name}': known are rbo, ssim, pearson, spearman, cosine, "
        "l1 and iou_topK with K in 1..99 (e.g. iou_top20)"
    )


def validate_measures(measures: Iterable[str]) -> tuple[str, ...]:
    """The measure names as a tuple, each checked; duplicates or an empty list are an error."""
    names = (measures,) if isinstance(measures, str) else tuple(measures)
    if not names:
        raise ValueError("measures: at least one similarity measure is needed")
    if len(set(names)) != len(names):
        raise ValueError(f"measures: duplicate names in {list(names)}")
    for name in names:
        if name not in REGION_MEASURES:
            measure_function(name)
    return names


def check_maps(a: torch.Tensor, b: torch.Tensor) -> None:
    """Raise ValueError unless a and b are N×H×W float maps of one shape with values in [0, 1]."""
    for label, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.ndim != 3:
            raise ValueError(f"similarity: '{label}' must be an N×H×W float tensor")
    if a.shape != b.shape:
        raise ValueError(f"similarity: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"similarity: maps have no pixels, shape {tuple(a.shape)}")
    for label, t in (("a", a), ("b", b)):
        if t.numel() == 0:
            continue
        lo, hi = torch.aminmax(t)  # NaN propagates into both and fails the test below
        if not (bool(lo >= 0) and bool(hi <= 1)):
            raise ValueError(
                f"similarity: '{label}' has values outside [0, 1] or NaN; normalise maps first"
            )


def similarity(
    a: torch.Tensor,
    b: torch.Tensor,
    measures: Iterable[str] = MEASURES,
    *,
    regions: Regions | None = None,
) -> dict[str, torch.Tensor]:
    """Each measure's N similarities in [0, 1] (float64, on a's device) for N×H×W map pairs;
    `regions` (the N images' segments, `make_regions`) for the region measures (rbo)."""
    names = validate_measures(measures)
    check_maps(a, b)
    needs = [name for name in names if name in REGION_MEASURES]
    if needs and regions is None:
        raise ValueError(f"similarity: measure '{needs[0]}' needs the images' regions (regions=)")
    b = b.to(device=a.device, dtype=a.dtype)
    n = a.shape[0]
    # CPU: the other measures go in chunks (31 pairs of 32×32 maps) whose temporaries stay in
    # L2 cache and are small enough for malloc to recycle instead of mapping fresh pages (the
    # page faults cost more than the arithmetic). Below torch's 32768-element grain each op
    # also runs on one thread: no waits at thread barriers when cores are shared, and the
    # sorts, the bulk of the work, are single-threaded anyway. A GPU takes the batch whole;
    # SSIM chunks itself, sharing one workspace.
    pixels = a.shape[1] * a.shape[2]
    step = max(CPU_CHUNK_PIXELS // pixels, 1) if a.device.type == "cpu" else max(n, 1)
    result = {}
    for name in names:
        if name in REGION_MEASURES:  # vectorised over every pair at once
            result[name] = rbo_similarity(a, b, regions.to(a.device))
            continue
        function = measure_function(name)
        if name == "ssim":
            parts = [function(a, b)]
        else:
            parts = [function(a[i : i + step], b[i : i + step]) for i in range(0, max(n, 1), step)]
        result[name] = torch.cat(parts).to(torch.float64)
    return result
