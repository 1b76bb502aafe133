"""Shared plumbing of the test families: strata iteration, wide tables, and the final frame."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from camrobust.columns import POOLED_LEVEL
from camrobust.stats.core import ROW_COLUMNS
from camrobust.stats.options import StatsOptions
from camrobust.stats.validate import adjust

# The level name of rows that pool every level of a stratum (as in the robustness table).
POOLED = POOLED_LEVEL


def strata(
    df: pd.DataFrame, keys: Sequence[str], desc: str, progress: bool | None
) -> Iterator[tuple[dict, pd.DataFrame]]:
    """Yield ({key: value}, rows) per stratum, sorted, with a progress bar on a terminal."""
    groups = df.groupby(list(keys), sort=True, observed=True, dropna=False)
    bar = tqdm(
        groups, total=groups.ngroups, desc=desc, disable=None if progress is None else not progress
    )
    for key, sub in bar:
        yield dict(zip(keys, key, strict=True)), sub


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One integer code per distinct combination of `columns` (a fast multi-column factorize)."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for c in columns:
        part, uniques = pd.factorize(frame[c])
        codes = codes * max(len(uniques), 1) + part
    return codes


def wide_blocks(
    sub: pd.DataFrame,
    column: str,
    measure: str,
    where: str,
    average_over: Sequence[str] = (),
    kept_only: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Kept-pair similarity as images × groups of `column`, complete blocks only; also NaNs dropped.

    With `average_over` (e.g. level), an image's kept values are first averaged over those columns,
    so each image is one block however many levels it was kept at (an image is the unit).
    `kept_only` False takes every row (tables of clean images have no kept/flipped pairs).
    """
    groups = sorted(sub[column].astype(str).unique())
    kept = sub[sub["kept"].to_numpy()] if kept_only else sub
    cell_columns = ("image", *average_over, column)
    cell = _codes(kept, cell_columns)
    if len(np.unique(cell)) < len(cell):
        first = kept.iloc[int(np.flatnonzero(pd.Series(cell).duplicated().to_numpy())[0])]
        ident = ", ".join(f"{c}={first[c]}" for c in cell_columns)
        raise ValueError(f"duplicate per-image rows in {where}: {ident}")
    values = kept[measure].to_numpy(dtype=float)
    finite = ~np.isnan(values)
    group_of = pd.Categorical(kept[column].astype(str), categories=groups).codes[finite]
    block_codes, blocks = pd.factorize(kept["image"].to_numpy()[finite])
    shape = (len(blocks), len(groups))
    total = np.zeros(shape)
    count = np.zeros(shape)
    np.add.at(total, (block_codes, group_of), values[finite])
    np.add.at(count, (block_codes, group_of), 1.0)
    complete = (count > 0).all(axis=1)
    grid = total[complete] / count[complete]
    return pd.DataFrame(grid, columns=groups), int((~finite).sum())


def nan_note(n_nan: int) -> str:
    """The note for similarity values that were NaN or degenerate and left out (never silently;
    run.informative_only makes a degenerate pair's similarity NaN)."""
    return f"{n_nan} NaN or degenerate similarities excluded" if n_nan else ""


def join_notes(*notes: str) -> str:
    """Join non-empty notes with '; '."""
    return "; ".join(n for n in notes if n)


def label(stratum: dict) -> str:
    """A short text naming a stratum, for error messages."""
    return ", ".join(f"{k}={v}" for k, v in stratum.items())


def tag_families(rows: list[dict], head: dict) -> list[dict]:
    """Rows with `head` (their stratum) and their correction family made explicit.

    "omnibus" rows form one family per measure across strata; any other family name ("pairwise",
    "terms") is one family per stratum; None is not corrected.
    """
    out = []
    for r in rows:
        kind = r["family"]
        if kind == "omnibus":
            family = (kind, head["measure"])
        elif kind is not None:
            family = (kind, tuple(sorted(head.items())))
        else:
            family = None
        out.append({**head, **r, "family": family})
    return out


def finish(
    records: Iterable[dict],
    strata_columns: Sequence[str],
    options: StatsOptions,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """The result frame, p-values adjusted by the options' correction within the scope chosen.

    Each record names its correction family in `family` (None: not tested, e.g. an intercept).
    Scope `stratum` adjusts each family alone; `study` adjusts every tested row of the table
    together. The correction and its scope are written in every row.
    """
    columns = [*strata_columns, *ROW_COLUMNS, *extra_columns]
    records = list(records)
    families = [r.get("family") for r in records]
    df = pd.DataFrame.from_records(records, columns=columns)
    p = df["p_value"].to_numpy(dtype=float)
    p_adjusted = np.full(len(df), np.nan)
    tested = np.array([f is not None for f in families], dtype=bool)
    if options.correction_scope == "study":
        keys = np.where(tested, 0, -1)
    else:
        codes, _ = pd.factorize(pd.Series([repr(f) for f in families]))
        keys = np.where(tested, codes, -1)
    for key in np.unique(keys[keys >= 0]):
        idx = np.flatnonzero(keys == key)
        p_adjusted[idx] = adjust(p[idx], options.correction, options.alpha)
    df["p_adjusted"] = p_adjusted
    sig = pd.array(p_adjusted < options.alpha, dtype="boolean")
    sig[~np.isfinite(p_adjusted)] = pd.NA
    df["significant"] = sig
    df["correction"] = options.correction
    df["correction_scope"] = options.correction_scope
    df["n"] = df["n"].astype(int)
    for c in strata_columns:
        df[c] = df[c].astype(str)
    return df


def log_rows(log: logging.Logger, name: str, out: pd.DataFrame) -> pd.DataFrame:
    """Log how many rows a test family gave and how many carry a note; return the frame."""
    log.info("%s: %d rows, %d with a note", name, len(out), (out["note"] != "").sum())
    return out
