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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from camrobust.cam import CamResult, compute_cams, normalize_maps
from camrobust.cam.placebo import call_seed
from camrobust.quality.layout import fast_layout
from camrobust.quality.noise import linf_noise

SENSITIVITY_METRICS: tuple[str, ...] = (
    "max_sensitivity",
    "avg_sensitivity",
    "local_lipschitz",
    "relative_input_stability",
    "relative_output_stability",
)
#: Quantus' perturbed copies per image (its `nr_samples`); the workflow's default is 8
QUANTUS_N_SAMPLES = 200
#: Quantus' L-infinity radius of the uniform noise (its `lower_bound`)
QUANTUS_RADIUS = 0.2
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


def _norm(x: Tensor, dims: int) -> Tensor:
    """Frobenius norm over the trailing `dims` axes, in float64."""
    return x.double().flatten(-dims).norm(dim=-1)


def _nonzero(x: Tensor, eps: float) -> Tensor:
    """x with exact zeros replaced by eps (Quantus' `x + (x == 0) * eps_min`)."""
    return x + (x == 0) * eps


def copy_scores(
    x: Tensor, x_copies: Tensor, e: Tensor, e_copies: Tensor, h: Tensor, h_copies: Tensor
) -> dict[str, Tensor]:
    """Every metric's value per copy (float64).

    Clean images x B×C×H×W, copies B×N×C×H×W, logits B×K and B×N×K; maps e …×B×H×W and
    e_copies …×B×N×H×W, where … (e.g. one axis per method) is shared; results …×B×N.
    """
    # Input and output terms are the same for every method: computed once.
    dx = x[:, None].double() - x_copies.double()
    x_dist = _norm(dx, 3)
    relative_x = _nonzero(_norm(dx / _nonzero(x[:, None].double(), EPS_MIN), 3), EPS_MIN)
    h_dist = _nonzero((h[:, None].double() - h_copies.double()).norm(dim=-1), EPS_MIN)
    e = e.double().unsqueeze(-3)
    de = e - e_copies.double()
    diff = _norm(de, 2)
    relative_e = _norm(de / _nonzero(e, EPS_MIN), 2)
    return {
        # An unchanged map scores 0, also where ‖e‖ = 0 (Quantus: 0/0).
        "sensitivity": diff / torch.where(diff == 0, 1.0, _norm(e, 2)),
        "local_lipschitz": diff / (x_dist + EPS_LIPSCHITZ),
        "relative_input_stability": relative_e / relative_x,
        "relative_output_stability": relative_e / h_dist,
    }


def _aggregate(per_copy: dict[str, Tensor], changed: Tensor, nan_on_change: bool) -> dict:
    """Mean/max over the copies (last axis); NaN where a copy changed class, if asked."""
    scores = {
        "max_sensitivity": per_copy["sensitivity"].amax(dim=-1),
        "avg_sensitivity": per_copy["sensitivity"].mean(dim=-1),
        "local_lipschitz": per_copy["local_lipschitz"].amax(dim=-1),
        "relative_input_stability": per_copy["relative_input_stability"].amax(dim=-1),
        "relative_output_stability": per_copy["relative_output_stability"].amax(dim=-1),
    }
    flipped = changed.any(dim=-1)
    out = {}
    for name, values in scores.items():
        if nan_on_change:
            values = torch.where(flipped, torch.nan, values)
        out[name] = values.cpu().numpy()
    return out


def _on(result: CamResult, device: torch.device) -> CamResult:
    """The engine's result with its tensors on `device`."""
    return replace(
        result,
        maps={name: m.to(device) for name, m in result.maps.items()},
        logits=result.logits.to(device),
        preds=result.preds.to(device),
        targets=result.targets.to(device),
    )


def _stacked(maps: dict[str, Tensor], names: list[str], size: tuple[int, int]) -> Tensor:
    """The methods' maps normalised to `size`, stacked: methods × images × H × W (one call per
    map resolution: FullGrad's and SobelCAM's maps come at the input's)."""
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for name in names:
        by_shape.setdefault(tuple(maps[name].shape), []).append(name)
    out = {}
    for group in by_shape.values():
        stacked = normalize_maps(torch.cat([maps[name] for name in group]), size=size)
        out.update(zip(group, stacked.view(len(group), -1, *size), strict=True))
    return torch.stack([out[name] for name in names])


