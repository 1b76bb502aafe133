"""Faithfulness metrics against pytorch-grad-cam's metric classes and a direct per-step loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_grad_cam.metrics import road
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from camrobust.cam import compute_cams, normalize_maps
from camrobust.quality.faithfulness import (
    BLUR_KERNEL,
    BLUR_SIGMA,
    faithfulness,
    relevance_rank,
    road_kept,
)
from camrobust.quality.imputation import linear_impute
from camrobust.seeding import derive_seed, torch_generator

# 18×18 images: (P − 1)·p/100 is never an integer for p = 10 … 90 (P = 324), so numpy's
# percentile never lands exactly on a pixel value and both implementations keep the same pixels.
SIZE, N = 18, 5
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
TOL = 1e-5


def _net(width: int = 8, pooled: int = 1) -> nn.Module:
    """A small CNN; `pooled` > 1 keeps a pooled×pooled grid before the linear head."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(pooled),
        nn.Flatten(),
        nn.Linear(2 * width * pooled**2, 10),
    )


@pytest.fixture(scope="module")
def model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed("test_faithfulness", "model"))
        return _net().eval()


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Images, two sets of untied maps in [0, 1] and the target classes."""
    x = torch.rand(N, 3, SIZE, SIZE, generator=torch_generator("test_faithfulness", "x"))
    raw = torch.rand(2, N, SIZE, SIZE, generator=torch_generator("test_faithfulness", "maps"))
    maps = {"a": normalize_maps(raw[0]), "b": normalize_maps(raw[1] ** 3)}
    targets = torch.tensor([0, 3, 5, 7, 9])
    return x, maps, targets


def _softmax_targets(targets: torch.Tensor) -> list:
    return [ClassifierOutputSoftmaxTarget(int(t)) for t in targets]


@pytest.fixture(scope="module")
def ours(model, data):
    x, maps, targets = data
    return faithfulness(model, x, maps, targets, percentiles=PERCENTILES, road_noise=0.0, steps=8)


def test_confidence_change_equals_cam_mult_image(model, data, ours):
    x, maps, targets = data
    for name, m in maps.items():
        expected = CamMultImageConfidenceChange()(x, m.numpy(), _softmax_targets(targets), model)
        np.testing.assert_allclose(ours.scores[name]["confidence_change"], expected, atol=TOL)


def test_road_equals_pytorch_grad_cam(model, data, ours, monkeypatch):
    # Both without imputation noise (pytorch-grad-cam draws it from the global torch RNG).
    class NoiseFree(road.NoisyLinearImputer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(noise=0.0)

    monkeypatch.setattr(road, "NoisyLinearImputer", NoiseFree)
    x, maps, targets = data
    wrapped = _softmax_targets(targets)
    for name, m in maps.items():
        cams = m.numpy()
        for j, p in enumerate(PERCENTILES[::4]):
            morf = road.ROADMostRelevantFirst(p)(x, cams, wrapped, model)
            lerf = road.ROADLeastRelevantFirst(p)(x, cams, wrapped, model)
            np.testing.assert_allclose(ours.road_morf[name][:, 4 * j], morf, atol=TOL)
            np.testing.assert_allclose(ours.road_lerf[name][:, 4 * j], lerf, atol=TOL)
        morf_avg = road.ROADMostRelevantFirstAverage(list(PERCENTILES))(x, cams, wrapped, model)
        combined = road.ROADCombined(list(PERCENTILES))(x, cams, wrapped, model)
        np.testing.assert_allclose(ours.scores[name]["road_morf"], morf_avg, atol=TOL)
        np.testing.assert_allclose(ours.scores[name]["road_combined"], combined, atol=TOL)


def test_linear_imputation_equals_spsolve():
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch_generator("test_faithfulness", "impute"))
    keep = torch.rand(2, SIZE, SIZE, generator=torch_generator("test_faithfulness", "keep")) < 0.3
    ours = linear_impute(x, keep)
    imputer = road.NoisyLinearImputer(noise=0.0)
    for i in range(2):
        expected = imputer(x[i], keep[i].float())
        torch.testing.assert_close(ours[i], expected, atol=1e-6, rtol=0)
    assert torch.equal(ours[keep[:, None].expand_as(x)], x[keep[:, None].expand_as(x)])


def _direct_curves(model, x, m, targets, steps):
    """Deletion and insertion curves, one step and one image at a time."""
    blurred = gaussian_blur(x, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])
    deletion, insertion = np.zeros((len(x), steps + 1)), np.zeros((len(x), steps + 1))
    n_pixels = SIZE * SIZE
    for i in range(len(x)):
        order = np.argsort(-m[i].flatten().numpy(), kind="stable")
        for k in range(steps + 1):
            chosen = torch.zeros(n_pixels, dtype=torch.bool)
            chosen[torch.from_numpy(order[: k * n_pixels // steps])] = True
            chosen = chosen.view(SIZE, SIZE)
            deleted = torch.where(chosen, 0.0, x[i])
            inserted = torch.where(chosen, x[i], blurred[i])
            with torch.no_grad():
                p = F.softmax(model(torch.stack([deleted, inserted])).double(), dim=1)
            deletion[i, k], insertion[i, k] = p[:, int(targets[i])].numpy()
    return deletion, insertion


def test_deletion_and_insertion_equal_a_direct_loop(model, data, ours):
    x, maps, targets = data
    for name, m in maps.items():
        deletion, insertion = _direct_curves(model, x, m, targets, steps=8)
        np.testing.assert_allclose(
            ours.scores[name]["deletion_auc"], np.trapezoid(deletion, dx=1 / 8, axis=1), atol=TOL
        )
        np.testing.assert_allclose(
            ours.scores[name]["insertion_auc"], np.trapezoid(insertion, dx=1 / 8, axis=1), atol=TOL
        )


def test_constant_maps_have_no_faithfulness(model, data):
    x, maps, targets = data
    constant = {"zero": torch.zeros(N, SIZE, SIZE), "half": torch.full((N, SIZE, SIZE), 0.5)}
    result = faithfulness(model, x, {**constant, "a": maps["a"]}, targets, steps=4)
    for name in constant:
        assert result.degenerate[name].all()
        for metric, values in result.scores[name].items():
            assert np.isnan(values).all(), metric
    assert not result.degenerate["a"].any()
    assert all(np.isfinite(v).all() for v in result.scores["a"].values())


def test_ties_are_removed_in_raster_order_never_all_at_once():
    m = torch.zeros(1, 4, 5)
    m[0, 0, :3] = torch.tensor([1.0, 0.5, 0.5])
    rank = relevance_rank(m).flatten()
    # 1.0 first, then the two 0.5s in raster order, then the 17 zeros in raster order.
    assert rank[:3].tolist() == [0, 1, 2] and rank[3:].tolist() == list(range(3, 20))
    least = relevance_rank(m, most_first=False).flatten()
    assert least[3:].tolist() == list(range(17)) and least[:3].tolist() == [19, 17, 18]
    # 85% of this map is 0: pytorch-grad-cam's MoRF at p = 50 would remove every pixel (its
    # threshold is 0 and nothing is below it); here it keeps ⌈19·0.5⌉ = 10.
    assert road_kept(20, 50) == 10


def test_same_seed_same_noisy_road_and_batch_size_free(model, data):
    x, maps, targets = data
    first = faithfulness(model, x, maps, targets, percentiles=(30, 70), steps=4, seed=1)
    again = faithfulness(
        model, x, maps, targets, percentiles=(30, 70), steps=4, seed=1, batch_size=3
    )
    other = faithfulness(model, x, maps, targets, percentiles=(30, 70), steps=4, seed=2)
    for metric in ("road_morf", "road_lerf"):
        np.testing.assert_allclose(first.scores["a"][metric], again.scores["a"][metric], atol=1e-6)
        assert not np.allclose(first.scores["a"][metric], other.scores["a"][metric], atol=1e-7)


def test_bad_input_names_what_is_wrong(model, data):
    x, maps, targets = data
    with pytest.raises(ValueError, match=r"maps\['a'\] must be"):
        faithfulness(model, x, {"a": maps["a"][:2]}, targets, steps=4)
    with pytest.raises(ValueError, match="targets must have shape"):
        faithfulness(model, x, maps, targets[:2], steps=4)
    with pytest.raises(ValueError, match="percentiles"):
        faithfulness(model, x, maps, targets, percentiles=(0, 50), steps=4)
    bad = maps["a"].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        faithfulness(model, x, {"a": bad}, targets, steps=4)


def _patch_detector() -> nn.Module:
    """A fixed model whose evidence is known: class 0's logit grows with the red pixels above 0.6.

    Layer "1" (the map's layer) holds ReLU(red − 0.6); class 0's logit is 400 × its mean, class
    1's a constant 1, so a bright red patch makes class 0 likely and deleting it undoes that.
    """
    net = nn.Sequential(
        nn.Conv2d(3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)
    )
    with torch.no_grad():
        for param in net.parameters():
            param.zero_()
        net[0].weight[0, 0] = 1.0
        net[0].bias[0] = -0.6
        net[4].weight[0, 0] = 400.0
        net[4].bias[1] = 1.0
    return net.eval()


def _patch_images(n: int, size: int = 24) -> torch.Tensor:
    """Dim noise images, each with one bright red square of 4–7 pixels at a random place."""
    gen = torch_generator("test_faithfulness", "patches")
    x = 0.5 * torch.rand(n, 3, size, size, generator=gen)
    for i in range(n):
        side = int(torch.randint(4, 8, (1,), generator=gen))
        top, left = (int(v) for v in torch.randint(0, size - side, (2,), generator=gen))
        x[i, 0, top : top + side, left : left + side] = 1.0
    return x


def test_random_maps_lose_to_gradcam_where_the_evidence_is_known():
    net, x = _patch_detector(), _patch_images(16)
    cams = compute_cams(net, "1", x, ["gradcam"])
    assert (cams.preds == 0).all()  # every image shows its evidence
    gradcam = normalize_maps(cams.maps["gradcam"])
    random = normalize_maps(torch.rand(gradcam.shape, generator=torch_generator("random maps")))
    result = faithfulness(net, x, {"gradcam": gradcam, "random": random}, cams.targets, steps=8)
    g, r = result.scores["gradcam"], result.scores["random"]
    assert np.nanmean(g["road_combined"]) > np.nanmean(r["road_combined"]) + 0.1
    assert np.nanmean(g["road_morf"]) < np.nanmean(r["road_morf"]) - 0.1
    assert np.nanmean(g["deletion_auc"]) < np.nanmean(r["deletion_auc"]) - 0.1
    assert np.nanmean(g["insertion_auc"]) > np.nanmean(r["insertion_auc"]) + 0.1
    assert np.nanmean(g["confidence_change"]) > np.nanmean(r["confidence_change"]) + 0.1
