"""A tour of camrobust's Python API on in-memory tensors, no workflow needed (CPU, < 1 minute).

A random-initialised torchvision ResNet-18 explains a few synthetic shape images with every CAM
method; the images are corrupted, explained again, and the two map sets are compared (C, R, H
and the similarity measures); the statistical tests run on the per-image table; the
sensitivity and faithfulness metrics score the clean maps. Prints one JSON object per line.

    python examples/api_tour.py [--images 16] [--size 32]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torchvision

from camrobust.cam import METHODS, compute_cams, normalize_maps
from camrobust.data import make_shapes, to_model_input
from camrobust.metrics import MEASURES, per_image_table, robustness_scores, similarity
from camrobust.noise import corrupt
from camrobust.quality import faithfulness, sensitivity
from camrobust.stats import run_stats

TARGET_LAYER = "layer2"  # 4×4 maps on 32-px images (layer4 would be 1×1)
NOISE = "gaussian"
LEVELS = (1, 3)
SEED = 0


def random_model(images: torch.Tensor) -> torch.nn.Module:
    """A seeded random ResNet-18 whose BatchNorm statistics are set from `images`.

    With freshly initialised running statistics every image gets the same class; one pass in
    training mode (cumulative averages) makes the predictions depend on the input, so that
    noise flips some of them and responsiveness is defined.
    """
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.train()(images)
    return model.eval()


def emit(step: str, **values: object) -> None:
    """One line of JSON per step, for a reader and for tests/test_examples.py."""
    print(json.dumps({"step": step, **values}, default=float))


def finite(values: np.ndarray) -> list[float]:
    """Min and max of the non-NaN values (NaN where all are NaN)."""
    kept = values[~np.isnan(values)]
    return [float(kept.min()), float(kept.max())] if kept.size else [float("nan")] * 2


def median(values: np.ndarray) -> float:
    """The median, robust to the inf scores of a constant clean map (docs/api.md)."""
    return float(np.nanmedian(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    size = (args.size, args.size)

    # Labelled uint8 N×H×W×3 images; to_model_input makes float N×C×H×W in [0, 1].
    data = make_shapes(args.images, size=args.size, seed=SEED)
    images = to_model_input(data["images"], "cpu")
    model = random_model(images)

    # Every CAM method from one batched pass: raw maps at the target layer's resolution (FullGrad
    # and SobelCAM at the image's). The seed feeds the RandomCAM placebo: a draw per call.
    clean = compute_cams(model, TARGET_LAYER, images, METHODS, seed=0)
    emit(
        "cams",
        methods=list(clean.maps),
        map_shape=list(clean.maps["gradcam"].shape),
        preds=clean.preds.tolist(),
    )

    # Corrupt the uint8 batch (seeded per image) and explain the noisy images.
    noisy = {}
    for level in LEVELS:
        corrupted = corrupt(
            data["images"], NOISE, severity=level, seed=(SEED, "tour", level), progress=False
        )
        noisy_input = to_model_input(corrupted, "cpu")
        noisy[str(level)] = compute_cams(model, TARGET_LAYER, noisy_input, METHODS, seed=level)
        emit("corrupt", level=level, shape=list(corrupted.shape), dtype=str(corrupted.dtype))

    # Similarity of each clean/noisy map pair, on maps normalised to the image size.
    top = noisy[str(LEVELS[-1])]
    pair = similarity(
        normalize_maps(clean.maps["gradcam"], size), normalize_maps(top.maps["gradcam"], size)
    )
    emit("similarity", **{name: finite(s.numpy()) for name, s in pair.items()}, n=len(pair["ssim"]))

    # C, R, H (and AUROC) per method and measure for one pair of map sets.
    scores = robustness_scores(
        clean.maps, top.maps, clean.preds, top.preds, image_size=size, n_boot=200
    )
    ssim = scores[scores["measure"] == "ssim"]
    emit(
        "robustness",
        rows=len(scores),
        methods=sorted(ssim["method"]),
        flip_rate=float(ssim["flip_rate"].iloc[0]),
        consistency=finite(ssim["consistency"].to_numpy()),
        responsiveness=finite(ssim["responsiveness"].to_numpy()),
        robustness=finite(ssim["robustness"].to_numpy()),
    )

    # The per-image table of the pipeline (every level), then the statistical tests on it.
    keys = {"dataset": "shapes", "model": "resnet18_erm", "arch": "resnet18"}
    table = per_image_table(
        {"maps": clean.maps, "preds": clean.preds.numpy()},
        {lvl: {"maps": r.maps, "preds": r.preds.numpy()} for lvl, r in noisy.items()},
        labels=data["labels"],
        masks=data["masks"],
        image_size=size,
        keys={**keys, "regularizer": "erm", "seed": 0, "noise": NOISE},
        progress=False,
    )
    stats_config = {
        "alpha": 0.05,
        "correction": "holm",
        "correction_scope": "stratum",
        "min_pairs": 3,  # few images: few pairs are kept under every method
        "measures": list(MEASURES),
    }
    results = run_stats(table, stats_config)
    methods = results["methods"]
    emit(
        "stats",
        table_rows=len(table),
        tables={name: len(frame) for name, frame in results.items()},
        method_tests=int(methods["p_value"].notna().sum()),
        p_values=finite(methods["p_value"].to_numpy(dtype=float)),
    )

    # Explanation quality of the clean maps: Quantus' sensitivity metrics and faithfulness.
    few = ["gradcam", "eigencam"]
    sens = sensitivity(model, TARGET_LAYER, images, few, n_samples=4, radius=0.05, seed=SEED)
    emit(
        "sensitivity",
        **{m: median(sens.scores["gradcam"][m]) for m in sens.scores["gradcam"]},
    )
    maps = {m: normalize_maps(clean.maps[m], size) for m in few}
    faith = faithfulness(model, images, maps, clean.preds, steps=8, seed=SEED)
    emit("faithfulness", **{m: finite(faith.scores["gradcam"][m]) for m in faith.scores["gradcam"]})


if __name__ == "__main__":
    main()
