"""The explanation attack: the worst case for one CAM method's map within an L-inf ball, with the
predicted class kept; and its random control, one random vertex of the same ball.

The attack follows Ghorbani, Abid & Zou (AAAI 2019, Algorithm 1): signed-gradient steps from the
clean image, each projected onto the ε-ball and [0, 1], that lower the clean map's top-k region's
share of the normalised map's mass (or a differentiable similarity with the clean map), and of
the iterates that keep the clean prediction, the one with the lowest score is the result.
This project's choices (docs/explanation-attack.md): every iterate is judged as the uint8 image it
would be stored as, by the real network and the engine's own map (`compute_cams`); the gradient
of a gradient-based map comes from a surrogate in which every ReLU is a softplus of sharpness β
(Dombrowski et al., NeurIPS 2019); an image none of whose iterates keeps the class gets the last
iterate (its pair is a flipped one) and `attacked` False.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from camrobust.cam.differentiable import READS_GRADIENTS, differentiable_cams, smooth_relus
from camrobust.cam.engine import compute_cams
from camrobust.cam.normalize import normalize_maps
from camrobust.cam.state import frozen_eval
from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.explanation_names import OBJECTIVES
from camrobust.metrics.measures import measure_function, top_k_mask
from camrobust.noise.settings import ExplanationAttackSettings
from camrobust.seeding import derive_seed

log = logging.getLogger(__name__)

#: the smallest map mass the top-k share divides by (an all-zero map has share 0)
_MASS_FLOOR = 1e-12


@dataclass(frozen=True)
class AttackResult:
    """Attacked uint8 N×H×W×C images, whether each kept the class, and the objective's score
    (lower = further from the clean map) of the clean and of the returned image."""

    images: np.ndarray
    attacked: np.ndarray
    score_clean: np.ndarray
    score: np.ndarray


def random_vertex(images: np.ndarray, eps: int, seed: object) -> np.ndarray:
    """Each pixel moved by +eps or -eps levels with probability 1/2 (clipped to 0..255), one CPU
    generator per image seeded from (seed parts, image index): the L-inf ball's random corner."""
    _check_images(images)
    parts = tuple(seed) if isinstance(seed, list | tuple) else (seed,)
    gen = torch.Generator()
    out = np.empty_like(images)
    for i, image in enumerate(images):
        gen.manual_seed(derive_seed(*parts, i))
        signs = torch.randint(0, 2, image.shape, generator=gen, dtype=torch.int16) * 2 - 1
        moved = torch.from_numpy(image.astype(np.int16)) + signs * int(eps)
        out[i] = moved.clamp(0, 255).to(torch.uint8).numpy()
    return out


def _check_images(images: object) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        kind = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images: need a uint8 N×H×W×C array, got {kind}")


