"""Explanation quality beside robustness: Quantus' sensitivity metrics and faithfulness metrics."""

from camrobust.quality.faithfulness import (
    FAITHFULNESS_METRICS,
    ROAD_PERCENTILES,
    FaithfulnessResult,
    faithfulness,
)
from camrobust.quality.sensitivity import SENSITIVITY_METRICS, SensitivityResult, sensitivity

__all__ = [
    "FAITHFULNESS_METRICS",
    "ROAD_PERCENTILES",
    "SENSITIVITY_METRICS",
    "FaithfulnessResult",
    "SensitivityResult",
    "faithfulness",
    "sensitivity",
]
