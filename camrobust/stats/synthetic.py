"""A small seeded per-image table with planted effects: for tests, benchmarks and demos of stats."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from camrobust.seeding import numpy_rng


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
    method_effect = dict(method_effect or {})
    regularizer_effect = dict(regularizer_effect or {})
    noise_effect = dict(noise_effect or {})
    image_effect = rng.normal(0.0, sd, n_images)
    label = rng.integers(0, 10, n_images)
    images = np.arange(n_images)
    parts = []
    runs = [(reg, s) for reg in regularizers for s in (seeds if seeds is not None else (None,))]
    shifts = rng.normal(0.0, seed_sd, len(runs)) if seed_sd else np.zeros(len(runs))
    seed_shift = dict(zip(runs, shifts, strict=True))
    for (reg, seed_index), noise, level in itertools.product(runs, noises, levels):
        kept = rng.random(n_images) < keep_rate
        pred_noisy = np.where(kept, label, (label + 1) % 10)
        base = (
            0.7
            + image_effect
            + regularizer_effect.get(reg, 0.0)
            + seed_shift[(reg, seed_index)]
            + noise_effect.get(noise, 0.0)
            - 0.02 * float(level)
            - flip_drop * ~kept
        )
        for method in methods:
            model = f"{arch}_{reg}" if seed_index is None else f"{arch}-{reg}-s{seed_index}"
            frame = {
                "dataset": dataset,
                "model": model,
                "arch": arch,
                "regularizer": reg,
                "seed": "0",
                "noise": noise,
                "level": level,
                "method": method,
                "image": images,
                "label": label,
                "pred_clean": label,
                "pred_noisy": pred_noisy,
                "kept": kept,
                "degenerate": False,
            }
            if seed_index is not None:
                frame["seed"] = int(seed_index)
            for measure in measures:
                s = base + method_effect.get(method, 0.0) + rng.normal(0.0, sd, n_images)
                frame[measure] = np.clip(s, 0.0, 1.0)
            parts.append(pd.DataFrame(frame))
    return pd.concat(parts, ignore_index=True)
