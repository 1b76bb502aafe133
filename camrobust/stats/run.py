"""All statistical test families of the stats stage in one call, one frame per results CSV."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from camrobust.names import STATS_TABLES
from camrobust.stats.families import flip_tests, method_ranks, method_tests, noise_tests
from camrobust.stats.mixed import mixedlm_tests
from camrobust.stats.models import regularizer_model_tests
from camrobust.stats.options import stats_options
from camrobust.stats.validate import prepare_table

# The function of each results table (names.STATS_TABLES, in the order the stats rule writes them).
FAMILIES = dict(
    zip(
        STATS_TABLES,
        (
            method_tests,
            method_ranks,
            regularizer_model_tests,
            mixedlm_tests,
            flip_tests,
            noise_tests,
        ),
        strict=True,
    )
)


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
    frames = {
        name: family(table if name == "regularizers" else informative, options, progress)
        for name, family in FAMILIES.items()
    }
    return {name: mark_placebos(frame, table) for name, frame in frames.items()}


def mark_placebos(frame: pd.DataFrame, per_image: pd.DataFrame) -> pd.DataFrame:
    """A results table with the per-image table's `placebo` marker: `placebo` after a `method`
    column, `placebo_a` and `placebo_b` after the compared methods' `group_b`. Unchanged where
    the per-image table has no marker, or the frame has it already (method_ranks)."""
    if "placebo" not in per_image or "placebo" in frame:
        return frame
    flags = per_image.groupby("method")["placebo"].first().astype(bool)
    out = frame.copy()
    if "method" in out:
        at = out.columns.get_loc("method") + 1
        out.insert(at, "placebo", out["method"].map(flags).fillna(False).astype(bool))
    elif {"factor", "group_a", "group_b"} <= set(out) and (out["factor"] == "method").any():
        at = out.columns.get_loc("group_b") + 1
        for offset, side in enumerate(("group_a", "group_b")):
            # empty for the omnibus rows, which compare no pair
            out.insert(at + offset, f"placebo_{side[-1]}", out[side].map(flags))
    return out
