"""The CAM robustness metric: similarities, the per-image table, C/R/H/RM (docs/metric.md)."""

from camrobust.metrics.auroc import auroc
from camrobust.metrics.masks import mask_energy, pointing_hit
from camrobust.metrics.measures import MEASURES, REGION_MEASURES, similarity, validate_measures
from camrobust.metrics.pair import robustness_scores
from camrobust.metrics.rbo import REGION_SCORES, Regions, make_regions, rbo
from camrobust.metrics.robustness import OUTPUT_COLUMNS, aggregate
from camrobust.metrics.table import KEY_COLUMNS, MASK_COLUMNS, ROW_COLUMNS, per_image_table

__all__ = [
    "KEY_COLUMNS",
    "MASK_COLUMNS",
    "MEASURES",
    "OUTPUT_COLUMNS",
    "REGION_MEASURES",
    "REGION_SCORES",
    "ROW_COLUMNS",
    "Regions",
    "aggregate",
    "auroc",
    "make_regions",
    "mask_energy",
    "per_image_table",
    "pointing_hit",
    "rbo",
    "robustness_scores",
    "similarity",
    "validate_measures",
]
