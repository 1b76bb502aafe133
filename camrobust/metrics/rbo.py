"""The paper's similarity of two CAMs: rank-biased overlap of their rankings of image regions.

A CAM is read as a ranking of the image's regions (its Quickshift segments, `segments.py`) by
their score under the normalised map: the mean over the region's pixels, or the sum. Two maps
are compared by the extrapolated rank-biased overlap of Webber, Moffat and Zobel (2010) for two
complete rankings of the same m regions,

    RBO = (1 − p)/p · Σ_{d=1..m} A_d p^d + A_m p^m,   A_d the agreement at depth d,

computed as 1 − Σ_{d=1..m} (1 − p) p^(d−1) (1 − A_d) (A_m = 1: at depth m both rankings hold
every region), so that identical rankings give exactly 1.

Ties (regions of equal score, common where a ReLU'd map is zero) follow the b-variant of Corsi
and Urbano (2024), the analogue of Kendall's τ_b: a region of a tie group that spans ranks
u+1..u+g is in the top d with weight c(d) = clamp((d − u)/g, 0, 1) (its chance to be there if the
group were ordered at random), the overlap is X_d = Σ_regions c_S(d) c_T(d), and the agreement
A_d = X_d / √(Σ c_S(d)² · Σ c_T(d)²). Without ties this is X_d/d, Webber's agreement; identical
rankings, ties included, give A_d = 1 at every depth; a tie is never broken by region index.

Everything is vectorised over pairs: rankings of N pairs of up to M regions are N×M score
tensors, padded with −inf beyond an image's own number of regions (docs/metric.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: How a region's score is read from the map (`metrics.rbo.score`).
REGION_SCORES: tuple[str, ...] = ("mean", "sum")


@dataclass(frozen=True)
class Regions:
    """The segments of N images and how a map is read over them (one ranking per image).

    `labels` holds each pixel's region (N×P, 0..M−1); `sizes` the pixels per region (N×M, 0 for
    the padding beyond an image's regions); `p` the persistence and `score` mean or sum.
    """

    labels: torch.Tensor
    sizes: torch.Tensor
    p: float
    score: str

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, rows: slice) -> Regions:
        return Regions(self.labels[rows], self.sizes[rows], self.p, self.score)

    def to(self, device: str | torch.device) -> Regions:
        """The same regions on `device`."""
        return Regions(self.labels.to(device), self.sizes.to(device), self.p, self.score)

    @property
    def counts(self) -> torch.Tensor:
        """The number of regions of each image."""
        return (self.sizes > 0).sum(dim=1)


def make_regions(
    labels: np.ndarray | torch.Tensor,
    *,
    p: float,
    score: str,
    device: str | torch.device = "cpu",
) -> Regions:
    """Regions from an N×H×W label image (non-negative integers, e.g. Quickshift's segments)."""
    if not 0 < p < 1:
        raise ValueError(f"rbo: p must be in (0, 1), got {p}")
    if score not in REGION_SCORES:
        raise ValueError(
            f"rbo: region score must be one of {', '.join(REGION_SCORES)}, got {score!r}"
        )
    lab = torch.as_tensor(np.asarray(labels), device=device)
    if lab.ndim != 3 or lab.is_floating_point() or lab.is_complex() or lab.dtype == torch.bool:
        raise ValueError(f"segments must be an N×H×W integer label image, got {tuple(lab.shape)}")
    flat = lab.reshape(lab.shape[0], -1).to(torch.int64)
    if flat.numel() and int(flat.min()) < 0:
        raise ValueError("segments: region labels must be non-negative")
    width = int(flat.max()) + 1 if flat.numel() else 1
    sizes = torch.zeros(flat.shape[0], width, dtype=torch.float64, device=lab.device)
    sizes.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    return Regions(flat, sizes, float(p), score)


def region_scores(maps: torch.Tensor, regions: Regions) -> torch.Tensor:
    """N×M float64 score of every region under each map (mean or sum), −inf for padding."""
    n = maps.shape[0]
    if n != len(regions) or maps[0].numel() != regions.labels.shape[1]:
        raise ValueError(
            f"rbo: {n} maps of {tuple(maps.shape[1:])} do not fit the segments "
            f"({len(regions)} images of {regions.labels.shape[1]} pixels)"
        )
    sums = torch.zeros_like(regions.sizes)
    sums.scatter_add_(1, regions.labels, maps.reshape(n, -1).to(torch.float64))
    present = regions.sizes > 0
    if regions.score == "mean":
        sums = sums / torch.where(present, regions.sizes, torch.ones_like(sums))
    return torch.where(present, sums, torch.full_like(sums, -torch.inf))


def _depths(m: int, device: torch.device) -> torch.Tensor:
    return torch.arange(1, m + 1, dtype=torch.float64, device=device)


def _descending(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """N×M scores sorted in descending order, and the order (numpy's sort on the CPU: faster
    than torch's; the order of equal scores is arbitrary and never used)."""
    if scores.device.type == "cpu":
        order = torch.from_numpy(np.argsort(-scores.numpy(), axis=1))
        return scores.gather(1, order), order
    values, order = torch.sort(scores, dim=1, descending=True)
    return values, order


def _distinct_overlaps(order_a: torch.Tensor, order_b: torch.Tensor) -> torch.Tensor:
    """N×M overlaps of rankings without ties: X_d = #items within the top d of both.

    An item is in both from depth max(rank_a, rank_b) on, so X is the cumulative count of
    those depths (exact integers, so identical rankings give X_d = d exactly).
    """
    n, m = order_a.shape
    ranks = torch.arange(1, m + 1, device=order_a.device).expand(n, m)
    rank_b = torch.empty_like(order_b).scatter_(1, order_b, ranks)
    deepest = torch.maximum(ranks, rank_b.gather(1, order_a))  # items in the order of a
    counts = torch.zeros(n, m + 1, dtype=torch.float64, device=order_a.device)
    counts.scatter_add_(1, deepest, torch.ones_like(deepest, dtype=torch.float64))
    return counts.cumsum(dim=1)[:, 1:]


def tie_groups(
    values: torch.Tensor, order: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From descending N×M scores and their sort order, per item: u, the items ranked strictly
    above it, and g, the size of its tie group (itself included); and the self-overlap
    Σ_items c(d)² at depths d = 1..M. Equal scores tie, the −inf padding too."""
    n, m = values.shape
    pos = torch.arange(m, device=values.device).expand(n, m)
    starts = torch.ones(n, m, dtype=torch.bool, device=values.device)
    starts[:, 1:] = values[:, 1:] != values[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    first = torch.where(starts, pos, 0).cummax(dim=1).values
    last = torch.where(ends, pos, m - 1).flip(1).cummin(dim=1).values.flip(1)
    size = last - first + 1
    u = torch.empty_like(first).scatter_(1, order, first)
    g = torch.empty_like(first).scatter_(1, order, size)
    # At depth d the group holding rank d is partly in: u + g·((d − u)/g)², the rest 0 or 1.
    above = first.double()
    return u, g, above + (_depths(m, values.device) - above) ** 2 / size.double()


def _overlaps(
    ua: torch.Tensor, ga: torch.Tensor, ub: torch.Tensor, gb: torch.Tensor
) -> torch.Tensor:
    """N×M tie-aware overlaps X_d = Σ_items c_a(d) c_b(d) at depths d = 1..M.

    Per item the product of the two clamped ramps is a polynomial in d on at most three
    stretches: both ramps rising (max(u) < d ≤ min(b)), one rising, both 1 (d > max(b)), with
    b = u + g. Their coefficients go into difference arrays over d; a cumulative sum gives the
    coefficients at each depth, in O(N·M) without a loop over pairs.
    """
    n, m = ua.shape
    ba, bb = ua + ga, ub + gb
    lo = torch.maximum(ua, ub)
    e1 = torch.maximum(lo, torch.minimum(ba, bb))
    e2 = torch.maximum(lo, torch.maximum(ba, bb))
    ua, ub, ga, gb = ua.double(), ub.double(), ga.double(), gb.double()
    inv = 1 / (ga * gb)
    # (d − ua)(d − ub)/(ga gb) while both rise; (d − u)/g of the later ramp while it alone rises
    later_a = ba >= bb
    u_late = torch.where(later_a, ua, ub)
    g_late = torch.where(later_a, ga, gb)
    coef = torch.zeros(n, m + 2, 3, dtype=torch.float64, device=ua.device)
    both = torch.stack([ua * ub * inv, -(ua + ub) * inv, inv], dim=-1)
    one = torch.stack([-u_late / g_late, 1 / g_late, torch.zeros_like(g_late)], dim=-1)
    full = torch.zeros_like(one)
    full[..., 0] = 1
    for start, stop, c in ((lo, e1, both), (e1, e2, one), (e2, None, full)):
        coef.scatter_add_(1, (start + 1)[..., None].expand(-1, -1, 3), c)
        if stop is not None:
            coef.scatter_add_(1, (stop + 1)[..., None].expand(-1, -1, 3), -c)
    coef = coef.cumsum(dim=1)[:, 1 : m + 1]
    d = torch.arange(1, m + 1, dtype=torch.float64, device=ua.device)
    return coef[..., 0] + coef[..., 1] * d + coef[..., 2] * d * d


def _tie_agreements(
    sorted_a: tuple[torch.Tensor, torch.Tensor], sorted_b: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """N×M tie-aware agreements A_d = X_d / √(Σ c_a² Σ c_b²); exactly 1 where the two rankings
    and their tie groups are the same."""
    ua, ga, qa = tie_groups(*sorted_a)
    ub, gb, qb = tie_groups(*sorted_b)
    agreement = (_overlaps(ua, ga, ub, gb) / torch.sqrt(qa * qb)).clamp(0.0, 1.0)
    same = ((ua == ub) & (ga == gb)).all(dim=1)
    return torch.where(same[:, None], torch.ones_like(agreement), agreement)


def rbo(
    scores_a: torch.Tensor, scores_b: torch.Tensor, counts: torch.Tensor, *, p: float
) -> torch.Tensor:
    """Tie-aware extrapolated RBO of the rankings by N×M scores (descending), float64 in [0, 1].

    `counts` gives each pair's number of items m (the rest of its row is −inf padding, ranked
    last in both and never reached). Exactly 1 where the two rankings and their ties are equal.
    Pairs without ties take the integer overlap count; only pairs with ties pay for the
    tie-aware overlaps.
    """
    n, m = scores_a.shape
    values_a, order_a = _descending(scores_a)
    values_b, order_b = _descending(scores_b)
    depth = _depths(m, scores_a.device)
    agreement = _distinct_overlaps(order_a, order_b) / depth
    # Rows where two items (not the −inf padding beyond the pair's m) share a score in either.
    real = depth[None, 1:] <= counts[:, None]
    equal = (values_a[:, 1:] == values_a[:, :-1]) | (values_b[:, 1:] == values_b[:, :-1])
    tied = (equal & real).any(dim=1).nonzero().squeeze(1)
    if len(tied):
        agreement[tied] = _tie_agreements(
            (values_a[tied], order_a[tied]), (values_b[tied], order_b[tied])
        )
    # Depths past a pair's own m (padding) and depth m itself agree fully: no shortfall there.
    shortfall = (1 - agreement).masked_fill_(depth[None, :] > counts[:, None], 0.0)
    weights = (1 - p) * p ** (depth - 1)
    return (1 - shortfall @ weights).clamp(0.0, 1.0)


def rbo_similarity(a: torch.Tensor, b: torch.Tensor, regions: Regions) -> torch.Tensor:
    """RBO of the region rankings of each pair of N×H×W normalised maps (float64, N)."""
    sa = region_scores(a, regions)
    sb = region_scores(b, regions)
    return rbo(sa, sb, regions.counts, p=regions.p)
