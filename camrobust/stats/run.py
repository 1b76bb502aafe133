"""All statistical test families of the stats stage in one call, one frame per results CSV."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from camrobust.stats.families import flip_tests, method_ranks, method_tests, noise_tests
from camrobust.stats.mixed import mixedlm_tests
from camrobust.stats.models import regularizer_model_tests
from camrobust.stats.options import stats_options
from camrobust.stats.validate import prepare_table

# The results tables, in the order the stats rule writes them (rules/common.smk STATS_TABLES).
FAMILIES = {
    "methods": method_tests,
    "method_ranks": method_ranks,
    "regularizers": regularizer_model_tests,
    "mixedlm": mixedlm_tests,
    "flips": flip_tests,
    "noise": noise_tests,
}


def informative_only(table: pd.DataFrame, measures: tuple[str, ...]) -> pd.DataFrame:
    """`table` with the similarities of degenerate pairs (a constant map: two empty maps score
    1 on every measure) set to NaN, so every test leaves them out and its note counts them; the
    per-image table keeps them. The regulariser tests exclude them themselves (`n_excluded`)."""
    if "degenerate" not in table:
        return table
    degenerate = table["degenerate"].to_numpy(dtype=bool)
    return table.assign(**{m: table[m].where(~degenerate) for m in measures})


def run_stats(
    per_image: pd.DataFrame, config: Mapping[str, object], progress: bool | None = None
) -> dict[str, pd.DataFrame]:
    """Every family on the per-image table; `config` is the `stats:` section, checked here once."""
    options = stats_options(config)
    table = prepare_table(per_image, options.measures)
    informative = informative_only(table, options.measures)
    return {
        name: family(table if name == "regularizers" else informative, options, progress)
        for name, family in FAMILIES.items()
    }
