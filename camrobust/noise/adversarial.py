"""FGSM and PGD (L-infinity, [0,1] pixel space) against a classifier's own clean prediction.

The attacks need the trained model, so these sets are made per model. The budget eps comes in
the config's unit, whole uint8 levels (8 means 8/255). The result is rounded to uint8 and then
clamped so that it stays within eps levels of the clean uint8 image.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.seeding import derive_seed

log = logging.getLogger(__name__)

# The options each attack reads besides eps (the config's `noise.adversarial.<attack>` keys):
# FGSM is one signed-gradient step of eps from the clean image, so it has none.
ATTACK_OPTIONS: dict[str, tuple[str, ...]] = {
    "fgsm": (),
    "pgd": ("steps", "step_fraction", "random_start"),
}
ATTACKS: tuple[str, ...] = tuple(ATTACK_OPTIONS)


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


def attack(
    model: nn.Module,
    images: np.ndarray,
    name: str,
    eps: int,
    options: dict[str, object],
    seed: object,
    batch_size: int,
    device: str | torch.device,
    progress: bool = True,
) -> np.ndarray:
    """Adversarial uint8 N×H×W×C copies of `images` by FGSM or PGD within L-inf ball `eps`/255.

    The model takes float N×C×H×W in [0,1] and returns logits; the attack raises the
    cross-entropy of its own clean prediction. `options` are the attack's ATTACK_OPTIONS, as
    validated by the config: PGD takes `steps` signed-gradient steps of eps * `step_fraction`,
    projecting each time, from a uniform random start seeded per image from (seed parts, image
    index) when `random_start`. The model runs in eval mode on `device` without parameter
    gradients; its modes, flags and device are restored afterwards.
    """
    if name not in ATTACK_OPTIONS:
        raise ValueError(f"name: unknown attack {name!r}; allowed: {', '.join(ATTACKS)}")
    if sorted(options) != sorted(ATTACK_OPTIONS[name]):
        raise ValueError(f"options: {name} reads {list(ATTACK_OPTIONS[name])}, got {list(options)}")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        kind = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images: need a uint8 N×H×W×C array, got {kind}")
    budget = int(eps)  # whole uint8 levels allowed
    eps = budget / 255
    if name == "fgsm":
        steps, step_size, use_start = 1, eps, False
    else:
        steps, step_size = int(options["steps"]), eps * float(options["step_fraction"])
        use_start = bool(options["random_start"])
    if use_start and seed is None:
        raise ValueError("seed: PGD's random start needs seed=(config seed, names...)")
    parts = tuple(seed) if isinstance(seed, (list, tuple)) else (seed,)
    device = resolve_device(device)

    if eps == 0:
        return images.copy()

    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    home = next(model.parameters(), torch.empty(0)).device
    log.info("%s on %d images, eps %.5f, device %s", name, len(images), eps, device)
    out = np.empty_like(images)
    try:
        model.eval().to(device)
        for p, _ in flags:
            p.requires_grad_(False)
        starts = range(0, len(images), batch_size)
        for first in tqdm(starts, desc=name, unit="batch", disable=None if progress else True):
            batch = images[first : first + batch_size]
            x = to_model_input(batch, device).contiguous()
            start = _random_start(tuple(x.shape), eps, parts, first) if use_start else None
            x_adv = _perturb(
                model,
                x,
                eps,
                steps,
                step_size,
                None if start is None else start.to(device),
            )
            levels = torch.round(x_adv * 255.0).to(torch.int16).permute(0, 2, 3, 1).cpu()
            clean = torch.from_numpy(batch.astype(np.int16))
            levels = torch.clamp(
                torch.minimum(torch.maximum(levels, clean - budget), clean + budget), 0, 255
            )
            out[first : first + len(batch)] = levels.to(torch.uint8).numpy()
    finally:
        model.to(home)
        for module, training in modes:
            module.training = training
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)
    return out