@dataclass(frozen=True)
class _Copies:
    """How the perturbed copies of the images are drawn and explained."""

    model: nn.Module
    target_layer: str
    n_samples: int
    radius: float
    seed: int
    batch_size: int
    engine_options: dict[str, Any]

    def scores(
        self, images: Tensor, clean: CamResult, e_all: Tensor, start: int, stop: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Of images start..stop: which copies changed class (images × copies) and every
        metric's value per copy (methods × images × copies); `e_all` the clean maps' stack."""
        x = images[start:stop]
        noise = torch.stack(
            [
                linf_noise(self.seed, i, self.n_samples, x.shape[1:], self.radius)
                for i in range(start, stop)
            ]
        ).to(images.device)
        copies = x[:, None] + noise
        out = compute_cams(
            self.model,
            self.target_layer,
            fast_layout(copies.flatten(0, 1)),
            list(clean.maps),
            clean.targets[start:stop].repeat_interleave(self.n_samples),
            self.batch_size,
            seed=call_seed(self.seed, "copies", start),
            **self.engine_options,
        )
        shaped = (stop - start, self.n_samples)
        size = tuple(images.shape[-2:])
        e_copies = _stacked(out.maps, list(clean.maps), size).view(len(clean.maps), *shaped, *size)
        values = copy_scores(
            x, copies, e_all[:, start:stop], e_copies,
            clean.logits[start:stop], out.logits.view(*shaped, -1),
        )  # fmt: skip
        return out.preds.view(shaped) != clean.preds[start:stop, None], values

    def all_scores(
        self, images: Tensor, clean: CamResult, e_all: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """`scores` of all images, max(1, batch_size // n_samples) images at a time, joined."""
        per_copy: dict[str, list[Tensor]] = {}
        changed: list[Tensor] = []
        per_chunk = max(1, self.batch_size // self.n_samples)
        for start in range(0, images.shape[0], per_chunk):
            stop = min(start + per_chunk, images.shape[0])
            chunk_changed, values = self.scores(images, clean, e_all, start, stop)
            changed.append(chunk_changed)
            for key, value in values.items():
                per_copy.setdefault(key, []).append(value)
        joined = {key: torch.cat(parts, dim=1) for key, parts in per_copy.items()}
        return torch.cat(changed), joined


def _clean_cams(
    copies: _Copies,
    images: Tensor,
    methods: Sequence[str],
    targets: Tensor | None,
    clean: CamResult | None,
) -> CamResult:
    """The engine's result on the clean images: `clean` if given (checked), else computed."""
    if clean is None:
        return compute_cams(
            copies.model, copies.target_layer, images, methods, targets, copies.batch_size,
            seed=call_seed(copies.seed, "clean"), **copies.engine_options,
        )  # fmt: skip
    if clean.logits.shape[0] != images.shape[0] or list(clean.maps) != list(methods):
        raise ValueError("clean CAMs must be the engine's result on these images and methods")
    return clean


def sensitivity(
    model: nn.Module,
    target_layer: str,
    images: Tensor,
    methods: Sequence[str],
    *,
    n_samples: int = QUANTUS_N_SAMPLES,
    radius: float = QUANTUS_RADIUS,
    seed: int = 0,
    targets: Tensor | None = None,
    nan_when_prediction_changes: bool = False,
    batch_size: int = 64,
    clean: CamResult | None = None,
    **engine_options: Any,
) -> SensitivityResult:
    """The five sensitivity metrics of every method in `methods` for each of `images` (N×C×H×W).

    The defaults are Quantus' (QUANTUS_N_SAMPLES, QUANTUS_RADIUS); the workflow passes
    `metrics.sensitivity`'s, whose default n_samples is 8. The perturbed copies of
    max(1, batch_size // n_samples) images at a time go through `compute_cams` together (all
    methods in one pass per engine batch of `batch_size` copies) on the model's device; the
    noise of image i is `linf_noise(seed, i, ...)`. `targets` None explains the clean predicted
    class, in the copies too; `engine_options` pass on to `compute_cams` (e.g. autocast).
    `clean`, the engine's result on `images` for `methods`, saves recomputing it (the
    faithfulness metrics need the same maps). RandomCAM's weights come from
    `placebo.call_seed(seed, ...)`, one draw for the clean images and one per chunk of copies.
    """
    if n_samples < 1 or batch_size < 1:
        raise ValueError(
            f"n_samples and batch_size must be positive, got {n_samples}, {batch_size}"
        )
    param = next(model.parameters(), None)
    images = images.to(images.device if param is None else param.device)
    copies = _Copies(model, target_layer, n_samples, radius, seed, batch_size, engine_options)
    clean = _on(_clean_cams(copies, images, methods, targets, clean), images.device)
    names = list(clean.maps)
    # All methods' maps as one stack (methods × images), normalised in one call.
    e_all = _stacked(clean.maps, names, tuple(images.shape[-2:]))
    changed_all, joined = copies.all_scores(images, clean, e_all)
    scores = {
        name: _aggregate(
            {key: value[j] for key, value in joined.items()},
            changed_all,
            nan_when_prediction_changes,
        )
        for j, name in enumerate(names)
    }
    return SensitivityResult(
        scores=scores,
        n_changed=changed_all.sum(dim=1).cpu().numpy(),
        targets=clean.targets.cpu().numpy(),
    )
