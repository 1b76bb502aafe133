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
#: the per-image column each family always sets: a row without it was not measured by the family
FAMILY_FLAGS = {"sensitivity": "n_changed", "faithfulness": "degenerate"}
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
        # One frame per family: they may measure different numbers of (the first) images.
        parts = []
        if sens is not None:
            parts.append(
                _family_frame(FAMILY_FLAGS["sensitivity"], sens.n_changed, sens.scores[method])
            )
        if faith is not None:
            flag = faith.degenerate[method]
            parts.append(_family_frame(FAMILY_FLAGS["faithfulness"], flag, faith.scores[method]))
        frame = parts[0]
        for part in parts[1:]:
            frame = frame.merge(part, on="image", how="outer", sort=True)
        frame.insert(0, "method", method)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for i, key in enumerate(QUALITY_KEYS):
        table.insert(i, key, str(keys[key]))
    return table


def _family_frame(flag: str, flags: np.ndarray, scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One family's rows of one method: image, its flag column (nullable), its metrics."""
    dtype = "Int64" if flag == "n_changed" else "boolean"
    frame = pd.DataFrame({flag: pd.array(flags, dtype=dtype), **scores})
    frame.insert(0, "image", np.arange(len(frame)))
    return frame


def measured(table: pd.DataFrame, metric: str) -> np.ndarray:
    """Rows where `metric`'s family was measured (its flag column set; every row without one)."""
    family = "sensitivity" if metric in SENSITIVITY_METRICS else "faithfulness"
    flag = FAMILY_FLAGS[family]
    if flag not in table.columns:
        return np.ones(len(table), dtype=bool)
    return table[flag].notna().to_numpy()


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
        for metric in metrics:
            sub = group[measured(group, metric)]
            images = np.sort(sub["image"].unique())
            # The same seed for every metric: metrics measured on the same images share the
            # resamples (paired intervals); bootstrap 0: no intervals (NaN bounds).
            counts = (
                resample_counts(len(images), n_boot, numpy_rng(seed, "quality", *key))
                if n_boot
                else np.full((1, len(images)), np.nan)
            )
            for method, part in sub.groupby("method", sort=True):
                part = part.set_index("image").reindex(images)
                values = part[metric].to_numpy(dtype=np.float64)
                finite = np.isfinite(values)
                kept = np.where(finite, values, 0.0)
                mean = ratio(kept.sum(), finite.sum())
                lo, hi = percentile_interval(ratio(counts @ kept, counts @ finite), ci)
                rows.append(
                    (*key, method, metric, len(images), int(np.isnan(values).sum()),
                     int(np.isinf(values).sum()), float(mean), float(lo), float(hi))
                )  # fmt: skip
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    # rows by model, method, then metric in the metrics' order
    order = {m: i for i, m in enumerate(metrics)}
    return summary.sort_values(
        [*QUALITY_KEYS, "method", "metric"], key=lambda c: c.map(order) if c.name == "metric" else c
    ).reset_index(drop=True)
