"""The settings of a classifier's and of a generative model's training, checked when built.

Each is built from the params its rule passes (`from_config`); the values and their defaults come
from the validated config (config/schema.yaml), so a field has a default only where it is no
config key (a published value, kept by name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from camrobust.frozen_config import Items, frozen_items, require_keys, require_positive
from camrobust.train.augment import augment_params
from camrobust.train.regularizers import get_regularizer
from camrobust.train.schedule import SCHEDULE_KEYS, schedule_params

# The official VAE's optimiser (LVAT's vae.py): Adam's betas, and lr × 0.97 every 2 epochs.
VAE_BETAS = (0.5, 0.999)
VAE_LR_DECAY = 0.97
VAE_LR_DECAY_EVERY = 2
# The Glow's gradient-norm clip: a loose safety net, not a config key (the VAE's is
# `generative.vae.grad_clip`); and how many images initialise its actnorms.
GLOW_GRAD_CLIP = 50.0
GLOW_INIT_BATCH = 256

VAE_KEYS = (
    "latent_dim",
    "channels",
    "beta",
    "epochs",
    "batch_size",
    "lr",
    "grad_clip",
    "translate",
)
GLOW_KEYS = ("scales", "steps_per_scale", "hidden", "bits", "steps", "batch_size", "lr")


@dataclass(frozen=True)
class TrainSettings:
    """How one classifier trains: its regulariser and that one's params, the schedule
    (SCHEDULE_KEYS), the augmentation, whether batch norm is recalibrated, the seed, the device.

    Mappings given are held as Items (`dict()` gives them back); the augmentation's check that
    needs the image size waits for the images (`train_classifier`).
    """

    regularizer: str
    reg_params: Items
    schedule: Items
    augment: Items
    recalibrate_bn: bool
    seed: int
    device: str | torch.device

    def __post_init__(self) -> None:
        for name in ("reg_params", "schedule", "augment"):
            object.__setattr__(self, name, frozen_items(getattr(self, name)))
        get_regularizer(self.regularizer).params(dict(self.reg_params))
        schedule = schedule_params(dict(self.schedule))
        counts = ("epochs", "iters_per_epoch", "batch_labeled", "batch_unlabeled")
        require_positive("training", lr=schedule["lr"], **{k: schedule[k] for k in counts})
        if schedule["epoch_decay_start"] < 0:
            start = schedule["epoch_decay_start"]
            raise ValueError(f"training.epoch_decay_start must be >= 0, got {start!r}")
        if schedule["n_labeled"] is not None:
            require_positive("training", n_labeled=schedule["n_labeled"])
        augment_params(dict(self.augment), image_size=math.inf)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> TrainSettings:
        """From `Plan.train.params`: the regulariser, its params, the `training` section, seed
        and device (the keys that build the network are `initial_network`'s)."""
        keys = ("regularizer", "reg_params", "training", "seed", "device")
        require_keys("train params", params, keys)
        training = params["training"]
        require_keys("training", training, (*SCHEDULE_KEYS, "augment", "recalibrate_bn"))
        return cls(
            regularizer=params["regularizer"],
            reg_params=params["reg_params"],
            schedule={k: training[k] for k in SCHEDULE_KEYS},
            augment=training["augment"],
            recalibrate_bn=bool(training["recalibrate_bn"]),
            seed=int(params["seed"]),
            device=params["device"],
        )


@dataclass(frozen=True)
class VAESettings:
    """The LVAT VAE and its training (`generative.vae`), with the official optimiser's betas
    and learning-rate decay (`lr` × `lr_decay` every `lr_decay_every` epochs)."""

    latent_dim: int
    channels: tuple[int, ...]
    beta: float
    epochs: int
    batch_size: int
    lr: float
    grad_clip: float | None
    translate: int
    seed: int
    device: str | torch.device
    betas: tuple[float, float] = VAE_BETAS
    lr_decay: float = VAE_LR_DECAY
    lr_decay_every: int = VAE_LR_DECAY_EVERY

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "betas", tuple(self.betas))
        require_positive("generative.vae", latent_dim=self.latent_dim, epochs=self.epochs)
        require_positive("generative.vae", batch_size=self.batch_size, lr=self.lr)
        require_positive("generative.vae", lr_decay=self.lr_decay)
        require_positive("generative.vae", lr_decay_every=self.lr_decay_every)
        if self.grad_clip is not None:
            require_positive("generative.vae", grad_clip=self.grad_clip)
        if isinstance(self.translate, bool) or self.translate < 0:
            raise ValueError(
                f"generative.vae.translate must be an integer >= 0, got {self.translate!r}"
            )

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> VAESettings:
        """From `Plan.train.generative_params` for the VAE: `generative.vae`, seed, device."""
        require_keys("generative.vae", params, (*VAE_KEYS, "seed", "device"))
        return cls(**{k: params[k] for k in (*VAE_KEYS, "seed", "device")})


@dataclass(frozen=True)
class GlowSettings:
    """The Glow and its training (`generative.glow`): Adam with a linear warm-up over
    `warmup_steps` (None: min(500, steps/10)), a loose gradient clip, actnorms initialised on
    `init_batch` images, a history row every `log_every` steps (None: steps/100)."""

    scales: int
    steps_per_scale: int
    hidden: int
    bits: int
    steps: int
    batch_size: int
    lr: float
    seed: int
    device: str | torch.device
    warmup_steps: int | None = None
    grad_clip: float | None = GLOW_GRAD_CLIP
    init_batch: int = GLOW_INIT_BATCH
    log_every: int | None = None

    def __post_init__(self) -> None:
        require_positive("generative.glow", steps=self.steps, batch_size=self.batch_size)
        require_positive("generative.glow", lr=self.lr, init_batch=self.init_batch)
        if self.log_every is not None:
            require_positive("generative.glow", log_every=self.log_every)

    @property
    def architecture(self) -> dict[str, int]:
        """The Glow's constructor arguments (besides the input channels)."""
        keys = ("scales", "steps_per_scale", "hidden", "bits")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> GlowSettings:
        """From `Plan.train.generative_params` for the Glow: `generative.glow`, seed, device."""
        require_keys("generative.glow", params, (*GLOW_KEYS, "seed", "device"))
        return cls(**{k: params[k] for k in (*GLOW_KEYS, "seed", "device")})
