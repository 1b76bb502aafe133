"""Explanation quality beside robustness: Quantus' sensitivity metrics and faithfulness metrics."""

from camrobust.quality.sensitivity import SENSITIVITY_METRICS, SensitivityResult, sensitivity

__all__ = ["SENSITIVITY_METRICS", "SensitivityResult", "sensitivity"]
