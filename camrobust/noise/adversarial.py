"""FGSM and PGD (L-infinity, [0,1] pixel space) against a classifier's own clean prediction.

The attacks need the trained model, so these sets are made per model. The budget eps comes in
the config's unit, whole uint8 levels (8 means 8/255). The result is rounded to uint8 and then
clamped so that it stays within eps levels of the clean uint8 image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from camrobust.cam.state import frozen_eval
from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.noise.settings import AttackSettings
from camrobust.seeding import derive_seed

log = logging.getLogger(__name__)


def _input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. the input (sum: per-image, batch-free scale)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), target, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _random_start(shape: tuple[int, ...], eps: float, parts: tuple, first: int) -> torch.Tensor:
    """Uniform [-eps, eps] noise, one CPU generator per image seeded from (parts, image index)."""
    gen = torch.Generator()
    out = torch.empty((shape[0], *shape[1:]))
    for i in range(shape[0]):
        gen.manual_seed(derive_seed(*parts, first + i))
        out[i] = torch.rand(shape[1:], generator=gen)
    return (2.0 * out - 1.0) * eps


def _perturb(
    model: nn.Module,
    x: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    start: torch.Tensor | None,
) -> torch.Tensor:
    """The float adversarial batch for clean batch `x` (N×C×H×W in [0,1]): signed-gradient
    steps projected onto the eps-ball (FGSM: one step of eps from x, which stays in the ball)."""
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    x_adv = x if start is None else torch.clamp(x + start, 0.0, 1.0)
    for _ in range(steps):
        x_adv = x_adv + step_size * _input_gradient(model, x_adv, target).sign()
        x_adv = torch.clamp(torch.minimum(torch.maximum(x_adv, x - eps), x + eps), 0.0, 1.0)
    return x_adv.detach()


@dataclass(frozen=True)
class _Steps:
    """How an attack moves: `steps` signed-gradient steps of `size` ([0,1] pixel units), from
    a seeded uniform random start in the eps-ball or from the clean image."""

    steps: int
    size: float
    random_start: bool


def _check_images(images: object) -> None:
    """A ValueError unless `images` is a uint8 N×H×W×C array."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        kind = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images: need a uint8 N×H×W×C array, got {kind}")


def _steps(name: str, eps: float, options: dict[str, object]) -> _Steps:
    """FGSM: one step of eps from the clean image; PGD: as its options say."""
    if name == "fgsm":
        return _Steps(1, eps, False)
    steps, size = int(options["steps"]), eps * float(options["step_fraction"])
    return _Steps(steps, size, bool(options["random_start"]))


def _attack_batch(
    model: nn.Module,
    batch: np.ndarray,
    budget: int,
    move: _Steps,
    parts: tuple,
    first: int,
    device: torch.device,
) -> np.ndarray:
    """The uint8 adversarial copies of the uint8 N×H×W×C `batch` (images `first`...): rounded
    to uint8, then clamped to within `budget` levels of the clean image."""
    eps = budget / 255
    x = to_model_input(batch, device).contiguous()
    start = _random_start(tuple(x.shape), eps, parts, first) if move.random_start else None
    x_adv = _perturb(
        model,
        x,
        eps,
        move.steps,
        move.size,
        None if start is None else start.to(device),
    )
    levels = torch.round(x_adv * 255.0).to(torch.int16).permute(0, 2, 3, 1).cpu()
    clean = torch.from_numpy(batch.astype(np.int16))
    levels = torch.clamp(
        torch.minimum(torch.maximum(levels, clean - budget), clean + budget), 0, 255
    )
    return levels.to(torch.uint8).numpy()


def attack(
    model: nn.Module, images: np.ndarray, settings: AttackSettings, *, progress: bool = True
) -> np.ndarray:
    """Adversarial uint8 N×H×W×C copies of `images` by FGSM or PGD within L-inf ball eps/255.

    The model takes float N×C×H×W in [0,1] and returns logits; the attack raises the
    cross-entropy of its own clean prediction. PGD takes `steps` signed-gradient steps of
    eps * `step_fraction`, projecting each time, from a uniform random start seeded per image
    from (seed parts, image index) when `random_start`. The model runs in eval mode on the
    settings' device without parameter gradients; its modes, flags and device are restored.
    """
    _check_images(images)
    name, budget = settings.name, settings.eps  # whole uint8 levels allowed
    eps = budget / 255
    move = _steps(name, eps, dict(settings.options))
    parts, device = settings.seed, resolve_device(settings.device)

    if eps == 0:
        return images.copy()

    home = next(model.parameters(), torch.empty(0)).device
    log.info("%s on %d images, eps %.5f, device %s", name, len(images), eps, device)
    out = np.empty_like(images)
    batch_size = settings.batch_size
    try:
        with frozen_eval(model.to(device)):
            starts = range(0, len(images), batch_size)
            for first in tqdm(starts, desc=name, unit="batch", disable=None if progress else True):
                batch = images[first : first + batch_size]
                adversarial = _attack_batch(model, batch, budget, move, parts, first, device)
                out[first : first + len(batch)] = adversarial
    finally:
        model.to(home)
    return out
