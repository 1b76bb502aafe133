"""Statistical tests of CAM robustness (docs/metric.md, "Statistics"): methods, regularisers.

The tests load on first use: the report's figures and the CAM grids read light modules of this
package (its endpoints, its level checks) and should not pay for importing scipy and statsmodels.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from camrobust.stats.families import flip_tests, method_ranks, method_tests, noise_tests
    from camrobust.stats.mixed import mixedlm_tests
    from camrobust.stats.models import regularizer_model_tests
    from camrobust.stats.options import StatsOptions, stats_options
    from camrobust.stats.run import run_stats
    from camrobust.stats.validate import prepare_table

_LAZY = {
    "StatsOptions": "options",
    "flip_tests": "families",
    "method_ranks": "families",
    "method_tests": "families",
    "mixedlm_tests": "mixed",
    "noise_tests": "families",
    "prepare_table": "validate",
    "regularizer_model_tests": "models",
    "run_stats": "run",
    "stats_options": "options",
}
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


def __getattr__(name: str) -> Any:
    """Load a test's module on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"camrobust.stats.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
