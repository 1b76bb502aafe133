"""Similarity measures against scipy / scikit-image oracles and hand-made maps."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, rankdata, spearmanr
from skimage.metrics import structural_similarity

from camrobust.metrics import MEASURES, mask_energy, pointing_hit, similarity
from camrobust.metrics.measures import average_ranks, top_k_mask
from camrobust.metrics.ssim import default_win_size, ssim

ALL = (*MEASURES, "iou_top5", "iou_top50")


def blob(cy: float, cx: float, size: int = 32, sigma: float = 4.0) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma * sigma))


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    win = default_win_size(*a.shape)
    return structural_similarity(
        a,
        b,
        data_range=1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        win_size=None if win == 11 else win,
    )


def test_identical_maps_score_one_for_every_measure():
    rng = np.random.default_rng(0)
    maps = np.stack(
        [rng.random((32, 32)), blob(10, 20), np.zeros((32, 32)), np.full((32, 32), 0.3)]
    )
    t = torch.tensor(maps, dtype=torch.float32)
    for name, s in similarity(t, t.clone(), ALL).items():
        np.testing.assert_allclose(s.numpy(), 1.0, atol=1e-6, err_msg=name)


def test_shifted_blob_lies_between_identical_and_unrelated():
    rng = np.random.default_rng(1)
    a = torch.tensor(np.stack([blob(12, 12)] * 2))
    b = torch.tensor(np.stack([blob(14, 15), rng.random((32, 32))]))
    for name, s in similarity(a, b, ALL).items():
        shifted, unrelated = s.tolist()
        assert unrelated < shifted < 1.0, name


def test_unrelated_random_maps_have_pearson_and_spearman_near_half():
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(64, 32, 32, generator=gen)
    b = torch.rand(64, 32, 32, generator=gen)
    s = similarity(a, b, ("pearson", "spearman"))
    for name in ("pearson", "spearman"):
        # r of 1024 independent pixels has sd 1/32, so s has sd ~0.016 per pair.
        assert abs(float(s[name].mean()) - 0.5) < 0.01, name
        assert float((s[name] - 0.5).abs().max()) < 0.1, name


def test_constant_maps_are_finite_without_warnings():
    rng = np.random.default_rng(3)
    a = torch.tensor(np.stack([np.zeros((16, 16)), np.full((16, 16), 0.7), np.zeros((16, 16))]))
    b = torch.tensor(np.stack([rng.random((16, 16)), rng.random((16, 16)), np.zeros((16, 16))]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = similarity(a, b, ALL)
    for name, values in s.items():
        assert torch.isfinite(values).all(), name
        assert ((values >= 0) & (values <= 1)).all(), name
    # Documented values: no correlation (0.5) against a constant, no overlap for a zero map,
    # and two equal constant maps count as identical.
    np.testing.assert_allclose(s["pearson"].numpy(), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(s["spearman"].numpy(), [0.5, 0.5, 1.0])
    assert s["cosine"][0] == 0 and s["cosine"][2] == 1
    assert s["ssim"][2] == 1


@pytest.mark.parametrize("shape", [(32, 32), (11, 11), (17, 24), (8, 8), (5, 3)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_equals_skimage(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    noise = rng.random((3, *shape))
    structured = np.stack(
        [blob(shape[0] / 3, shape[1] / 2, size=max(shape))[: shape[0], : shape[1]]]
    )
    a = np.concatenate([noise, structured, structured, np.zeros((1, *shape))])
    b = np.concatenate(
        [
            np.clip(noise + 0.2 * rng.standard_normal(noise.shape), 0, 1),
            np.roll(structured, 2, axis=2),
            rng.random((1, *shape)),
            np.zeros((1, *shape)),
        ]
    )
    expected = [skimage_ssim(a[i], b[i]) for i in range(len(a))]
    got = ssim(torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype))
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-4, rtol=0)
    mapped = similarity(torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype), ("ssim",))
    np.testing.assert_allclose(mapped["ssim"].numpy(), (np.array(expected) + 1) / 2, atol=1e-4)


def test_ssim_default_window_is_skimage_11_taps():
    assert default_win_size(32, 32) == 11
    assert default_win_size(8, 9) == 7
    with pytest.raises(ValueError, match="win_size"):
        ssim(torch.rand(1, 8, 8), torch.rand(1, 8, 8), win_size=11)


def test_pearson_and_spearman_equal_scipy_with_ties():
    rng = np.random.default_rng(4)
    continuous = rng.random((3, 12, 12))
    # Few distinct levels (and float16 storage) make many ties, where ranks must be averaged.
    tied = np.round(rng.random((3, 12, 12)) * 4) / 4
    half = rng.random((3, 12, 12)).astype(np.float16).astype(np.float64)
    a = np.concatenate([continuous, tied, half])
    b = np.concatenate([continuous**2 + 0.1 * rng.random((3, 12, 12)), tied[::-1], half[::-1]])
    b = b / b.max(axis=(1, 2), keepdims=True)
    s = similarity(torch.tensor(a), torch.tensor(b), ("pearson", "spearman"))
    for i in range(len(a)):
        x, y = a[i].ravel(), b[i].ravel()
        assert s["pearson"][i].item() == pytest.approx((pearsonr(x, y)[0] + 1) / 2, abs=1e-10)
        assert s["spearman"][i].item() == pytest.approx((spearmanr(x, y)[0] + 1) / 2, abs=1e-10)


def test_l1_is_one_minus_the_normalised_l1_distance():
    """1 − Σ|a − b| / (Σa + Σb) on non-negative maps (scipy's cityblock as the distance)."""
    from scipy.spatial.distance import cityblock

    rng = np.random.default_rng(8)
    a, b = rng.random((5, 9, 9)), rng.random((5, 9, 9)) ** 3
    b[0] = 0  # one all-zero map: nothing in common, 0
    s = similarity(torch.tensor(a), torch.tensor(b), ("l1",))["l1"].numpy()
    pairs = zip(a, b, strict=True)
    expected = [1 - cityblock(x.ravel(), y.ravel()) / (x.sum() + y.sum()) for x, y in pairs]
    np.testing.assert_allclose(s, expected, rtol=0, atol=1e-12)
    assert s[0] == 0.0
    zeros = torch.zeros(2, 4, 4)
    assert similarity(zeros, zeros, ("l1",))["l1"].tolist() == [1.0, 1.0]


def test_average_ranks_equal_scipy_rankdata():
    rng = np.random.default_rng(5)
    x = np.round(rng.random((4, 50)) * 6)
    np.testing.assert_array_equal(average_ranks(torch.tensor(x)).numpy(), rankdata(x, axis=1))


def test_iou_top_k_on_hand_made_maps():
    a = torch.arange(100, dtype=torch.float64).reshape(1, 10, 10) / 99  # top 20%: pixels 80..99
    b = a.clone().reshape(1, 100)
    b[0, 80:90] = 0.0  # half of a's top set drops out; b's top 20 is 70..79 and 90..99
    b = b.reshape(1, 10, 10)
    s = similarity(a, b, ("iou_top20", "iou_top10"))
    assert s["iou_top20"].item() == pytest.approx(10 / 30)
    assert s["iou_top10"].item() == pytest.approx(1.0)  # both tops are 90..99


def test_top_k_ties_resolve_in_raster_order():
    zero = torch.zeros(1, 4, 5)
    mask = top_k_mask(zero, 20).reshape(-1)  # k = 4 of 20 pixels
    assert mask.tolist() == [True] * 4 + [False] * 16
    ones_last = torch.zeros(1, 20)
    ones_last[0, -2:] = 1.0
    mask = top_k_mask(ones_last.reshape(1, 4, 5), 20).reshape(-1)
    assert mask.nonzero().ravel().tolist() == [0, 1, 18, 19]


@pytest.mark.parametrize("percent", [1, 20, 50, 99])
def test_top_k_mask_equals_a_stable_argsort(percent):
    rng = np.random.default_rng(percent)
    maps = np.round(rng.random((5, 9, 7)) * 3) / 3  # four distinct values: ties at every cut
    maps[0] = 0.0
    k = max(1, round(percent * 63 / 100))
    expected = np.zeros((5, 63), dtype=bool)
    order = np.argsort(-maps.reshape(5, -1), axis=1, kind="stable")[:, :k]
    np.put_along_axis(expected, order, True, axis=1)
    np.testing.assert_array_equal(top_k_mask(torch.tensor(maps), percent).numpy(), expected)
    a, b = torch.tensor(maps), torch.tensor(maps[::-1].copy())
    inter = (expected & expected[::-1]).sum(1)
    union = (expected | expected[::-1]).sum(1)
    np.testing.assert_allclose(
        similarity(a, b, (f"iou_top{percent}",))[f"iou_top{percent}"], inter / union
    )


@pytest.mark.parametrize(
    ("a", "b", "measures", "message"),
    [
        (torch.rand(2, 8, 8), torch.rand(2, 8, 9), ("ssim",), "shapes differ"),
        (torch.rand(2, 8, 8) + 1, torch.rand(2, 8, 8), ("ssim",), "outside"),
        (torch.full((1, 8, 8), float("nan")), torch.rand(1, 8, 8), ("cosine",), "NaN"),
        (torch.rand(8, 8), torch.rand(8, 8), ("ssim",), "N×H×W"),
        (torch.rand(1, 8, 8), torch.rand(1, 8, 8), ("iou_top0",), "unknown"),
        (torch.rand(1, 8, 8), torch.rand(1, 8, 8), ("iou_top100",), "unknown"),
        (torch.rand(1, 8, 8), torch.rand(1, 8, 8), ("dice",), "unknown"),
        (torch.rand(1, 8, 8), torch.rand(1, 8, 8), (), "at least one"),
    ],
)
def test_bad_input_is_a_clear_error(a, b, measures, message):
    with pytest.raises(ValueError, match=message):
        similarity(a, b, measures)


def test_mask_energy_and_pointing_on_hand_made_masks():
    maps = torch.zeros(3, 4, 4)
    maps[0, 0, 0] = 1.0  # all energy at (0, 0), inside the mask
    maps[0, 3, 3] = 0.0
    maps[1, 0, 0] = 0.5  # 0.5 inside, 1.0 + 0.5 outside; the peak (3, 3) is outside
    maps[1, 3, 3] = 1.0
    maps[1, 2, 3] = 0.5
    masks = torch.zeros(3, 4, 4, dtype=torch.uint8)
    masks[:, :2, :2] = 1
    energy = mask_energy(maps, masks)
    np.testing.assert_allclose(energy.numpy(), [1.0, 0.25, 0.0])  # zero map: documented 0
    assert pointing_hit(maps, masks).tolist() == [True, False, False]


def test_ssim_float32_stays_exact_on_flat_bright_maps():
    # Nearly constant maps near 1 are where E[x²] - E[x]² cancels worst in float32.
    rng = np.random.default_rng(6)
    a = 0.95 + 0.01 * rng.random((6, 32, 32))
    b = np.concatenate([a[:3] + 1e-3 * rng.standard_normal((3, 32, 32)), 0.9 + a[3:] / 20])
    b = np.clip(b, 0, 1)
    expected = [skimage_ssim(a[i], b[i]) for i in range(len(a))]
    got = ssim(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    np.testing.assert_allclose(got.double().numpy(), expected, atol=2e-6, rtol=0)


def test_ssim_and_measures_do_not_depend_on_chunking(monkeypatch):
    rng = np.random.default_rng(7)
    a = torch.tensor(np.round(rng.random((11, 12, 13)) * 5) / 5, dtype=torch.float32)
    b = torch.tensor(rng.random((11, 12, 13)), dtype=torch.float32)
    whole = similarity(a, b, ALL)
    # Chunks of 4 and 3 pairs: full chunks and a partial one.
    monkeypatch.setattr("camrobust.metrics.ssim.CPU_CHUNK_PIXELS", 4 * 12 * 13)
    monkeypatch.setattr("camrobust.metrics.measures.CPU_CHUNK_PIXELS", 3 * 12 * 13)
    chunked = similarity(a, b, ALL)
    for name in ALL:
        # float32 SSIM may round differently with how many pairs share a convolution call.
        atol = 1e-7 if name == "ssim" else 0.0
        torch.testing.assert_close(chunked[name], whole[name], rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_ranks_and_top_k_for_other_dtypes(dtype):
    # float32 takes numpy's sorts, float16 torch's; both must tie-break as documented.
    rng = np.random.default_rng(8)
    maps = np.round(rng.random((4, 6, 9)) * 4) / 4
    x = torch.tensor(maps, dtype=dtype)
    flat = x.float().numpy().reshape(4, -1)
    np.testing.assert_array_equal(average_ranks(x.reshape(4, -1)).numpy(), rankdata(flat, axis=1))
    k = round(20 * 54 / 100)
    expected = np.zeros((4, 54), dtype=bool)
    np.put_along_axis(expected, np.argsort(-flat, axis=1, kind="stable")[:, :k], True, axis=1)
    np.testing.assert_array_equal(top_k_mask(x, 20).numpy(), expected)


def test_empty_batch_gives_empty_results():
    empty = torch.zeros(0, 8, 8)
    for name, s in similarity(empty, empty, ALL).items():
        assert s.shape == (0,) and s.dtype == torch.float64, name


@pytest.mark.parametrize(
    ("shape", "win_size"), [((1, 1), None), ((2, 7), None), ((32, 32), 9), ((32, 32), 13)]
)
def test_ssim_float32_on_tiny_maps_and_other_windows(shape, win_size):
    # Windows narrower than the filter reach into the reflected border, wider ones crop more.
    rng = np.random.default_rng(9)
    a = rng.random((20, *shape))
    b = np.clip(a + 0.3 * rng.random((20, *shape)), 0, 1)
    win = win_size or default_win_size(*shape)
    expected = [
        structural_similarity(
            a[i],
            b[i],
            data_range=1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            win_size=win,
        )
        for i in range(len(a))
    ]
    got = ssim(
        torch.tensor(a, dtype=torch.float32),
        torch.tensor(b, dtype=torch.float32),
        win_size=win_size,
    )
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-5, rtol=0)
