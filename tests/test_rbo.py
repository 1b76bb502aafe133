"""The paper's similarity: Quickshift segments, region scores and tie-aware rank-biased overlap,
against the `rbo` package, skimage's quickshift and hand-computed values."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import rbo as rbo_package
import torch

from camrobust.metrics import make_regions, per_image_table, rbo, similarity
from camrobust.metrics.rbo import _exact_rbo, region_scores, sort_keys
from camrobust.metrics.segments import segment_images
from camrobust.metrics.table import KEY_COLUMNS
from camrobust.seeding import derive_seed

P = 0.9
# the module (`camrobust.metrics.rbo` as an attribute is the function)
rbo_module = importlib.import_module("camrobust.metrics.rbo")


@pytest.fixture(params=["sort keys", "exact"])
def path(request, monkeypatch):
    """Run a test through the sort-key path at any batch size, then through the exact path."""
    pairs = 0 if request.param == "sort keys" else 10**9
    monkeypatch.setattr(rbo_module, "FAST_PATH_PAIRS", pairs)
    return request.param


def webber(order_a: list[int], order_b: list[int], p: float) -> float:
    """The `rbo` package's extrapolated RBO of two complete rankings (lists of item ids)."""
    return rbo_package.RankingSimilarity(order_a, order_b).rbo_ext(p=p)


def one(a: list[float], b: list[float], p: float = P) -> float:
    """Our RBO of the rankings by scores `a` and `b` of one pair (no padding)."""
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    return rbo(ta, tb, torch.tensor([len(a)]), p=p).item()


@pytest.mark.parametrize("p", [0.5, 0.8, 0.9, 0.98])
def test_rbo_equals_the_rbo_package_on_rankings_without_ties(p, path):
    """Random rankings of m = 2..300 items, padded to one batch: agreement to 1e-9."""
    rng = np.random.default_rng(int(p * 100))
    sizes = [2, 3, 4, 7, 10, 25, 50, 100, 173, 300]
    pairs = [(m, rng.permutation(m), rng.permutation(m)) for m in sizes for _ in range(5)]
    width = max(sizes)
    a = torch.full((len(pairs), width), -torch.inf, dtype=torch.float64)
    b = a.clone()
    expected = []
    for i, (m, rank_a, rank_b) in enumerate(pairs):
        # the item at rank r gets score m - r: descending scores give the ranking back
        a[i, :m] = torch.as_tensor(m - rank_a, dtype=torch.float64)
        b[i, :m] = torch.as_tensor(m - rank_b, dtype=torch.float64)
        expected.append(webber(list(np.argsort(rank_a)), list(np.argsort(rank_b)), p))
    got = rbo(a, b, torch.tensor([m for m, _, _ in pairs]), p=p)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)
    assert np.ptp(expected) > 0.3  # the rankings differ, so the comparison tells something


def test_a_hand_computed_example_of_four_regions(path):
    # S = A B C D, T = B A D C. Overlaps X_1..4 = 0, 2, 2, 4, agreements A_d = X_d/d = 0, 1,
    # 2/3, 1. With p = 0.9 the weights (1 - p) p^(d-1) are 0.1, 0.09, 0.081, 0.0729, so
    # RBO = 1 - [0.1·(1 - 0) + 0.09·0 + 0.081·(1 - 2/3) + 0.0729·0] = 1 - 0.1 - 0.027 = 0.873;
    # Webber's form gives the same: (0.1/0.9)(0.81 + (2/3)·0.729 + 0.6561) + 0.6561 = 0.873.
    assert one([4, 3, 2, 1], [3, 4, 1, 2]) == pytest.approx(0.873, abs=1e-12)
    assert webber([0, 1, 2, 3], [1, 0, 3, 2], P) == pytest.approx(0.873, abs=1e-12)


