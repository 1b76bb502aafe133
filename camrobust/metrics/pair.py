"""C, R, H and AUROC for one clean and one noisy set of CAMs held in memory (the Python API).

The pipeline writes a per-image table for many models and noise levels and aggregates it; this
runs the same two steps (`per_image_table`, `aggregate`) for a single pair of map sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from camrobust.metrics.measures import MEASURES
from camrobust.metrics.rbo import Regions
from camrobust.metrics.robustness import STAT_COLUMNS, aggregate
from camrobust.metrics.table import KEY_COLUMNS, per_image_table

#: The level name of the noisy set in the per-image table (the one stratum's only level).
NOISY_LEVEL = "noisy"


def _array(x: Any) -> np.ndarray:
    """A numpy copy of a tensor on any device, or the array itself."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def robustness_scores(
    clean_maps: Mapping[str, Any],
    noisy_maps: Mapping[str, Any],
    clean_preds: Any,
    noisy_preds: Any,
    image_size: tuple[int, int],
    measures: Iterable[str] = MEASURES,
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    regions: Regions | None = None,
) -> pd.DataFrame:
    """Per CAM method and measure: consistency C, responsiveness R, robustness H, AUROC.

    `clean_maps` and `noisy_maps` are {method: N×h×w} raw or normalised maps (tensors or arrays,
    e.g. `compute_cams(...).maps`), normalised to `image_size` as in the pipeline; the
    predictions decide which pairs are kept. Columns: method, measure and the aggregate
    statistics (`*_lo`/`*_hi` bootstrap bounds need `n_boot` > 0, else NaN). The paper's
    measure rbo needs the images' segments as `regions` (`make_regions`).
    """
    preds = _array(clean_preds)
    table = per_image_table(
        {"maps": {m: _array(v) for m, v in clean_maps.items()}, "preds": preds},
        {
            NOISY_LEVEL: {
                "maps": {m: _array(v) for m, v in noisy_maps.items()},
                "preds": _array(noisy_preds),
            }
        },
        # C, R and H do not use the true labels; the table's label column needs integers.
        labels=preds,
        masks=None,
        image_size=image_size,
        measures=measures,
        keys=dict.fromkeys(KEY_COLUMNS, "-"),
        progress=False,
        regions=regions,
    )
    stats = aggregate(table, measures, n_boot=n_boot, ci=ci, seed=seed)
    rows = stats[stats["level"] == NOISY_LEVEL]
    return rows[["method", "measure", *STAT_COLUMNS]].reset_index(drop=True)
