"""Do CAM methods differ in sensitivity or faithfulness? The method tests on the quality table.

The same Friedman (Kendall's W) + pairwise Wilcoxon family as the robustness method tests
(`core.paired_family`), per (dataset, model, metric), with the clean images as blocks. Here
rank_biserial > 0 means group_a scores higher: less robust for the sensitivity metrics, more
faithful for confidence_change, road_lerf, road_combined and insertion_auc.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from camrobust.frames import require_columns
from camrobust.quality.faithfulness import FAITHFULNESS_METRICS
from camrobust.quality.sensitivity import SENSITIVITY_METRICS
from camrobust.quality.table import measured
from camrobust.stats.core import paired_family
from camrobust.stats.frames import (
    finish,
    join_notes,
    label,
    log_rows,
    strata,
    tag_families,
    wide_blocks,
)
from camrobust.stats.options import stats_options

log = logging.getLogger(__name__)

QUALITY_STRATA = ("dataset", "model", "measure")


def quality_method_tests(
    quality: pd.DataFrame, config: Mapping[str, Any], progress: bool | None = None
) -> pd.DataFrame:
    """Friedman + pairwise Wilcoxon over methods for every quality metric of the per-image table.

    `config` is the `stats:` section without `measures` (the metrics are the table's). Images
    with a non-finite score for any method are left out of that metric's blocks, with a note.
    """
    require_columns(quality, ("dataset", "model", "method", "image"), "quality table")
    metrics = [m for m in (*SENSITIVITY_METRICS, *FAITHFULNESS_METRICS) if m in quality]
    if not metrics or quality.empty:
        raise ValueError("quality table has no rows or no sensitivity/faithfulness column")
    options = stats_options({**config, "measures": metrics})
    records = []
    for metric in metrics:
        rows_of = quality[measured(quality, metric)]  # the images its family measured
        values = rows_of[metric].to_numpy(dtype=float)
        # wide_blocks drops NaN; an infinite score (a zero map that changed) is dropped too.
        scores = rows_of.assign(**{metric: np.where(np.isfinite(values), values, np.nan)})
        for stratum, sub in strata(scores, ("dataset", "model"), f"quality ({metric})", progress):
            head = {**stratum, "measure": metric}
            wide, n_dropped = wide_blocks(sub, "method", metric, label(head), kept_only=False)
            rows = paired_family(wide, "method", min_pairs=options.min_pairs)
            note = f"{n_dropped} non-finite scores excluded" if n_dropped else ""
            for r in rows:
                r["note"] = join_notes(r["note"], note)
            records.extend(tag_families(rows, head))
    return log_rows(log, "quality method tests", finish(records, QUALITY_STRATA, options))
