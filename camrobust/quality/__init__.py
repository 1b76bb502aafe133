"""Explanation quality beside robustness: Quantus' sensitivity metrics and faithfulness metrics."""

from camrobust.quality.faithfulness import (
    FAITHFULNESS_METRICS,
    ROAD_PERCENTILES,
    FaithfulnessResult,
    faithfulness,
)
from camrobust.quality.sensitivity import SENSITIVITY_METRICS, SensitivityResult, sensitivity
from camrobust.quality.stage import evaluate_quality
from camrobust.quality.table import quality_per_image, summarize_quality

__all__ = [
    "FAITHFULNESS_METRICS",
    "ROAD_PERCENTILES",
    "SENSITIVITY_METRICS",
    "FaithfulnessResult",
    "SensitivityResult",
    "evaluate_quality",
    "faithfulness",
    "quality_per_image",
    "sensitivity",
    "summarize_quality",
]
