"""What the regulariser statistics add to a run's jobs, measured in one process (one thread).

- a noisy CAM job's and a metrics job's work at the default size (100 images of 32 pixels, the
  default's nine CAM methods, ResNet-18 at width 0.125; the weights do not change the cost) and
  the activation shift (`feature_shift`) the noisy CAM jobs now add to it;
- on a per-image table of the default run's shape (12 models, 9 methods, 100 images, 4 noises
  of 2 levels): the exploratory regulariser strata with every endpoint against one endpoint
  (the former single kept-pair test had one), and the claims job (claims and sensitivity).

    .venv/bin/python benchmarks/regulariser_additions.py

Prints CPU seconds of this process and the ratios against the reference in the same process.
"""

from __future__ import annotations

import numpy as np
import torch
from timing import DEFAULT_EXPLANATIONS, least_seconds

from camrobust.cam import compute_cams
from camrobust.cam.features import feature_shift
from camrobust.models import build_classifier
from camrobust.stats import prepare_table, regularizer_model_tests, stats_options
from camrobust.stats.claims import run_claims
from camrobust.stats.synthetic import synthetic_per_image

METHODS = DEFAULT_EXPLANATIONS


def cam_costs() -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_classifier("resnet18", 10, width=0.125).eval()
    clean, noisy = torch.rand(100, 3, 32, 32), torch.rand(100, 3, 32, 32)
    cams = least_seconds(lambda: compute_cams(model, "layer4", noisy, METHODS, batch_size=50))
    shift = least_seconds(lambda: feature_shift(model, "layer4", clean, noisy, batch_size=50))
    return cams, shift


def metrics_cost() -> float:
    """A metrics job's work for a noise of one level: the per-image table of the default's
    measures and its aggregates with 1000 bootstrap resamples."""
    from camrobust.columns import KEY_COLUMNS
    from camrobust.metrics import MEASURES, aggregate, per_image_table

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 100)

    def cams(preds: np.ndarray) -> dict:
        return {"maps": {m: rng.random((100, 4, 4)) for m in METHODS}, "preds": preds}

    def work() -> None:
        noisy = cams(np.where(rng.random(100) < 0.3, (labels + 1) % 10, labels))
        table = per_image_table(
            cams(labels), {"8": noisy}, labels=labels, masks=None, image_size=(32, 32),
            measures=MEASURES, keys=dict.fromkeys(KEY_COLUMNS, "-"), progress=False,
        )  # fmt: skip
        aggregate(table, MEASURES, n_boot=1000)

    return least_seconds(work)


def stats_costs() -> tuple[float, float, float]:
    df = synthetic_per_image(
        seed=0, n_images=100, methods=METHODS, regularizers=("erm", "lvat_glow", "lvat_vae", "vat"),
        noises=("gaussian", "gaussian_blur", "fgsm", "fgsm_transfer"), levels=("1", "5"),
        seeds=(0, 1, 2), seed_sd=0.01,
    )  # fmt: skip
    df["feature_shift"] = np.random.default_rng(0).random(len(df))
    options = stats_options({"alpha": 0.05, "correction": "holm", "correction_scope": "stratum",
                             "min_pairs": 10, "measures": ["ssim"]})  # fmt: skip
    table = prepare_table(df, options.measures)
    one = least_seconds(
        lambda: regularizer_model_tests(table, options, False, endpoints=("consistency_kept",)), 1
    )
    every = least_seconds(lambda: regularizer_model_tests(table, options, False), 1)
    params = {"alpha": 0.05, "min_pairs": 10, "measure": "ssim", "smallest_effect": 0.01,
              "permutations": 20000, "seed": 0}  # fmt: skip
    claims = least_seconds(lambda: run_claims(df, params, "erm"), 1)
    return one, every, claims


def main() -> None:
    torch.set_num_threads(1)
    cams, shift = cam_costs()
    print(f"noisy CAM job's maps: {cams:.2f} s; feature shift: {shift:.3f} s ({shift / cams:.1%})")
    print(f"metrics job's work, one level: {metrics_cost():.2f} s")
    one, every, claims = stats_costs()
    print(f"regulariser strata, one endpoint: {one:.1f} s; every endpoint: {every:.1f} s "
          f"({every / one:.1f}x)")  # fmt: skip
    print(f"claims job's work (claims + sensitivity): {claims:.1f} s ({claims / one:.2f}x)")


if __name__ == "__main__":
    main()
