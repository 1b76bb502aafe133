"""Training, saving and loading the generative models LVAT perturbs in: a VAE and a Glow."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from camrobust.data.tensors import unit_float
from camrobust.device import resolve_device
from camrobust.io import save_torch
from camrobust.models.glow import Glow
from camrobust.models.registry import cpu_state, plain_data
from camrobust.models.vae import VAE
from camrobust.seeding import derive_seed, torch_generator
from camrobust.train.augment import augment_batch, augment_params
from camrobust.train.settings import GlowSettings, VAESettings

log = logging.getLogger(__name__)

GENERATIVE_FORMAT = "camrobust-generative-v1"
GENERATIVE_KINDS: dict[str, type[VAE] | type[Glow]] = {"vae": VAE, "glow": Glow}


def _image_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 N×H×W×C array → uint8 N×C×H×W tensor on `device` (scaled to floats per batch)."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        got = getattr(images, "dtype", type(images).__name__), getattr(images, "shape", None)
        raise ValueError(f"images must be a uint8 N×H×W×C array, got {got[0]} {got[1]}")
    if images.shape[0] == 0:
        raise ValueError("images is empty")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch of shuffled index batches; a short tail is dropped unless it is the only batch."""
    order = torch.randperm(n, generator=generator)
    size = min(batch_size, n)
    return list(order[: n - n % size].split(size))


def _seeded_build(seed: int, name: str, cls: type, **kwargs: Any) -> Any:
    """Build `cls(**kwargs)` with weights drawn from a seed of its own, leaving global RNG as is."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, name, "init"))
        return cls(**kwargs)


def _progress(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=None if progress else True, leave=False)


def _optimiser_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float | None
) -> None:
    """Backpropagate `loss`, clip the gradient norm to `grad_clip` if set, step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def _fit_batches(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batches: Iterable[torch.Tensor],
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    grad_clip: float | None,
) -> float:
    """One optimiser step per batch (gradient norm clipped to `grad_clip` if set); the mean loss
    per image."""
    total, count = None, 0
    for x in batches:
        loss = loss_of(x)
        _optimiser_step(model, opt, loss, grad_clip)
        weighted = loss.detach() * x.shape[0]
        total = weighted if total is None else total + weighted
        count += x.shape[0]
    return float(total) / count


def train_vae(
    images: np.ndarray, settings: VAESettings, *, progress: bool = True
) -> tuple[VAE, list[dict]]:
    """Fit the LVAT VAE to unlabeled images as `settings` say (Adam, gradient clip, lr ×
    `lr_decay` every `lr_decay_every` epochs, random translation by up to ±`translate` px with
    zero padding, as the official VAE); returns the model in eval mode and one history row per
    epoch."""
    s, seed = settings, settings.seed
    dev = resolve_device(s.device)
    data = _image_tensor(images, dev)
    if data.shape[2] != data.shape[3]:
        raise ValueError(f"VAE needs square images, got {tuple(data.shape[2:])}")
    aug = augment_params({"translate": s.translate, "flip": False}, image_size=data.shape[2])
    model = _seeded_build(
        seed,
        "vae",
        VAE,
        latent_dim=s.latent_dim,
        channels=s.channels,
        beta=s.beta,
        image_size=data.shape[2],
        in_channels=data.shape[1],
    ).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=s.lr, betas=s.betas)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=s.lr_decay_every, gamma=s.lr_decay)
    shuffle = torch_generator(seed, "vae", "shuffle")
    noise = torch_generator(seed, "vae", "noise", device=dev)
    shifts = torch_generator(seed, "vae", "augment")
    history: list[dict] = []
    bar = _progress(s.epochs, "vae", progress)
    for epoch in range(1, s.epochs + 1):
        batches = _batches(data.shape[0], s.batch_size, shuffle)
        xs = (augment_batch(unit_float(data[idx.to(dev)]), aug, shifts) for idx in batches)
        mean = _fit_batches(model, opt, xs, lambda x: model.loss(x, generator=noise), s.grad_clip)
        if not math.isfinite(mean):
            raise FloatingPointError(f"VAE loss became non-finite in epoch {epoch}")
        history.append({"epoch": epoch, "loss": mean, "lr": sched.get_last_lr()[0]})
        log.info("vae epoch %d/%d loss %.3f", epoch, s.epochs, mean)
        sched.step()
        bar.update()
        bar.set_postfix(loss=f"{mean:.2f}")
    bar.close()
    return model.eval(), history


