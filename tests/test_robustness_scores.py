"""camrobust.metrics.robustness_scores: C, R, H for one pair of in-memory map sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camrobust.cam import normalize_maps
from camrobust.metrics import robustness_scores, similarity

SIZE = (16, 16)


def _maps(seed: int, n: int = 6) -> torch.Tensor:
    """n raw 4×4 maps with positive values (no map is constant after the ReLU)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, 4, generator=gen) + 0.1


def test_scores_follow_the_definitions():
    clean = {"a": _maps(0), "b": _maps(1)}
    # Images 0-2 keep their class and their maps; images 3-5 flip and get other maps.
    noisy = {m: torch.cat([v[:3], _maps(2 + i)[3:]]) for i, (m, v) in enumerate(clean.items())}
    clean_preds = torch.tensor([0, 1, 2, 3, 4, 5])
    noisy_preds = torch.tensor([0, 1, 2, 4, 5, 6])
    scores = robustness_scores(
        clean, noisy, clean_preds, noisy_preds, SIZE, measures=["ssim", "pearson"]
    )
    assert sorted(zip(scores["method"], scores["measure"], strict=True)) == [
        ("a", "pearson"), ("a", "ssim"), ("b", "pearson"), ("b", "ssim")
    ]  # fmt: skip
    for _, row in scores.iterrows():
        s = similarity(
            normalize_maps(clean[row["method"]], SIZE),
            normalize_maps(noisy[row["method"]], SIZE),
            [row["measure"]],
        )[row["measure"]].numpy()
        c, r = s[:3].mean(), (1 - s[3:]).mean()
        assert row["n_kept"] == 3 and row["n_flipped"] == 3 and row["flip_rate"] == 0.5
        assert row["consistency"] == pytest.approx(1.0)  # identical maps on the kept pairs
        assert row["consistency"] == pytest.approx(c)
        assert row["responsiveness"] == pytest.approx(r)
        assert row["robustness"] == pytest.approx(2 * c * r / (c + r))
        assert np.isnan(row["robustness_lo"])  # no bootstrap asked for


def test_numpy_input_and_bootstrap_interval():
    clean = {"a": _maps(0).numpy()}
    noisy = {"a": _maps(3).numpy()}
    preds = np.array([0, 1, 2, 3, 4, 5])
    flipped = np.array([0, 1, 2, 0, 0, 0])
    scores = robustness_scores(clean, noisy, preds, flipped, SIZE, ["ssim"], n_boot=50, seed=1)
    row = scores.iloc[0]
    assert row["robustness_lo"] <= row["robustness"] <= row["robustness_hi"]
    again = robustness_scores(clean, noisy, preds, flipped, SIZE, ["ssim"], n_boot=50, seed=1)
    assert again.equals(scores)


def test_no_flipped_pair_leaves_r_and_h_undefined_with_a_note():
    maps = {"a": _maps(0)}
    preds = torch.arange(6)
    row = robustness_scores(maps, maps, preds, preds, SIZE, ["ssim"]).iloc[0]
    assert row["consistency"] == pytest.approx(1.0)
    assert np.isnan(row["responsiveness"]) and np.isnan(row["robustness"])
    assert "no flipped pairs" in row["note"]


def test_mismatched_methods_are_named():
    with pytest.raises(ValueError, match="CAM methods differ from the clean set: missing"):
        robustness_scores(
            {"a": _maps(0), "b": _maps(1)}, {"a": _maps(2)}, torch.arange(6), torch.arange(6), SIZE
        )
