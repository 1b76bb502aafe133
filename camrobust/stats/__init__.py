"""Statistical tests of CAM robustness (docs/metric.md, "Statistics"): methods, regularisers."""

from camrobust.stats.families import flip_tests, method_ranks, method_tests, noise_tests
from camrobust.stats.mixed import mixedlm_tests
from camrobust.stats.models import regularizer_model_tests
from camrobust.stats.options import StatsOptions, stats_options
from camrobust.stats.run import run_stats
from camrobust.stats.validate import prepare_table

__all__ = [
    "StatsOptions",
    "flip_tests",
    "method_ranks",
    "method_tests",
    "mixedlm_tests",
    "noise_tests",
    "prepare_table",
    "regularizer_model_tests",
    "run_stats",
    "stats_options",
]
