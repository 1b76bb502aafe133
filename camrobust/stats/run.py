"""All statistical test families of the stats stage in one call, one frame per results CSV."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from camrobust.stats.families import (
    flip_tests,
    method_ranks,
    method_tests,
    noise_tests,
    regularizer_tests,
)
from camrobust.stats.mixed import mixedlm_tests
from camrobust.stats.validate import check_options


def run_stats(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    progress: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables of docs/metric.md: methods, method_ranks, regularizers, mixedlm, flips, noise."""
    check_options(alpha, correction, min_pairs)
    kw = {"measures": measures, "alpha": alpha, "min_pairs": min_pairs, "progress": progress}
    return {
        "methods": method_tests(per_image, correction=correction, **kw),
        "method_ranks": method_ranks(per_image, **kw),
        "regularizers": regularizer_tests(per_image, correction=correction, **kw),
        "mixedlm": mixedlm_tests(per_image, correction=correction, **kw),
        "flips": flip_tests(per_image, correction=correction, **kw),
        "noise": noise_tests(per_image, correction=correction, **kw),
    }
