"""What the two placebos (RandomCAM, SobelCAM) add to the default run, stage by stage.

The default config (config/config.yaml) computes nine methods for 12 models under three noises
(two severities each, one FGSM budget) on 100 images. Measured in one process, with and without
the placebos: the engine's pass over 50 images (one CAM job computes 100), one metrics job's
per-image table and bootstrap (100 images, two levels, the five default measures, 1000
resamples), and the stats stage on a per-image table of the default's shape. Prints each
stage's CPU seconds (one thread), the ratio, and the seconds the placebos add to the run over all
its jobs (sequential; the run has two cores). Example:
    OMP_NUM_THREADS=1 python benchmarks/placebo_cost.py --repeats 3
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from timing import DEFAULT_EXPLANATIONS, least_seconds

from camrobust.cam import compute_cams
from camrobust.config import load_yaml, validate_config
from camrobust.metrics import aggregate, per_image_table
from camrobust.models import build_classifier
from camrobust.seeding import numpy_rng, torch_generator
from camrobust.stats import run_stats
from camrobust.stats.synthetic import synthetic_per_image

NINE = DEFAULT_EXPLANATIONS
ELEVEN = (*NINE, "randomcam", "sobelcam")
MEASURES = ("ssim", "pearson", "spearman", "cosine", "iou_top20")
N_IMAGES, MODELS, NOISES, CAM_JOBS = 100, 12, 3, 12 * 6  # clean + 2 + 2 + 1 levels per model
DEFAULT_CONFIG = Path(__file__).parents[1] / "config" / "config.yaml"
KEYS = {"dataset": "shapes", "model": "m", "arch": "resnet18", "regularizer": "erm", "seed": "0"}


def cam_stage(methods: tuple[str, ...]) -> Callable[[], object]:
    model = build_classifier("resnet18", 10, width=0.125, seed=0).eval()
    x = torch.rand(50, 3, 32, 32, generator=torch_generator("placebo-cost"))
    return lambda: compute_cams(model, "layer4", x, methods=methods, batch_size=50, seed=0)


def metrics_stage(methods: tuple[str, ...]) -> Callable[[], object]:
    """One metrics job: random raw maps (4×4; the placebo SobelCAM's at 32×32)."""
    rng = numpy_rng("placebo-cost", "maps")

    def cams() -> dict:
        side = {m: 32 if m == "sobelcam" else 4 for m in methods}
        maps = {m: rng.random((N_IMAGES, side[m], side[m])).astype(np.float32) for m in methods}
        return {"maps": maps, "preds": rng.integers(0, 10, N_IMAGES)}

    clean, noisy = cams(), {"1": cams(), "5": cams()}
    labels = clean["preds"]

    def run() -> object:
        keys = {**KEYS, "noise": "gaussian"}
        table = per_image_table(clean, noisy, labels, None, (32, 32), MEASURES, keys=keys)
        return aggregate(table, measures=MEASURES, n_boot=1000, seed=0)

    return run


def stats_stage(methods: tuple[str, ...]) -> Callable[[], object]:
    table = synthetic_per_image(
        n_images=N_IMAGES,
        methods=methods,
        regularizers=("erm", "vat", "lvat_vae", "lvat_glow"),
        noises=("gaussian", "gaussian_blur"),
        levels=("1", "5"),
        seeds=(0, 1, 2),
    )
    options = validate_config(load_yaml(DEFAULT_CONFIG))["stats"]
    return lambda: run_stats(table, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} repeats={args.repeats}")
    print(f"{'stage':34s} {'9 methods':>10s} {'+ placebos':>11s} {'ratio':>6s} {'run + s':>8s}")
    stages = (
        ("engine pass, 50 images", cam_stage, 2 * CAM_JOBS, args.repeats),
        ("metrics job (table + bootstrap)", metrics_stage, MODELS * NOISES, args.repeats),
        ("stats stage (2 of 3 noises)", stats_stage, 1, 1),  # minutes: one call each
    )
    total = 0.0
    for name, build, jobs, repeats in stages:
        nine = least_seconds(build(NINE), repeats, warm_up=repeats > 1)
        eleven = least_seconds(build(ELEVEN), repeats, warm_up=repeats > 1)
        added = (eleven - nine) * jobs
        total += added
        print(
            f"{name:34s} {nine:10.3f} {eleven:11.3f} {eleven / nine:6.2f} {added:8.1f}", flush=True
        )
    print(f"placebos add about {total:.0f} s of job time to the default run (sequential)")


if __name__ == "__main__":
    main()
