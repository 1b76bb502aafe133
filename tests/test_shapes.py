"""The synthetic shapes dataset: deterministic, balanced, masks on the shape, learnable."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from camrobust.data.shapes import CLASS_NAMES, make_shapes
from camrobust.data.subset import stratified_indices


def test_same_seed_same_bytes_other_seed_differs():
    a, b, c = make_shapes(50, seed=3), make_shapes(50, seed=3), make_shapes(50, seed=4)
    for key in ("images", "labels", "masks"):
        assert a[key].tobytes() == b[key].tobytes()
    assert a["images"].tobytes() != c["images"].tobytes()


def test_layout_and_balance():
    data = make_shapes(200, size=40, seed=0)
    assert data["images"].shape == (200, 40, 40, 3) and data["images"].dtype == np.uint8
    assert data["masks"].shape == (200, 40, 40) and data["masks"].dtype == np.uint8
    assert data["labels"].dtype == np.int64
    assert np.bincount(data["labels"], minlength=10).tolist() == [20] * len(CLASS_NAMES)


def test_mask_covers_the_uniformly_coloured_shape():
    data = make_shapes(100, seed=1)
    for image, mask in zip(data["images"].astype(float), data["masks"].astype(bool), strict=True):
        inside, outside = image[mask], image[~mask]
        assert 0.03 < mask.mean() < 0.6
        # The object is one colour plus pixel noise (sigma 0.03 * 255); the background is not it.
        assert inside.std(axis=0).max() < 12
        gap = np.abs(inside.mean(axis=0) - outside.mean(axis=0)).max()
        assert gap > 3 * inside.std(axis=0).max()


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    idx = stratified_indices(labels, 20, 0, "x")
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx]).tolist() == [8, 6, 4, 2]
    assert np.array_equal(idx, stratified_indices(labels, 20, 0, "x"))
    assert not np.array_equal(idx, stratified_indices(labels, 20, 1, "x"))


def test_a_small_cnn_learns_it_well_above_chance():
    torch.manual_seed(0)
    train, test = make_shapes(1500, seed=10), make_shapes(300, seed=11)

    def tensors(d):
        x = torch.from_numpy(d["images"]).permute(0, 3, 1, 2).float() / 255
        return x, torch.from_numpy(d["labels"])

    (x, y), (xt, yt) = tensors(train), tensors(test)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        for batch in torch.randperm(len(y), generator=gen).split(50):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(xt).argmax(1) == yt).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1
