"""Groups of CAM methods with identical maps: found per model and layer, carried as `same_as`,
and entered once into the method comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from camrobust.cam import compute_cams
from camrobust.metrics.equivalence import EQUIVALENCE_TOLERANCE, same_as, with_method_columns
from camrobust.seeding import derive_seed, torch_generator
from camrobust.stats import method_ranks, method_tests, prepare_table, stats_options
from camrobust.stats.synthetic import synthetic_per_image


def _resnet18() -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem, seeded; `layer4` ends in a ReLU."""
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed("test_equivalence", "resnet18"))
        model = torchvision.models.resnet18(num_classes=10)
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model.eval()


def test_layercam_and_elementwise_gradcam_are_one_group_on_resnet18_layer4():
    """After layer4's ReLU, ReLU(g)·A = ReLU(g·A). The head is global average pooling and a
    linear layer, so g is constant over the positions: HiResCAM's Σ_c g_c·A_c is Grad-CAM's
    map, and ShapleyCAM's Hessian term is zero. EigenCAM differs from all of these."""
    x = torch.rand(8, 3, 32, 32, generator=torch_generator("test_equivalence", "images"))
    methods = ("gradcam", "hirescam", "gradcamelementwise", "layercam", "eigencam", "shapleycam")
    result = compute_cams(_resnet18(), "layer4", x, methods=methods)
    # as the CAM stage stores them
    stored = {m: maps.numpy().astype(np.float16) for m, maps in result.maps.items()}
    assert same_as(stored, (32, 32)) == {
        "gradcam": "",
        "hirescam": "gradcam",
        "gradcamelementwise": "",
        "layercam": "gradcamelementwise",
        "eigencam": "",
        "shapleycam": "gradcam",
    }


def test_tolerance_is_on_the_normalised_maps_of_every_image():
    """Same within 1e-6 at every pixel of every image; one image off by 2e-6 splits the group.
    A scaled copy is the same map (normalisation removes the scale)."""
    rng = np.random.default_rng(derive_seed("test_equivalence", "tolerance"))
    base = rng.random((3, 4, 4)) + 0.1
    base[:, 0, 0], base[:, 3, 3] = 0.1, 1.1  # min and max fixed: the step below stays 1e-6·x
    near, off = base.copy(), base.copy()
    near[1, 2, 2] += 0.5 * EQUIVALENCE_TOLERANCE
    off[2, 1, 1] += 2 * EQUIVALENCE_TOLERANCE
    maps = {"gradcam": base, "xgradcam": 3.0 * base, "hirescam": near, "layercam": off}
    groups = same_as({m: v.astype(np.float64) for m, v in maps.items()}, (4, 4))
    assert groups == {"gradcam": "", "xgradcam": "gradcam", "hirescam": "gradcam", "layercam": ""}


def test_method_columns_follow_the_method():
    table = pd.DataFrame({"model": ["m"] * 3, "method": ["gradcam", "layercam", "randomcam"]})
    groups = {"gradcam": "", "layercam": "gradcam", "randomcam": ""}
    out = with_method_columns(table, groups)
    assert list(out.columns) == ["model", "method", "placebo", "same_as"]
    assert out["placebo"].tolist() == [False, False, True]
    assert out["same_as"].tolist() == ["", "gradcam", ""]
    with pytest.raises(ValueError, match="no equivalence group for method.*layercam"):
        with_method_columns(table, {"gradcam": "", "randomcam": ""})


def test_method_comparisons_enter_each_group_once():
    """A twin (the same values, `same_as` set) changes neither the tests nor the ranks."""
    three = ("gradcam", "gradcampp", "eigencam")
    table = synthetic_per_image(n_images=30, methods=three, method_effect={"eigencam": -0.05})
    twin = table[table["method"] == "gradcam"].assign(method="layercam")
    both = pd.concat([table, twin], ignore_index=True)
    both["same_as"] = np.where(both["method"] == "layercam", "gradcam", "")
    options = stats_options(
        {"alpha": 0.05, "correction": "holm", "correction_scope": "stratum", "min_pairs": 10}
        | {"measures": ["ssim"]}
    )
    for family in (method_tests, method_ranks):
        alone = family(prepare_table(table, ["ssim"]), options)
        grouped = family(prepare_table(both, ["ssim"]), options)
        pd.testing.assert_frame_equal(alone, grouped)
        assert "layercam" not in set(grouped.get("method", pd.Series(dtype=str)))
    # without the column (a table from before groups), the twin is one more method
    plain = method_ranks(prepare_table(both.drop(columns="same_as"), ["ssim"]), options)
    assert set(plain["k"]) == {4}


def test_stats_tables_carry_the_placebo_marker():
    """A column `placebo` beside `method`; the method comparisons mark both sides of a pair."""
    from camrobust.stats import flip_tests
    from camrobust.stats.run import mark_placebos

    table = synthetic_per_image(n_images=20, methods=("gradcam", "randomcam", "sobelcam"))
    table["placebo"] = table["method"] != "gradcam"
    prepared = prepare_table(table, ["ssim"])
    options = stats_options(
        {"alpha": 0.05, "correction": "holm", "correction_scope": "stratum", "min_pairs": 5}
        | {"measures": ["ssim"]}
    )
    pairs = mark_placebos(method_tests(prepared, options), prepared)
    at = list(pairs.columns).index("group_b")
    assert list(pairs.columns[at + 1 : at + 3]) == ["placebo_a", "placebo_b"]
    tested = pairs[pairs["test"] == "wilcoxon"]
    assert len(tested) and (tested["placebo_a"] == (tested["group_a"] != "gradcam")).all()
    assert (tested["placebo_b"] == (tested["group_b"] != "gradcam")).all()
    assert pairs.loc[pairs["test"] == "friedman", "placebo_a"].isna().all()
    flips = mark_placebos(flip_tests(prepared, options), prepared)
    assert (flips["placebo"] == (flips["method"] != "gradcam")).all()
    plain = prepare_table(table.drop(columns="placebo"), ["ssim"])
    assert "placebo" not in mark_placebos(flip_tests(plain, options), plain)
