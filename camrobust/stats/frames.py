"""Shared plumbing of the test families: strata iteration, wide tables, and the final frame."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from camrobust.stats.core import ROW_COLUMNS
from camrobust.stats.validate import adjust


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
    sub: pd.DataFrame, index: Sequence[str], column: str, measure: str, where: str
) -> tuple[pd.DataFrame, int]:
    """Kept-pair similarity as blocks × groups, complete blocks only; also the NaN count dropped."""
    groups = sorted(sub[column].astype(str).unique())
    kept = sub[sub["kept"].to_numpy()]
    values = kept[measure].to_numpy(dtype=float)
    group_of = pd.Categorical(kept[column].astype(str), categories=groups).codes
    block_codes, blocks = pd.factorize(_codes(kept, index))
    cell = block_codes.astype(np.int64) * len(groups) + group_of
    if len(np.unique(cell)) < len(cell):
        first = kept.iloc[int(np.flatnonzero(pd.Series(cell).duplicated().to_numpy())[0])]
        ident = ", ".join(f"{c}={first[c]}" for c in (*index, column))
        raise ValueError(f"duplicate per-image rows in {where}: {ident}")
    grid = np.full((len(blocks), len(groups)), np.nan)
    grid[block_codes, group_of] = values
    complete = ~np.isnan(grid).any(axis=1)
    return pd.DataFrame(grid[complete], columns=groups), int(np.isnan(values).sum())


def nan_note(n_nan: int) -> str:
    """The note for similarity values that were NaN and left out (never silently)."""
    return f"{n_nan} NaN similarities excluded" if n_nan else ""


def join_notes(*notes: str) -> str:
    """Join non-empty notes with '; '."""
    return "; ".join(n for n in notes if n)


def label(stratum: dict) -> str:
    """A short text naming a stratum, for error messages."""
    return ", ".join(f"{k}={v}" for k, v in stratum.items())


def finish(
    records: Iterable[dict],
    strata_columns: Sequence[str],
    *,
    across_strata: Iterable[str],
    correction: str,
    alpha: float,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """The result frame; tests named in `across_strata` are adjusted across strata per measure.

    Pairwise tests were already adjusted within their stratum (one family per omnibus test).
    """
    columns = [*strata_columns, *ROW_COLUMNS, *extra_columns]
    df = pd.DataFrame.from_records(list(records), columns=columns)
    across = df["test"].isin(list(across_strata))
    for _, idx in df[across].groupby("measure", sort=False).groups.items():
        df.loc[idx, "p_adjusted"] = adjust(df.loc[idx, "p_value"].to_numpy(), correction, alpha)
    df["p_adjusted"] = df["p_adjusted"].astype(float)
    sig = pd.array(df["p_adjusted"].to_numpy() < alpha, dtype="boolean")
    sig[~np.isfinite(df["p_adjusted"].to_numpy())] = pd.NA
    df["significant"] = sig
    df["n"] = df["n"].astype(int)
    for c in strata_columns:
        df[c] = df[c].astype(str)
    return df


def log_rows(log: logging.Logger, name: str, out: pd.DataFrame) -> pd.DataFrame:
    """Log how many rows a test family gave and how many carry a note; return the frame."""
    log.info("%s: %d rows, %d with a note", name, len(out), (out["note"] != "").sum())
    return out
