"""The per-image quality table (sensitivity and faithfulness per image × method) and its summary.

Quality is measured on the clean evaluation images, so a row is keyed by dataset × model (not
noise). The summary gives, per model × method × metric, the mean over the images where the
metric is finite and a percentile bootstrap interval that resamples images, with one set of
resampling weights per model shared by all methods and metrics (paired intervals, as in the
robustness table). NaN rows (degenerate maps; with `nan_when_prediction_changes`, images whose
class changed) and infinite rows (a zero map that changed) are counted, not averaged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from camrobust.metrics.bootstrap import percentile_interval, ratio, resample_counts
from camrobust.quality.faithfulness import FAITHFULNESS_METRICS, FaithfulnessResult
from camrobust.quality.sensitivity import SENSITIVITY_METRICS, SensitivityResult
from camrobust.seeding import numpy_rng

QUALITY_KEYS: tuple[str, ...] = ("dataset", "model", "arch", "regularizer")
SUMMARY_COLUMNS: tuple[str, ...] = (
    *QUALITY_KEYS,
    "method",
    "metric",
    "n_images",
    "n_nan",
    "n_infinite",
    "mean",
    "mean_lo",
    "mean_hi",
)


def quality_per_image(
    keys: Mapping[str, str],
    sens: SensitivityResult | None = None,
    faith: FaithfulnessResult | None = None,
) -> pd.DataFrame:
    """One row per image × method: `keys`, the sensitivity and/or faithfulness metrics, flags."""
    missing = [k for k in QUALITY_KEYS if k not in keys]
    if missing:
        raise ValueError(f"quality table keys lack {missing}")
    if sens is None and faith is None:
        raise ValueError("quality table: neither sensitivity nor faithfulness results given")
    sources = [r for r in (sens, faith) if r is not None]
    methods = list(sources[0].scores)
    if any(list(r.scores) != methods for r in sources):
        raise ValueError("sensitivity and faithfulness results cover different methods")
    frames = []
    for method in methods:
        cols: dict[str, object] = {}
        if sens is not None:
            cols["n_changed"] = sens.n_changed
            cols.update(sens.scores[method])
        if faith is not None:
            cols["degenerate"] = faith.degenerate[method]
            cols.update(faith.scores[method])
        frame = pd.DataFrame(cols)
        frame.insert(0, "image", np.arange(len(frame)))
        frame.insert(0, "method", method)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for i, key in enumerate(QUALITY_KEYS):
        table.insert(i, key, str(keys[key]))
    return table


def summarize_quality(
    table: pd.DataFrame, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per model × method × metric: counts, mean over finite rows and its bootstrap interval
    (NaN bounds with `n_boot` 0)."""
    metrics = [m for m in (*SENSITIVITY_METRICS, *FAITHFULNESS_METRICS) if m in table.columns]
    if not metrics or "image" not in table.columns or "method" not in table.columns:
        raise ValueError("quality table needs image, method and at least one metric column")
    rows = []
    for key, group in table.groupby(list(QUALITY_KEYS), sort=True):
        images = np.sort(group["image"].unique())
        # bootstrap 0: no intervals (NaN bounds), as in the robustness table
        counts = (
            resample_counts(len(images), n_boot, numpy_rng(seed, "quality", *key))
            if n_boot
            else np.full((1, len(images)), np.nan)
        )
        for method, part in group.groupby("method", sort=False):
            part = part.set_index("image").reindex(images)
            for metric in metrics:
                values = part[metric].to_numpy(dtype=np.float64)
                finite = np.isfinite(values)
                kept = np.where(finite, values, 0.0)
                mean = ratio(kept.sum(), finite.sum())
                lo, hi = percentile_interval(ratio(counts @ kept, counts @ finite), ci)
                rows.append(
                    (*key, method, metric, len(images), int(np.isnan(values).sum()),
                     int(np.isinf(values).sum()), float(mean), float(lo), float(hi))
                )  # fmt: skip
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
