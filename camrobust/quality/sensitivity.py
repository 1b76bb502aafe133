"""Quantus' robustness metrics for every CAM method at once, from one engine pass per batch.

For each image x with explanation e (the CAM, ReLU'd, resized to the image and min–max scaled
to [0, 1], as pytorch-grad-cam returns it) and logits h, N perturbed copies x' = x + δ with δ
uniform in the L∞ ball of radius r (not clipped to [0, 1], as in Quantus) are explained for the
same class as x. Per copy, with ‖·‖ the Frobenius norm over all pixels (and channels):

- ``max_sensitivity`` / ``avg_sensitivity`` (Yeh et al. 2019): ‖e − e'‖ / ‖e‖, the maximum /
  mean over the copies.
- ``local_lipschitz`` (Alvarez-Melis & Jaakkola 2018): ‖e − e'‖ / (‖x − x'‖ + 1e-10), maximum.
- ``relative_input_stability`` (Agarwal et al. 2022): ‖(e − e') / ê‖ / max(‖(x − x') / x̂‖, ε),
  maximum, where ê and x̂ replace exact zeros by ε = 1e-6 (Quantus' eps_min).
- ``relative_output_stability``: ‖(e − e') / ê‖ / max(‖h − h'‖, ε) with logits h, maximum.

These equal Quantus 0.6.0's AvgSensitivity, MaxSensitivity, LocalLipschitzEstimate,
RelativeInputStability and RelativeOutputStability given the same explanations and draws
(tests/test_sensitivity.py). Quantus' defaults: N = 200 for all five; Max/Avg-Sensitivity draw
U[−0.2, 0.2]; the Local Lipschitz Estimate draws Gaussian noise of std 0.1; RIS/ROS draw
U[0.02, 0.2] (a positive shift, not a ball). Here one set of copies serves all five metrics, so
all use the ball. Where ‖e‖ = 0 (a constant map) and the copy's map is equal, the sensitivities
are 0 instead of Quantus' 0/0 = NaN (docs/sensitivity-faithfulness.md).
`nan_when_prediction_changes` makes an image's scores NaN when any copy's predicted class
differs from the clean prediction (Quantus' `return_nan_when_prediction_changes`; its default is
False for the first three metrics and True for RIS/ROS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from camrobust.cam import METHODS, compute_cams, normalize_maps
from camrobust.quality.noise import linf_noise

SENSITIVITY_METRICS: tuple[str, ...] = (
    "max_sensitivity",
    "avg_sensitivity",
    "local_lipschitz",
    "relative_input_stability",
    "relative_output_stability",
)
#: Quantus' epsilon for zero entries and zero denominators in RIS/ROS (its `eps_min`)
EPS_MIN = 1e-6
#: Quantus' epsilon in the Local Lipschitz Estimate's denominator
EPS_LIPSCHITZ = 1e-10


@dataclass
class SensitivityResult:
    """Per method and metric, one score per image; per image, how many copies changed class."""

    scores: dict[str, dict[str, np.ndarray]]
    n_changed: np.ndarray
    targets: np.ndarray


def _norm(x: Tensor) -> Tensor:
    """Frobenius norm over all but the leading two (image, copy) axes, in float64."""
    return x.double().flatten(2).norm(dim=2)


def _nonzero(x: Tensor, eps: float) -> Tensor:
    """x with exact zeros replaced by eps (Quantus' `x + (x == 0) * eps_min`)."""
    return x + (x == 0) * eps


def copy_scores(
    x: Tensor, x_copies: Tensor, e: Tensor, e_copies: Tensor, h: Tensor, h_copies: Tensor
) -> dict[str, Tensor]:
    """Every metric's per-copy value: clean tensors B×…, copies B×N×…, results B×N (float64)."""
    x, x_copies = x.double()[:, None], x_copies.double()
    e, e_copies = e.double()[:, None], e_copies.double()
    diff = _norm(e - e_copies)
    sens = diff / torch.where(diff == 0, 1.0, _norm(e))  # unchanged map: 0, also for ‖e‖ = 0
    relative_e = _norm((e - e_copies) / _nonzero(e, EPS_MIN))
    relative_x = _norm((x - x_copies) / _nonzero(x, EPS_MIN))
    h_dist = (h.double()[:, None] - h_copies.double()).norm(dim=2)
    return {
        "sensitivity": sens,
        "local_lipschitz": diff / (_norm(x - x_copies) + EPS_LIPSCHITZ),
        "relative_input_stability": relative_e / _nonzero(relative_x, EPS_MIN),
        "relative_output_stability": relative_e / _nonzero(h_dist, EPS_MIN),
    }


def _aggregate(per_copy: dict[str, Tensor], changed: Tensor, nan_on_change: bool) -> dict:
    """Mean/max over the copies; NaN rows where a copy changed class, if asked."""
    scores = {
        "max_sensitivity": per_copy["sensitivity"].amax(dim=1),
        "avg_sensitivity": per_copy["sensitivity"].mean(dim=1),
        "local_lipschitz": per_copy["local_lipschitz"].amax(dim=1),
        "relative_input_stability": per_copy["relative_input_stability"].amax(dim=1),
        "relative_output_stability": per_copy["relative_output_stability"].amax(dim=1),
    }
    flipped = changed.any(dim=1)
    out = {}
    for name, values in scores.items():
        if nan_on_change:
            values = torch.where(flipped, torch.nan, values)
        out[name] = values.cpu().numpy()
    return out


def sensitivity(
    model: nn.Module,
    target_layer: str,
    images: Tensor,
    methods: Sequence[str] = METHODS,
    *,
    n_samples: int = 200,
    radius: float = 0.2,
    seed: int = 0,
    targets: Tensor | None = None,
    nan_when_prediction_changes: bool = False,
    batch_size: int = 64,
    **engine_options: Any,
) -> SensitivityResult:
    """The five sensitivity metrics of every method in `methods` for each of `images` (N×C×H×W).

    Quantus' defaults are n_samples = 200 and radius = 0.2. The perturbed copies of
    max(1, batch_size // n_samples) images at a time go through `compute_cams` together (all
    methods in one pass per engine batch of `batch_size` copies) on the model's device; the
    noise of image i is `linf_noise(seed, i, ...)`. `targets` None explains the clean predicted
    class, in the copies too; `engine_options` pass on to `compute_cams` (e.g. autocast).
    """
    if n_samples < 1 or batch_size < 1:
        raise ValueError(
            f"n_samples and batch_size must be positive, got {n_samples}, {batch_size}"
        )
    param = next(model.parameters(), None)
    device = images.device if param is None else param.device
    images = images.to(device)
    size = tuple(images.shape[-2:])
    clean = compute_cams(
        model, target_layer, images, methods, targets, batch_size, **engine_options
    )
    names = list(clean.maps)
    n = images.shape[0]
    per_copy: dict[str, dict[str, list[Tensor]]] = {m: {} for m in names}
    changed: list[Tensor] = []
    per_chunk = max(1, batch_size // n_samples)
    for start in range(0, n, per_chunk):
        stop = min(start + per_chunk, n)
        x = images[start:stop]
        noise = torch.stack(
            [linf_noise(seed, i, n_samples, x.shape[1:], radius) for i in range(start, stop)]
        ).to(device)
        copies = (x[:, None] + noise).flatten(0, 1)
        tgt = clean.targets[start:stop].repeat_interleave(n_samples)
        out = compute_cams(model, target_layer, copies, names, tgt, batch_size, **engine_options)
        shaped = (stop - start, n_samples)
        changed.append(out.preds.view(shaped) != clean.preds[start:stop, None])
        for m in names:
            e = normalize_maps(clean.maps[m][start:stop], size=size)
            e_copies = normalize_maps(out.maps[m], size=size).view(*shaped, *size)
            values = copy_scores(
                x, copies.view(*shaped, *x.shape[1:]), e, e_copies,
                clean.logits[start:stop], out.logits.view(*shaped, -1),
            )  # fmt: skip
            for key, value in values.items():
                per_copy[m].setdefault(key, []).append(value)
    changed_all = torch.cat(changed)
    scores = {
        m: _aggregate(
            {k: torch.cat(v) for k, v in per_copy[m].items()},
            changed_all,
            nan_when_prediction_changes,
        )
        for m in names
    }
    return SensitivityResult(
        scores=scores,
        n_changed=changed_all.sum(dim=1).cpu().numpy(),
        targets=clean.targets.cpu().numpy(),
    )