def test_identical_rankings_give_exactly_one_and_reversed_ones_the_known_value(path):
    scores = [0.7, 0.1, 0.4, 0.9]
    assert one(scores, scores) == 1.0
    assert one(scores, [2 * s for s in scores]) == 1.0  # same ranking, other scores
    # Reversed, m = 4: X_d = max(0, 2d - 4) = 0, 0, 2, 4, so with p = 0.9
    # RBO = 1 - (0.1 + 0.09 + 0.081/3) = 0.783.
    assert one(scores, [-s for s in scores]) == pytest.approx(0.783, abs=1e-12)
    # Any m: X_d = max(0, 2d - m), A_d = X_d / d.
    m = 17
    d = np.arange(1, m + 1)
    known = 1 - np.sum((1 - P) * P ** (d - 1) * (1 - np.maximum(0, 2 * d - m) / d))
    ranks = list(range(m))
    assert one(ranks, ranks[::-1]) == pytest.approx(known, abs=1e-12)
    assert webber(ranks, ranks[::-1], P) == pytest.approx(known, abs=1e-12)


def test_ties_are_never_broken_by_region_index(path):
    """Map a leaves regions C and D tied (both 0), map b ranks them: the same value whichever
    way b orders them, and neither the 1 nor the 0.973 that breaking a's tie by index gives."""
    # b-variant: at depth 3 each of C, D is in a's top 3 with weight (3 - 2)/2 = 1/2, so
    # X_3 = 2 + 1/2·1 + 1/2·0 = 2.5, Σ c_a² = 2 + 2·(1/2)² = 2.5, Σ c_b² = 3 and
    # A_3 = 2.5/√(2.5·3) = 0.91287; depths 1, 2, 4 agree fully, so
    # RBO = 1 - 0.081·(1 - 0.91287) = 0.992943.
    a = [0.9, 0.5, 0.0, 0.0]
    c_first, d_first = one(a, [0.9, 0.5, 0.2, 0.1]), one(a, [0.9, 0.5, 0.1, 0.2])
    expected = 1 - 0.081 * (1 - 2.5 / np.sqrt(7.5))
    assert c_first == pytest.approx(expected, abs=1e-12)
    assert d_first == pytest.approx(expected, abs=1e-12)
    by_index = (one([4, 3, 2, 1], [4, 3, 2, 1]), one([4, 3, 2, 1], [4, 3, 1, 2]))
    assert by_index == (1.0, pytest.approx(1 - 0.081 / 3))
    # Relabelling the regions changes nothing.
    perm = [2, 0, 3, 1]
    assert one([a[i] for i in perm], [[0.9, 0.5, 0.2, 0.1][i] for i in perm]) == c_first
    # Identical rankings with ties (and the same tie groups) are still exactly 1.
    assert one(a, [0.8, 0.3, 0.0, 0.0]) == 1.0


def test_a_constant_map_ties_every_region(path):
    """One block of m tied regions against a strict ranking: c_a(d) = d/m for every region, so
    X_d = d²/m, Σ c_a² = d²/m, Σ c_b² = d and A_d = √(d/m)."""
    m = 9
    d = np.arange(1, m + 1)
    known = 1 - np.sum((1 - P) * P ** (d - 1) * (1 - np.sqrt(d / m)))
    assert one([0.0] * m, list(range(m))) == pytest.approx(known, abs=1e-12)
    assert one([0.0] * m, [0.0] * m) == 1.0


def test_region_scores_are_means_or_sums_and_padding_ranks_last():
    labels = np.array([[[0, 0, 1], [0, 2, 2]], [[0, 1, 1], [1, 1, 1]]])
    maps = torch.tensor([[[0.2, 0.4, 1.0], [0.0, 0.5, 0.1]], [[0.0, 0.3, 0.3], [0.3, 0.3, 0.5]]])
    mean = region_scores(maps, make_regions(labels, p=P, score="mean"))
    total = region_scores(maps, make_regions(labels, p=P, score="sum"))
    inf = -np.inf
    np.testing.assert_allclose(mean.numpy(), [[0.2, 1.0, 0.3], [0.0, 0.34, inf]], atol=1e-7)
    np.testing.assert_allclose(total.numpy(), [[0.6, 1.0, 0.6], [0.0, 1.7, inf]], atol=1e-7)
    assert make_regions(labels, p=P, score="mean").counts.tolist() == [3, 2]
    with pytest.raises(ValueError, match="region score must be one of mean, sum"):
        make_regions(labels, p=P, score="max")
    with pytest.raises(ValueError, match="do not fit the segments"):
        region_scores(maps[:1], make_regions(labels, p=P, score="mean"))


