"""Checks on the pandas tables the stages hand each other (torch-free, for the stats jobs too)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """ValueError naming every one of `columns` that `df` lacks ("`what` lacks columns: a, b")."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns: {', '.join(missing)}")


def levels_pooled(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a regulariser-comparison table (columns COMPARISON_KEYS and level) that
    speak for all levels of their comparison: level "all" where it has one, else the rows of a
    comparison with a single level (a noise with one level, FGSM at one ε, has no pooled row:
    its level is the whole)."""
    from camrobust.columns import COMPARISON_KEYS, POOLED_LEVEL

    level = df["level"].astype(str)
    keys = [df[c].astype(str) for c in COMPARISON_KEYS]
    has_pooled = (level == POOLED_LEVEL).groupby(keys, dropna=False).transform("any").astype(bool)
    n_levels = level.groupby(keys, dropna=False).transform("nunique").astype(int)
    return df[(level == POOLED_LEVEL) | (~has_pooled & (n_levels == 1))]


def explaining_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the methods that explain, each distinct map once: no placebo (`placebo`), and
    no method whose maps repeat another's (`same_as`) on any model of the table, so every model
    averages the same methods. A table without the columns is returned whole."""
    keep = df["method"].notna()
    if "placebo" in df:
        keep &= df["placebo"].astype(str).str.lower() != "true"
    if "same_as" in df:
        twins = df.loc[df["same_as"].fillna("").astype(str) != "", "method"].unique()
        keep &= ~df["method"].isin(twins)
    return df[keep]
