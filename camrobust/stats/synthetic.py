"""A small seeded per-image table with planted effects: for tests, benchmarks and demos of stats."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from camrobust.seeding import numpy_rng


@dataclass(frozen=True)
class _Design:
    """What every (model, noise, level) group of a synthetic table shares."""

    methods: Sequence[str]
    measures: Sequence[str]
    method_effect: dict[str, float]
    dataset: str
    arch: str
    sd: float
    label: np.ndarray

    def frames(
        self,
        rng: np.random.Generator,
        run: tuple[str, int | None],
        noise: str,
        level: str,
        base: np.ndarray,
        kept: np.ndarray,
    ) -> list[pd.DataFrame]:
        """One frame per method of the regulariser and training seed `run`: the group's
        similarity `base` plus the method's effect and N(0, sd) noise per image and measure."""
        reg, seed_index = run
        model = f"{self.arch}_{reg}" if seed_index is None else f"{self.arch}-{reg}-s{seed_index}"
        n_images = len(self.label)
        parts = []
        for method in self.methods:
            frame = {
                "dataset": self.dataset,
                "model": model,
                "arch": self.arch,
                "regularizer": reg,
                "seed": "0" if seed_index is None else int(seed_index),
                "noise": noise,
                "level": level,
                "method": method,
                "image": np.arange(n_images),
                "label": self.label,
                "pred_clean": self.label,
                "pred_noisy": np.where(kept, self.label, (self.label + 1) % 10),
                "kept": kept,
                "degenerate": False,
            }
            for measure in self.measures:
                s = base + self.method_effect.get(method, 0.0) + rng.normal(0.0, self.sd, n_images)
                frame[measure] = np.clip(s, 0.0, 1.0)
            parts.append(pd.DataFrame(frame))
        return parts


def synthetic_per_image(
    seed: int = 0,
    n_images: int = 20,
    methods: Sequence[str] = ("gradcam", "gradcampp", "xgradcam", "eigencam"),
    regularizers: Sequence[str] = ("erm", "vat", "lvat_vae"),
    noises: Sequence[str] = ("gaussian", "jpeg"),
    levels: Sequence[str] = ("1", "3"),
    measures: Sequence[str] = ("ssim",),
    method_effect: Mapping[str, float] | None = None,
    regularizer_effect: Mapping[str, float] | None = None,
    noise_effect: Mapping[str, float] | None = None,
    flip_drop: float = 0.2,
    keep_rate: float = 0.8,
    sd: float = 0.05,
    dataset: str = "shapes",
    arch: str = "resnet",
    seeds: Sequence[int] | None = None,
    seed_sd: float = 0.0,
) -> pd.DataFrame:
    """Per-image rows like the metrics stage's: s = 0.7 + image + planted effects − slope·level.

    Each image has its own stability (the block effect); flipped pairs lose `flip_drop`.
    Effects are added to every measure; with none planted the table is a null table. With
    `seeds`, each regulariser has one model per seed, named {arch}-{reg}-s{seed} with a `seed`
    column, and each model shifts all its similarities by a N(0, seed_sd) draw (the training
    seed's effect); without, one model per regulariser named {arch}_{reg} and no `seed` column,
    like a table from a single-seed run.
    """
    rng = numpy_rng(seed, "synthetic_per_image")
    regularizer_effect = dict(regularizer_effect or {})
    noise_effect = dict(noise_effect or {})
    image_effect = rng.normal(0.0, sd, n_images)
    label = rng.integers(0, 10, n_images)
    design = _Design(methods, measures, dict(method_effect or {}), dataset, arch, sd, label)
    runs = [(reg, s) for reg in regularizers for s in (seeds if seeds is not None else (None,))]
    shifts = rng.normal(0.0, seed_sd, len(runs)) if seed_sd else np.zeros(len(runs))
    seed_shift = dict(zip(runs, shifts, strict=True))
    parts = []
    for run, noise, level in itertools.product(runs, noises, levels):
        kept = rng.random(n_images) < keep_rate
        base = (
            0.7
            + image_effect
            + regularizer_effect.get(run[0], 0.0)
            + seed_shift[run]
            + noise_effect.get(noise, 0.0)
            - 0.02 * float(level)
            - flip_drop * ~kept
        )
        parts.extend(design.frames(rng, run, noise, level, base, kept))
    return pd.concat(parts, ignore_index=True)