def stripes(values: list[float]) -> torch.Tensor:
    """A 1×4×8 map of four vertical stripes (two columns each) with the given values."""
    return (
        torch.tensor(values, dtype=torch.float32).repeat_interleave(2)[None, None].repeat(1, 4, 1)
    )


def test_similarity_ranks_the_regions_of_the_maps():
    labels = np.arange(4).repeat(2)[None, None].repeat(4, axis=1)  # four stripe regions
    regions = make_regions(labels, p=P, score="mean")
    a = stripes([1.0, 0.75, 0.5, 0.0])
    out = similarity(a, stripes([0.0, 0.5, 0.75, 1.0]), ("rbo", "l1"), regions=regions)
    assert out["rbo"].item() == pytest.approx(0.783, abs=1e-12)  # the reversed ranking
    # l1: |a - b| sums to 2·(1 + 0.25 + 0.25 + 1)·4 = 20 over ‖a‖₁ + ‖b‖₁ = 2·2·2.25·4 = 36.
    assert out["l1"].item() == pytest.approx(1 - 20 / 36)
    assert similarity(a, a.clone(), ("rbo", "l1"), regions=regions)["rbo"].item() == 1.0
    with pytest.raises(ValueError, match="measure 'rbo' needs the images' regions"):
        similarity(a, a, ("rbo",))


def test_the_per_image_table_has_rbo_and_flags_constant_maps_degenerate():
    rng = np.random.default_rng(3)
    n, size = 6, (8, 8)
    labels = np.arange(16).reshape(4, 4).repeat(2, 0).repeat(2, 1)[None].repeat(n, 0)
    clean_maps = rng.random((n, 8, 8)).astype(np.float32)
    noisy_maps = clean_maps.copy()
    noisy_maps[0] = 0  # a constant map: degenerate
    noisy_maps[1] = clean_maps[1][::-1]  # another ranking
    preds = np.zeros(n, dtype=np.int64)
    table = per_image_table(
        {"maps": {"gradcam": clean_maps}, "preds": preds},
        {"1": {"maps": {"gradcam": noisy_maps}, "preds": preds}},
        labels=preds,
        masks=None,
        image_size=size,
        measures=("rbo", "ssim"),
        keys=dict.fromkeys(KEY_COLUMNS, "-"),
        regions=make_regions(labels, p=P, score="mean"),
    )
    assert table["degenerate"].tolist() == [True] + [False] * 5
    assert table["n_regions"].tolist() == [16] * n
    np.testing.assert_array_equal(table["rbo"].to_numpy()[2:], 1.0)
    assert table["rbo"].between(0, 1).all() and table["rbo"].iloc[1] < 0.9
    # The constant map ties its 16 regions: A_d = √(d/16) against the clean map's ranking.
    d = np.arange(1, 17)
    constant = 1 - np.sum((1 - P) * P ** (d - 1) * (1 - np.sqrt(d / 16)))
    assert table["rbo"].iloc[0] == pytest.approx(constant, abs=1e-12)
    with pytest.raises(ValueError, match="measure 'rbo' needs the images' segments"):
        per_image_table(
            {"maps": {"gradcam": clean_maps}, "preds": preds},
            {"1": {"maps": {"gradcam": noisy_maps}, "preds": preds}},
            labels=preds,
            masks=None,
            image_size=size,
            measures=("rbo",),
            keys=dict.fromkeys(KEY_COLUMNS, "-"),
        )


def test_segments_are_skimage_quickshift_with_the_same_arguments():
    from skimage.segmentation import quickshift

    from camrobust.data.shapes import make_shapes

    images = make_shapes(5, 32, seed=0)["images"]
    options = {"kernel_size": 1, "max_dist": 200, "ratio": 0.2, "sigma": 0}
    out = segment_images(images, **options, seed=7, dataset="shapes")
    assert out["labels"].shape == (5, 32, 32) and out["labels"].dtype == np.int32
    for i, image in enumerate(images):
        rng = derive_seed(7, "quickshift", "shapes", i) % 2**31
        expected = quickshift(image, **options, rng=rng, convert2lab=True, channel_axis=-1)
        np.testing.assert_array_equal(out["labels"][i], expected)
        assert out["n_regions"][i] == expected.max() + 1 == len(np.unique(expected))
    assert (out["n_regions"] >= 5).all()  # the 32-pixel default gives several regions
    with pytest.raises(ValueError, match="need N×H×W×3 RGB images"):
        segment_images(images[..., 0], **options, seed=7, dataset="shapes")


