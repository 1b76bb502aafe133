"""Do two runs reach the same regulariser conclusions? Compare their model-level tables.

Two runs of one config that differ only in the global seed train other networks (other
initial weights, batches and noise draws). A conclusion the workflow prints, "vat changes the
consistency of gradcam under gaussian noise", is replicated when the second run finds the same
direction. Per comparison (dataset, architecture, method, noise, level, measure, regulariser vs
reference) each run says higher, lower or not significant (after its correction); the summary
counts significant in both with the same sign, with opposite signs, and in one run only.

    python -m camrobust.stats.replication runA/results/stats/regularizers.csv \\
        runB/results/stats/regularizers.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from camrobust.columns import COMPARISON_KEYS
from camrobust.frames import levels_pooled, require_columns

KEYS = (*COMPARISON_KEYS, "level")
SUMMARY_COLUMNS = (
    "rows", "comparisons", "significant_a", "significant_b", "both_same_sign",
    "both_opposite_sign", "a_only", "b_only", "agreement", "effect_correlation",
)  # fmt: skip


def _direction(table: pd.DataFrame) -> pd.Series:
    """+1 / -1 for a significant higher / lower effect, 0 otherwise, indexed by KEYS."""
    significant = table["significant"].astype(str) == "True"
    sign = np.sign(table["effect_size"].to_numpy(dtype=float))
    return pd.Series(np.where(significant, sign, 0).astype(int), index=table.index)


def replication(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """One summary row for the levels-pooled rows ("pooled"; a noise of one level: that level's
    rows) and one for every row ("all").

    `agreement` is the fraction of the comparisons significant in either run that are
    significant in both with the same sign (1.0: every conclusion replicated); NaN when neither
    run found any, which the counts show. `effect_correlation` is Pearson's r of the two
    runs' estimates over the comparisons both estimated.
    """
    for name, table in (("first", first), ("second", second)):
        require_columns(table, (*KEYS, "effect_size", "significant"), f"{name} table")
        if table.duplicated(list(KEYS)).any():
            raise ValueError(f"{name} table has several rows per comparison ({', '.join(KEYS)})")
    a = first.set_index(list(KEYS))
    b = second.set_index(list(KEYS))
    joined = pd.DataFrame(
        {
            "dir_a": _direction(a),
            "dir_b": _direction(b),
            "effect_a": a["effect_size"].astype(float),
            "effect_b": b["effect_size"].astype(float),
        }
    ).dropna(subset=["dir_a", "dir_b"])
    missing = len(a) + len(b) - 2 * len(joined)
    if missing:
        raise ValueError(f"the tables differ in {missing} comparisons: not runs of one design")
    records = []
    pooled = levels_pooled(joined.reset_index()).set_index(list(KEYS))
    for rows, part in (("pooled", pooled), ("all", joined)):
        da, db = part["dir_a"].astype(int), part["dir_b"].astype(int)
        either = (da != 0) | (db != 0)
        same = (da != 0) & (da == db)
        finite = part[["effect_a", "effect_b"]].dropna()
        records.append(
            {
                "rows": rows,
                "comparisons": len(part),
                "significant_a": int((da != 0).sum()),
                "significant_b": int((db != 0).sum()),
                "both_same_sign": int(same.sum()),
                "both_opposite_sign": int(((da * db) < 0).sum()),
                "a_only": int(((da != 0) & (db == 0)).sum()),
                "b_only": int(((da == 0) & (db != 0)).sum()),
                "agreement": float(same.sum() / either.sum()) if either.any() else np.nan,
                "effect_correlation": (
                    float(np.corrcoef(finite["effect_a"], finite["effect_b"])[0, 1])
                    if len(finite) > 2
                    else np.nan
                ),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="regularizers.csv of one run")
    parser.add_argument("second", help="regularizers.csv of a run with another global seed")
    args = parser.parse_args(argv)
    try:
        summary = replication(pd.read_csv(args.first), pd.read_csv(args.second))
    except (OSError, ValueError) as err:
        print(f"replication: {err}", file=sys.stderr)
        return 1
    print(summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