def _initialise_actnorm(
    model: Glow,
    data: torch.Tensor,
    init_batch: int,
    shuffle: torch.Generator,
    noise: torch.Generator,
) -> None:
    """Actnorm's data-dependent initialisation: one pass over `init_batch` random images."""
    init_idx = torch.randperm(data.shape[0], generator=shuffle)[:init_batch].to(data.device)
    with torch.no_grad():
        model.nll_bpd(unit_float(data[init_idx]), generator=noise)


def train_glow(
    images: np.ndarray, settings: GlowSettings, *, progress: bool = True
) -> tuple[Glow, list[dict]]:
    """Fit a Glow by maximum likelihood (bits/dim, uniform dequantisation) as `settings` say:
    Adam with a linear lr warm-up and a loose gradient clip as a safety net; actnorms are
    initialised on `init_batch` images first. History: one row per `log_every` steps."""
    s, seed, steps = settings, settings.seed, settings.steps
    dev = resolve_device(s.device)
    data = _image_tensor(images, dev)
    arch = s.architecture
    model = _seeded_build(seed, "glow", Glow, **arch, in_channels=data.shape[1]).to(dev)
    model._check_images(data[:1].float())
    warmup = min(500, steps // 10) if s.warmup_steps is None else s.warmup_steps
    log_every = max(1, steps // 100) if s.log_every is None else s.log_every
    shuffle = torch_generator(seed, "glow", "shuffle")
    noise = torch_generator(seed, "glow", "dequantise", device=dev)
    _initialise_actnorm(model.train(), data, s.init_batch, shuffle, noise)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda n: min(1.0, (n + 1) / (warmup + 1)))
    history: list[dict] = []
    batches: list[torch.Tensor] = []  # the rest of the current epoch's batches
    chunk, chunk_n = torch.zeros((), device=dev), 0
    bar = _progress(steps, "glow", progress)
    for step in range(1, steps + 1):
        if not batches:
            batches = _batches(data.shape[0], s.batch_size, shuffle)
        x = unit_float(data[batches.pop(0).to(dev)])
        loss = model.nll_bpd(x, generator=noise).mean()
        lr_used = opt.param_groups[0]["lr"]
        _optimiser_step(model, opt, loss, s.grad_clip)
        sched.step()
        chunk += loss.detach()
        chunk_n += 1
        bar.update()
        if step % log_every == 0 or step == steps:
            mean = float(chunk) / chunk_n
            if not math.isfinite(mean):
                raise FloatingPointError(f"Glow loss became non-finite by step {step}")
            history.append({"step": step, "loss": mean, "lr": lr_used})
            log.info("glow step %d/%d bpd %.3f", step, steps, mean)
            bar.set_postfix(bpd=f"{mean:.3f}")
            chunk, chunk_n = torch.zeros((), device=dev), 0
    bar.close()
    return model.eval(), history


def save_generative(
    path: str | os.PathLike, model: VAE | Glow, hparams: dict[str, Any], history: list[dict]
) -> None:
    """Write weights, the architecture kwargs, the caller's hparams and the history atomically."""
    if getattr(model, "kind", None) not in GENERATIVE_KINDS:
        raise ValueError(f"expected a VAE or Glow, got {type(model).__name__}")
    payload = {
        "format": GENERATIVE_FORMAT,
        "kind": model.kind,
        "arch": plain_data(model.config(), "the architecture"),
        "hparams": plain_data(hparams, "hparams"),
        "history": plain_data(history, "history"),
        "state_dict": cpu_state(model),
    }
    save_torch(path, payload)


def load_generative(path: str | os.PathLike, device: str | torch.device) -> VAE | Glow:
    """Rebuild a saved VAE/Glow on `device`, frozen: eval mode, no parameter gradients.
    `model.hparams` and `model.history` hold what was stored with it."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != GENERATIVE_FORMAT:
        raise ValueError(f"{path} is not a generative-model file written by save_generative")
    model = GENERATIVE_KINDS[payload["kind"]](**payload["arch"])
    model.load_state_dict(payload["state_dict"])
    model.hparams = payload["hparams"]
    model.history = payload["history"]
    model.requires_grad_(False)
    return model.to(resolve_device(device)).eval()
