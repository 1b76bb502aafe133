"""Paper-style summary table of the robustness scores (and, where measured, a sensitivity and a
faithfulness score), as a DataFrame and as Markdown: the paper's metric RM = C x R over rbo
first, then this project's H = 2CR/(C+R) over the headline measure (`lead_summary`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import pandas as pd

from camrobust.columns import PAPER_MEASURE, POOLED_LEVEL
from camrobust.frames import require_columns

ROBUST_KEYS = ("dataset", "model", "method", "noise", "level", "measure")
MISSING = "n/a"
POOLED = POOLED_LEVEL


def measure_rows(
    robust: pd.DataFrame, measure: str, columns: Sequence[str], pooled: bool = True
) -> pd.DataFrame:
    """Robustness rows of `measure`, levels pooled (level 'all') or per level; raise naming
    what is missing (columns, or rows of that measure)."""
    require_columns(robust, (*ROBUST_KEYS, *columns), "robustness table")
    pooled_rows = robust["level"].astype(str) == POOLED
    rows = robust[(robust["measure"] == measure) & (pooled_rows if pooled else ~pooled_rows)]
    if rows.empty:
        kind = f"pooled (level {POOLED!r})" if pooled else "per-level"
        have = ", ".join(sorted(map(str, robust["measure"].unique())))
        raise ValueError(f"no {kind} rows for measure {measure!r}; measures: {have}")
    return rows


def _number(value: float, decimals: int) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def format_cell(h: float, c: float, r: float, decimals: int = 2) -> str:
    """'H (C/R)', e.g. '0.81 (0.90/0.74)'; an undefined value reads 'n/a'."""
    return f"{_number(h, decimals)} ({_number(c, decimals)}/{_number(r, decimals)})"


def summary_table(
    robust: pd.DataFrame, measure: str, decimals: int = 2, score: str = "robustness"
) -> pd.DataFrame:
    """Rows (dataset, model, CAM method), one column per noise, cells 'H (C/R)' pooled over levels.

    H is the harmonic mean of consistency C and responsiveness R (docs/metric.md); with `score`
    "rm" the cells are 'RM (C/R)', the paper's product. A cell with no row for that noise reads
    'n/a'.
    """
    rows = measure_rows(robust, measure, ("consistency", "responsiveness", score))
    keys = ["dataset", "model", "method", "noise"]
    dup = rows.duplicated(keys)
    if dup.any():
        first = rows.loc[dup, keys].iloc[0]
        raise ValueError(f"duplicate robustness rows for {', '.join(map(str, first))}")
    cells = rows.assign(
        cell=[
            format_cell(h, c, r, decimals)
            for h, c, r in zip(
                rows[score], rows["consistency"], rows["responsiveness"], strict=True
            )
        ]
    )
    noises = sorted(cells["noise"].astype(str).unique())
    table = (
        cells.assign(noise=cells["noise"].astype(str))
        .pivot(index=["dataset", "model", "method"], columns="noise", values="cell")
        .reindex(columns=noises)
        .fillna(MISSING)
        .sort_index()
        .reset_index()
    )
    table.columns.name = None
    return table


def lead_summary(robust: pd.DataFrame, measure: str, decimals: int = 2) -> pd.DataFrame:
    """The summary with the paper's metric first: a column 'RM rbo <noise>' per noise (cells
    'RM (C/R)' over rbo, when rbo was measured), then 'H <measure> <noise>' (this project's H
    over the headline measure `measure`)."""
    keys = ["dataset", "model", "method"]
    parts = []
    if PAPER_MEASURE in set(robust["measure"].astype(str)):
        paper = summary_table(robust, PAPER_MEASURE, decimals, score="rm")
        parts.append(paper.set_index(keys).add_prefix(f"RM {PAPER_MEASURE} "))
    extension = summary_table(robust, measure, decimals)
    parts.append(extension.set_index(keys).add_prefix(f"H {measure} "))
    return pd.concat(parts, axis=1).fillna(MISSING).reset_index()


def summary_caption(table: pd.DataFrame, measure: str) -> str:
    """The Markdown lines above the summary: which columns are the paper's, which this project's."""
    paper = any(str(c).startswith(f"RM {PAPER_MEASURE} ") for c in table.columns)
    first = (
        f"RM {PAPER_MEASURE} columns: the paper's metric, RM = C x R with C and R over "
        f"{PAPER_MEASURE} (rank-biased overlap of the maps' rankings of image regions)"
        if paper
        else f"The paper's metric (RM = C x R over {PAPER_MEASURE}) was not computed: "
        f"{PAPER_MEASURE} is not in metrics.measures"
    )
    return (
        f"{first}; H {measure} columns: this project's extension, H = 2CR/(C+R) over "
        f"{measure}. Cells: score (C/R), levels pooled.\n"
    )


def with_method_notes(summary: pd.DataFrame, robust: pd.DataFrame) -> pd.DataFrame:
    """The summary with the robustness table's `placebo` and `same_as` per (dataset, model,
    method) after its `method` column (docs/metric.md); unchanged for a table without them."""
    keys = ["dataset", "model", "method"]
    notes = [c for c in ("placebo", "same_as") if c in robust]
    if not notes:
        return summary
    per_method = robust.drop_duplicates(keys).set_index(keys)[notes]
    rows = per_method.reindex(pd.MultiIndex.from_frame(summary[keys]))
    out = summary.copy()
    for offset, column in enumerate(notes, start=1):
        values = rows[column].to_numpy()
        if column == "same_as":  # empty cells come back from CSV as NaN
            values = rows[column].fillna("").astype(str).to_numpy()
        out.insert(out.columns.get_loc("method") + offset, column, values)
    return out


#: the quality metrics the summary shows beside H: one sensitivity, one faithfulness score
SUMMARY_QUALITY = ("avg_sensitivity", "road_combined")


def with_quality(summary: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """The summary with a column per metric of SUMMARY_QUALITY in the quality table: its mean
    over the clean images (3 significant digits) per (dataset, model, method), 'n/a' if none."""
    require_columns(quality, ("dataset", "model", "method", "metric", "mean"), "quality table")
    keys = ["dataset", "model", "method"]
    out = summary.copy()
    for metric in SUMMARY_QUALITY:
        rows = quality[quality["metric"] == metric]
        if rows.empty:
            continue  # its family is switched off
        means = rows.set_index(keys)["mean"]
        values = means.reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy(dtype=float)
        out[metric] = [MISSING if not math.isfinite(v) else f"{v:.3g}" for v in values]
    return out


def _cell(value: object) -> str:
    """One Markdown cell: floats to 4 significant digits, NaN empty, pipes escaped."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `df` (a named or non-default index becomes columns)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"to_markdown needs a DataFrame, got {type(df).__name__}")
    if not isinstance(df.index, pd.RangeIndex) or any(n is not None for n in df.index.names):
        df = df.reset_index()
    header = [_cell(c) for c in df.columns]
    align = [
        "---:"
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        else "---"
        for c in df.columns
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in df.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
