"""The quality stage for one classifier: sensitivity and faithfulness of every method, one table.

What a workflow rule's adapter calls: it shares one clean engine pass between both families and
lets either be switched off (its options None), as the config's `metrics.sensitivity` and
`metrics.faithfulness` sections will.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from torch import Tensor, nn

from camrobust.cam import compute_cams, normalize_maps
from camrobust.quality.faithfulness import faithfulness
from camrobust.quality.sensitivity import sensitivity
from camrobust.quality.table import quality_per_image

SENSITIVITY_OPTIONS = frozenset({"n_samples", "radius", "nan_when_prediction_changes"})
FAITHFULNESS_OPTIONS = frozenset({"percentiles", "road_noise", "steps"})


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
    autocast: str | None = None,
) -> pd.DataFrame:
    """The per-image quality table of `images` for `methods`; a family with options None is off."""
    if sensitivity_options is None and faithfulness_options is None:
        raise ValueError("metrics.sensitivity and metrics.faithfulness are both switched off")
    sens_opts = _check_options(sensitivity_options, SENSITIVITY_OPTIONS, "sensitivity")
    faith_opts = _check_options(faithfulness_options, FAITHFULNESS_OPTIONS, "faithfulness")
    clean = compute_cams(
        model, target_layer, images, methods, batch_size=batch_size, autocast=autocast
    )
    sens = faith = None
    if sensitivity_options is not None:
        sens = sensitivity(
            model, target_layer, images, methods,
            seed=seed, batch_size=batch_size, clean=clean, autocast=autocast, **sens_opts,
        )  # fmt: skip
    if faithfulness_options is not None:
        size = tuple(images.shape[-2:])
        maps = {name: normalize_maps(m, size=size) for name, m in clean.maps.items()}
        faith = faithfulness(
            model, images, maps, clean.targets, seed=seed, batch_size=batch_size, **faith_opts
        )
    return quality_per_image(keys, sens, faith)
