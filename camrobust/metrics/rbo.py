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
tensors, padded with −inf beyond an image's own number of regions (docs/metric.md). On the CPU,
from `FAST_PATH_PAIRS` pairs on, each ranking is one sort of int64 keys that carry the region's
index (`sort_keys`) and a pair without ties costs one term per region; pairs with ties, and the
rare rows the keys cannot order exactly, take the exact path (a float sort, as on a GPU).
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


def _exact_rbo(
    scores_a: torch.Tensor, scores_b: torch.Tensor, counts: torch.Tensor, p: float
) -> torch.Tensor:
    """RBO through a sort of the float scores: any device, any ties (`rbo`'s reference path)."""
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


#: The fewest pairs for which `rbo` takes the sort keys on the CPU: below, the fast path's
#: fixed cost (about 40 small array calls) outweighs what it saves (docs/performance.md).
FAST_PATH_PAIRS = 256

#: The sort keys of −inf and +inf before their low bits are cleared (`sort_keys`).
_NEG_INF_KEY = np.int64(-0x7FF0000000000001)  # bits 0xFFF0…0 with the 63 low bits flipped
_INF_KEY = np.int64(0x7FF0000000000000)


def _index_bits(m: int) -> int:
    """Bits that hold an item's index 0..m−1 in the low end of a sort key."""
    return max((m - 1).bit_length(), 1)


def sort_keys(scores: torch.Tensor) -> np.ndarray:
    """Each row's int64 sort keys in ascending order: the score's float64 bits as an integer of
    the same order, with the item's index in the low `_index_bits` bits (`rbo`'s fast path).

    numpy sorts int64 with SIMD, about 3× faster than its argsort; the index rides along in the
    key. Clearing those low bits can merge scores that differ only there: such rows, like rows
    with ties, are found from the keys (`_unsure_rows`) and take the exact path.
    """
    n, m = scores.shape
    bits = np.ascontiguousarray(scores.detach().to(torch.float64).numpy()).view(np.int64)
    # Negative floats order inversely as integers: flip their 63 low bits.
    keys = np.right_shift(bits, 63)
    keys &= np.int64(np.iinfo(np.int64).max)
    keys ^= bits
    keys &= np.int64(-1 << _index_bits(m))
    keys |= np.arange(m, dtype=np.int64)
    keys.sort(axis=1)
    return keys


def _unsure_rows(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Whether each row's order may not follow from its keys exactly: two real items whose keys
    differ by less than two steps of the score part (a tie, two scores merged by the cleared
    bits, or −0.0 next to 0.0), or a real item scored ±inf or NaN."""
    n, m = keys.shape
    shift = _index_bits(m)
    flat = keys.reshape(-1).view(np.uint64)
    # Ascending keys: a difference as uint64 is exact; flat, it is one contiguous pass (the
    # differences across row ends are dropped below).
    close = np.flatnonzero(np.subtract(flat[1:], flat[:-1]) < np.uint64(2 << shift))
    row, col = np.divmod(close, m)
    first = m - counts  # the padding (−inf) sorts first, the real items after it
    keep = (col < m - 1) & (col >= first[row])
    unsure = np.zeros(n, dtype=bool)
    unsure[row[keep]] = True
    low = keys[np.arange(n), np.minimum(first, m - 1)] >> shift
    high = keys[:, -1] >> shift
    return unsure | (low <= _NEG_INF_KEY >> shift) | (high >= _INF_KEY >> shift)


def _distinct_rbo(
    keys_a: np.ndarray, keys_b: np.ndarray, counts: np.ndarray, p: float
) -> torch.Tensor:
    """RBO of rankings without ties from their sorted keys (overwritten with the orders), one
    term per item and no loop over depths.

    With A_d = X_d/d, 1 − RBO = Σ_d w_d (d − X_d)/d, w_d = (1 − p) p^(d−1), and d − X_d counts
    the items in a's top d not yet in b's: an item of depths r_a in a and r_b in b adds
    Q(max(r_a, r_b)) − Q(r_a), Q(k) = Σ_{d<k} w_d/d. So 1 − RBO = Σ_items max(Q(r_b) − Q(r_a), 0):
    one scatter and one gather, and exactly 0 for identical rankings.
    """
    n, m = keys_a.shape
    # The keys become the orders in place: a fresh N×M array costs page faults, not only time.
    order_a = torch.from_numpy(np.bitwise_and(keys_a, (1 << _index_bits(m)) - 1, out=keys_a))
    order_b = torch.from_numpy(np.bitwise_and(keys_b, (1 << _index_bits(m)) - 1, out=keys_b))
    d = np.arange(1, m + 1)
    q = np.concatenate(([0.0], np.cumsum((1 - p) * p ** (d - 1) / d)))
    # Ascending keys: position j is depth m − j; padding takes depth m, so it adds nothing.
    if (counts < m).any():
        q_at = torch.from_numpy(q[np.minimum(m - np.arange(m), counts[:, None]) - 1])
    else:
        q_at = torch.from_numpy(q[m - 1 :: -1].copy()).expand(n, m)
    q_b = torch.empty(n, m, dtype=torch.float64).scatter_(1, order_b, q_at)
    gap = q_b.gather(1, order_a).sub_(q_at).relu_()
    return (1 - gap.sum(dim=1)).clamp_(0.0, 1.0)


def rbo(
    scores_a: torch.Tensor, scores_b: torch.Tensor, counts: torch.Tensor, *, p: float
) -> torch.Tensor:
    """Tie-aware extrapolated RBO of the rankings by N×M scores (descending), float64 in [0, 1].

    `counts` gives each pair's number of items m (the rest of its row is −inf padding, ranked
    last in both and never reached). Exactly 1 where the two rankings and their ties are equal.
    On the CPU, from `FAST_PATH_PAIRS` pairs on, the rankings come from sorted keys
    (`sort_keys`) and pairs without ties take one term per item; pairs with ties, or whose keys
    cannot order them exactly, take the exact path. Both give the same values to float64
    rounding.
    """
    n, m = scores_a.shape
    if scores_a.device.type != "cpu" or n < FAST_PATH_PAIRS or m == 0:
        return _exact_rbo(scores_a, scores_b, counts, p)
    size = counts.cpu().numpy().astype(np.int64)
    keys_a, keys_b = sort_keys(scores_a), sort_keys(scores_b)
    unsure = np.flatnonzero(_unsure_rows(keys_a, size) | _unsure_rows(keys_b, size))
    if len(unsure) < n:
        out = _distinct_rbo(keys_a, keys_b, size, p)  # the keys are spent here
    else:  # every pair has ties (e.g. ReLU'd maps): all take the exact path
        out = torch.empty(n, dtype=torch.float64)
    if len(unsure):
        unsure = torch.from_numpy(unsure)
        out[unsure] = _exact_rbo(scores_a[unsure], scores_b[unsure], counts[unsure], p)
    return out


def rbo_similarity(a: torch.Tensor, b: torch.Tensor, regions: Regions) -> torch.Tensor:
    """RBO of the region rankings of each pair of N×H×W normalised maps (float64, N)."""
    sa = region_scores(a, regions)
    sb = region_scores(b, regions)
    return rbo(sa, sb, regions.counts, p=regions.p)
