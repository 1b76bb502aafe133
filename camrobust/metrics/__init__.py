"""The CAM robustness metric (docs/metric.md): similarities, per-image table, aggregation."""

from camrobust.metrics.auroc import auroc
from camrobust.metrics.masks import mask_energy, pointing_hit
from camrobust.metrics.measures import MEASURES, similarity, validate_measures
from camrobust.metrics.robustness import OUTPUT_COLUMNS, aggregate
from camrobust.metrics.table import KEY_COLUMNS, MASK_COLUMNS, ROW_COLUMNS, per_image_table

__all__ = [
    "KEY_COLUMNS",
    "MASK_COLUMNS",
    "MEASURES",
    "OUTPUT_COLUMNS",
    "ROW_COLUMNS",
    "aggregate",
    "auroc",
    "mask_energy",
    "per_image_table",
    "pointing_hit",
    "similarity",
    "validate_measures",
]
