"""The quality stage for one classifier: sensitivity and faithfulness of every method, one table.

What a workflow rule's adapter calls: it shares one clean engine pass between both families and
lets either be switched off (its options None), as the config's `metrics.sensitivity` and
`metrics.faithfulness` sections will.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from torch import Tensor, nn

from camrobust.cam import CamResult, compute_cams, normalize_maps
from camrobust.cam.placebo import call_seed
from camrobust.quality.faithfulness import faithfulness
from camrobust.quality.sensitivity import sensitivity
from camrobust.quality.table import quality_per_image

# `images`: the family measures the first this many images (all of them when absent).
SENSITIVITY_OPTIONS = frozenset({"images", "n_samples", "radius", "nan_when_prediction_changes"})
FAITHFULNESS_OPTIONS = frozenset({"images", "percentiles", "road_noise", "steps"})


def _check_options(options: Mapping[str, Any] | None, allowed: frozenset, section: str) -> dict:
    if options is None:
        return {}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"metrics.{section}: unknown option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return dict(options)


def evaluate_quality(
    model: nn.Module,
    target_layer: str,
    images: Tensor,
    methods: Sequence[str],
    keys: Mapping[str, str],
    *,
    sensitivity_options: Mapping[str, Any] | None,
    faithfulness_options: Mapping[str, Any] | None,
    seed: int,
    batch_size: int = 64,
    **engine_options: Any,
) -> pd.DataFrame:
    """The per-image quality table of `images` for `methods`; a family with options None is off.

    Each family measures the first `images` of its options (default all); the clean engine pass
    on the larger prefix serves both. `engine_options` (autocast, a user model's layout and
    prefix tokens) pass on to `compute_cams`.
    """
    if sensitivity_options is None and faithfulness_options is None:
        raise ValueError("metrics.sensitivity and metrics.faithfulness are both switched off")
    sens_opts = _check_options(sensitivity_options, SENSITIVITY_OPTIONS, "sensitivity")
    faith_opts = _check_options(faithfulness_options, FAITHFULNESS_OPTIONS, "faithfulness")
    counts = {
        section: _count(opts, len(images), section)
        for section, opts, given in (
            ("sensitivity", sens_opts, sensitivity_options),
            ("faithfulness", faith_opts, faithfulness_options),
        )
        if given is not None
    }
    images = images[: max(counts.values())]
    clean = compute_cams(
        model, target_layer, images, methods, batch_size=batch_size,
        seed=call_seed(seed, "clean"), **engine_options,
    )  # fmt: skip
    sens = faith = None
    if "sensitivity" in counts:
        n = counts["sensitivity"]
        sens = sensitivity(
            model, target_layer, images[:n], methods,
            seed=seed, batch_size=batch_size, clean=_head(clean, n), **engine_options,
            **sens_opts,
        )  # fmt: skip
    if "faithfulness" in counts:
        n = counts["faithfulness"]
        size = tuple(images.shape[-2:])
        maps = {name: normalize_maps(m[:n], size=size) for name, m in clean.maps.items()}
        faith = faithfulness(
            model, images[:n], maps, clean.targets[:n], seed=seed, batch_size=batch_size,
            **faith_opts,
        )  # fmt: skip
    return quality_per_image(keys, sens, faith)


def _count(options: dict, available: int, section: str) -> int:
    """How many images a family measures (popped from its options); at most those given."""
    n = options.pop("images", available)
    if not 1 <= n <= available:
        raise ValueError(f"metrics.{section}.images: {n} outside 1..{available} (images given)")
    return int(n)


def _head(result: CamResult, n: int) -> CamResult:
    """The engine's result on the first `n` images."""
    return replace(
        result,
        maps={name: m[:n] for name, m in result.maps.items()},
        logits=result.logits[:n],
        preds=result.preds[:n],
        targets=result.targets[:n],
    )
