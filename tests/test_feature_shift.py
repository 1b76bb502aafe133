"""The realised perturbation size at the CAM layer: per-image relative activation shift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camrobust.cam.features import feature_shift
from camrobust.cam.store import load_cams, save_cams
from camrobust.columns import KEY_COLUMNS
from camrobust.metrics.table import per_image_table


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def test_shift_is_the_relative_norm_of_the_layer_output_change():
    model = _model()
    gen = torch.Generator().manual_seed(1)
    clean = torch.rand(5, 3, 8, 8, generator=gen)
    noisy = (clean + 0.1 * torch.randn(5, 3, 8, 8, generator=gen)).clamp(0, 1)
    got = feature_shift(model, "1", clean, noisy, batch_size=2)  # the ReLU's output
    with torch.no_grad():
        a = torch.relu(model[0](clean)).flatten(1)
        b = torch.relu(model[0](noisy)).flatten(1)
    expected = (b - a).norm(dim=1) / a.norm(dim=1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
    assert (got > 0).all() and got.shape == (5,)
    assert torch.equal(feature_shift(model, "1", clean, clean, batch_size=5), torch.zeros(5))
    assert model.training  # the model's mode is restored


def test_all_zero_clean_activations_give_nan_and_shapes_must_match():
    model = _model()
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)  # the ReLU's output is zero for every input
    x = torch.rand(2, 3, 8, 8)
    assert torch.isnan(feature_shift(model, "1", x, x, batch_size=2)).all()
    with pytest.raises(ValueError, match="clean images"):
        feature_shift(model, "1", x, x[:1], batch_size=2)


def test_the_shift_goes_through_the_cam_file_into_the_per_image_table(tmp_path):
    maps = {"gradcam": np.random.default_rng(0).random((4, 2, 2))}
    preds = np.array([0, 1, 2, 0])
    shift = np.array([0.1, 0.2, np.nan, 0.4])
    save_cams(tmp_path / "n.npz", maps, np.zeros((4, 3)), preds, preds, feature_shift=shift)
    save_cams(tmp_path / "c.npz", maps, np.zeros((4, 3)), preds, preds)
    noisy, clean = load_cams(tmp_path / "n.npz"), load_cams(tmp_path / "c.npz")
    assert "feature_shift" not in clean
    np.testing.assert_array_equal(noisy["feature_shift"], shift)
    kw = {"masks": None, "image_size": (4, 4), "measures": ("ssim",)}
    keys = dict.fromkeys(KEY_COLUMNS, "-")
    table = per_image_table(clean, {"3": noisy}, labels=preds, keys=keys, **kw)
    np.testing.assert_array_equal(table["feature_shift"].to_numpy(), shift)
    with pytest.raises(ValueError, match="feature_shift has shape"):
        per_image_table(
            clean, {"3": {**noisy, "feature_shift": shift[:3]}}, labels=preds, keys=keys, **kw
        )