def test_a_padded_batch_gives_each_pair_its_own_value_with_and_without_ties(path):
    """Pairs of 2..30 regions with few distinct scores (many ties) in one padded batch: each row
    equals that pair alone, and no row depends on the order of the regions."""
    rng = np.random.default_rng(11)
    sizes = rng.integers(2, 31, 40)
    width = int(sizes.max())
    a = torch.full((len(sizes), width), -torch.inf, dtype=torch.float64)
    b = a.clone()
    alone = []
    for i, m in enumerate(sizes):
        x, y = rng.integers(0, 4, m) / 4.0, rng.integers(0, 6, m) / 6.0
        a[i, :m], b[i, :m] = torch.from_numpy(x), torch.from_numpy(y)
        alone.append(one(list(x), list(y)))
        perm = rng.permutation(m)
        assert one(list(x[perm]), list(y[perm])) == pytest.approx(alone[-1], abs=1e-12)
    got = rbo(a, b, torch.from_numpy(sizes), p=P)
    np.testing.assert_allclose(got.numpy(), alone, rtol=0, atol=1e-12)
    assert np.ptp(alone) > 0.2


def test_sort_keys_order_the_scores_and_carry_each_item_index():
    """Ascending keys follow ascending scores, negatives, ±0, subnormals and ±inf included."""
    rng = np.random.default_rng(2)
    special = [-np.inf, -1e300, -2.5, -1e-310, -0.0, 0.0, 1e-310, 1e-300, 0.5, 1e300, np.inf]
    scores = np.stack([rng.permutation(special + list(rng.normal(0, 10, 40))) for _ in range(7)])
    keys = sort_keys(torch.from_numpy(scores))
    assert keys.dtype == np.int64 and (np.diff(keys, axis=1) > 0).all()
    order = keys & 63  # 51 items: the index takes the 6 low bits
    np.testing.assert_array_equal(np.sort(order, axis=1), np.arange(51)[None].repeat(7, 0))
    assert (np.diff(np.take_along_axis(scores, order, axis=1), axis=1) >= 0).all()


def test_the_sort_key_path_is_exact_where_its_keys_cannot_tell_scores_apart():
    """Scores a few ulps apart (merged once the index bits are cleared), −0.0 against 0.0 (a
    tie) and ±inf: the rows the keys cannot order take the exact path, in a batch large enough
    for the sort keys (most rows without ties)."""
    rng = np.random.default_rng(4)
    n, m = 3 * rbo_module.FAST_PATH_PAIRS, 20
    a, b = rng.random((n, m)), rng.random((n, m))
    a[:50] = 0.5 + rng.permutation(m) * np.spacing(0.5)  # 0..19 ulps above 0.5
    a[50:60, :2] = [0.0, -0.0]
    b[60:70, 0], b[70:80, 0] = np.inf, -np.inf
    a[80:90, 0] = np.nan
    counts = torch.from_numpy(rng.integers(2, m + 1, n))
    a[np.arange(m)[None] >= counts.numpy()[:, None]] = -np.inf
    b[np.arange(m)[None] >= counts.numpy()[:, None]] = -np.inf
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    got = rbo(ta, tb, counts, p=P)
    np.testing.assert_allclose(got, _exact_rbo(ta, tb, counts, P), rtol=0, atol=1e-14)
    expected = [
        webber(list(np.argsort(-a[i, :c])), list(np.argsort(-b[i, :c])), P)
        for i, c in enumerate(counts.tolist()[:50])
    ]
    np.testing.assert_allclose(got[:50], expected, rtol=0, atol=1e-9)
    tie = [0.9, 0.0, 0.0]  # −0.0 == 0.0: a tie, as in the exact path
    same = rbo(torch.tensor([[0.9, 0.0, -0.0]] * n), torch.tensor([[0.1, 0.5, 0.3]] * n),
               torch.full((n,), 3), p=P)  # fmt: skip
    assert same.tolist() == [one(tie, [0.1, 0.5, 0.3])] * n
