"""Statistical tests of CAM robustness (docs/metric.md): which methods, regularisers are stable."""

from camrobust.stats.families import (
    flip_tests,
    method_ranks,
    method_tests,
    noise_tests,
    regularizer_tests,
)
from camrobust.stats.mixed import mixedlm_tests
from camrobust.stats.run import run_stats

__all__ = [
    "flip_tests",
    "method_ranks",
    "method_tests",
    "mixedlm_tests",
    "noise_tests",
    "regularizer_tests",
    "run_stats",
]