def normalised(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """The engine's post-processing (ReLU, bilinear resize, min-max), differentiable: an all-zero
    map stays zero."""
    x = F.interpolate(maps.clamp(min=0)[:, None], size=size, mode="bilinear", align_corners=False)
    x = x[:, 0]
    low = x.amin(dim=(1, 2), keepdim=True)
    span = x.amax(dim=(1, 2), keepdim=True) - low
    return (x - low) / span.clamp(min=_MASS_FLOOR)


Score = Callable[[Tensor], Tensor]


def _score_function(objective: str, clean: Tensor, top_k: int) -> Score:
    """Normalised maps N×H×W → N scores to lower: the clean top-k region's share of the mass,
    or the similarity with the clean maps `clean`."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: {objective!r} is not one of {', '.join(OBJECTIVES)}")
    if objective == "topk":
        region = top_k_mask(clean, top_k).to(clean.dtype)

        def share(maps: Tensor) -> Tensor:
            flat = maps.flatten(1)
            inside = (flat * region.to(flat.dtype)).sum(dim=1)
            return inside / flat.sum(dim=1).clamp(min=_MASS_FLOOR)

        return share
    measure = measure_function(objective)
    return lambda maps: measure(clean.to(maps.dtype), maps)


@dataclass(frozen=True)
class _Setup:
    """What every step of one method's attack reads."""

    model: nn.Module
    method: str
    target_layer: str | None
    layout: str | None
    prefix_tokens: int | None
    beta: float

    def real(self, x: Tensor, targets: Tensor | None) -> tuple[Tensor, Tensor]:
        """(normalised maps of the real network, its predictions) for images `x`."""
        result = compute_cams(
            self.model,
            self.target_layer,
            x,
            methods=[self.method],
            targets=targets,
            batch_size=len(x),
            layout=self.layout,
            prefix_tokens=self.prefix_tokens,
        )
        return normalize_maps(result.maps[self.method], size=tuple(x.shape[-2:])), result.preds

    def gradient(self, x: Tensor, targets: Tensor, score: Score) -> Tensor:
        """∇x of the summed score of the surrogate's maps (softplus network for gradient maps)."""
        smooth = self.method in READS_GRADIENTS
        with smooth_relus(self.beta) if smooth else contextlib.nullcontext():
            leaf = x.detach().requires_grad_(True)
            maps, _ = differentiable_cams(
                self.model,
                self.target_layer,
                leaf,
                [self.method],
                targets,
                layout=self.layout,
                prefix_tokens=self.prefix_tokens,
            )
            total = score(normalised(maps[self.method], tuple(x.shape[-2:]))).sum()
            (grad,) = torch.autograd.grad(total, leaf)
        return grad


def _stored(x_adv: Tensor, clean: Tensor, budget: int) -> Tensor:
    """The uint8 levels N×C×H×W that `x_adv` is stored as: rounded, then within `budget` levels
    of the clean image and in 0..255."""
    levels = torch.round(x_adv * 255.0).to(torch.int16)
    return torch.clamp(torch.minimum(torch.maximum(levels, clean - budget), clean + budget), 0, 255)


def _attack_batch(
    setup: _Setup, x: Tensor, budget: int, steps: int, step_size: float, objective: str, top_k: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(stored levels N×C×H×W, kept, clean score, score) for one clean batch `x` in [0, 1]."""
    clean_levels = torch.round(x * 255.0).to(torch.int16)
    eps = budget / 255
    clean_maps, preds = setup.real(x, None)
    score = _score_function(objective, clean_maps, top_k)
    with torch.no_grad():
        score_clean = score(clean_maps).double()
    best = clean_levels.clone()
    best_score = torch.full_like(score_clean, float("inf"))
    kept_any = torch.zeros_like(preds, dtype=torch.bool)
    last = clean_levels
    x_adv = x
    for _ in range(steps):
        step = setup.gradient(x_adv, preds, score).sign()
        x_adv = x_adv - step_size * step
        x_adv = torch.clamp(torch.minimum(torch.maximum(x_adv, x - eps), x + eps), 0.0, 1.0)
        last = _stored(x_adv, clean_levels, budget)
        maps, now = setup.real(last.float() / 255.0, preds)
        with torch.no_grad():
            value = score(maps).double()
        better = (now == preds) & (value < best_score)
        best[better], best_score[better] = last[better], value[better]
        kept_any |= now == preds
    levels = torch.where(kept_any[:, None, None, None], best, last)
    return levels, kept_any, score_clean, torch.where(kept_any, best_score, float("nan"))


def explanation_attack(
    model: nn.Module,
    images: np.ndarray,
    settings: ExplanationAttackSettings,
    *,
    progress: bool | None = None,
) -> AttackResult:
    """Attack the settings' method's map of each uint8 N×H×W×C image within eps/255 (L-inf),
    keeping the model's clean prediction: `steps` signed-gradient steps of eps·`step_fraction`
    that lower the `objective` score (top-k share with the top `top_k`% pixels of the clean
    map, or a similarity), through a softplus-`softplus_beta` surrogate for maps that read
    gradients. The model runs in eval mode without parameter gradients; modes, flags and device
    are restored."""
    _check_images(images)
    s, method = settings, settings.method
    budget, device, batch_size = s.eps, resolve_device(s.device), s.batch_size
    steps, step_size = s.steps, budget / 255 * s.step_fraction
    home = next(model.parameters(), torch.empty(0)).device
    layer = (s.target_layer, s.layout, s.prefix_tokens)
    setup = _Setup(model, method, *layer, float(s.softplus_beta))
    parts: dict[str, list[np.ndarray]] = {"images": [], "kept": [], "clean": [], "score": []}
    log.info("explanation attack on %s: %d images, eps %d/255", method, len(images), budget)
    try:
        with frozen_eval(model.to(device)):
            starts = range(0, len(images), batch_size)
            for first in tqdm(starts, desc=method, unit="batch", disable=_quiet(progress)):
                x = to_model_input(images[first : first + batch_size], device).contiguous()
                levels, kept, clean, score = _attack_batch(
                    setup, x, budget, steps, step_size, s.objective, s.top_k
                )
                parts["images"].append(levels.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy())
                for key, value in (("kept", kept), ("clean", clean), ("score", score)):
                    parts[key].append(value.cpu().numpy())
    finally:
        model.to(home)
    return AttackResult(
        images=np.concatenate(parts["images"]),
        attacked=np.concatenate(parts["kept"]),
        score_clean=np.concatenate(parts["clean"]),
        score=np.concatenate(parts["score"]),
    )


def _quiet(progress: bool | None) -> bool | None:
    return None if progress is None else not progress
