"""A report figure by name: its builder (in the module of its registry spec) draws it from its
input tables, and it is written as a PNG; for rule `figure` (scripts/figure.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module
from typing import Any

import pandas as pd

from camrobust.report.png import save_png
from camrobust.report.registry import figure_spec


def builder(name: str) -> Callable[..., Any]:
    """The function drawing figure `name` (imports its module, matplotlib, only when called)."""
    return getattr(import_module(figure_spec(name).module), f"build_{name}")


def read_table(path: str | os.PathLike, dataset: str) -> pd.DataFrame:
    """A figure's input table (CSV or Parquet), levels as text, only the rows of `dataset`."""
    table = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    table = table.astype({"level": str}) if "level" in table else table
    return table[table["dataset"] == dataset] if "dataset" in table else table


def write_figure(
    name: str,
    table: pd.DataFrame,
    path: str | os.PathLike,
    params: dict,
    extra: pd.DataFrame | None = None,
) -> None:
    """Draw figure `name` from its input `table` (and `extra`, its second table if it has one)
    and write it to `path` at `params["dpi"]`.

    `params` are the figure's config keys (`Plan.report.figure_params`): `dpi`, and `measure` for
    the figures that use one.
    """
    spec = figure_spec(name)
    if (extra is None) != (spec.extra is None):
        raise ValueError(f"figure {name!r} draws from {spec.table} and {spec.extra or 'nothing'}")
    tables = (table,) if extra is None else (table, extra)
    build = builder(name)
    fig = build(*tables, params["measure"]) if spec.uses_measure else build(*tables)
    save_png(fig, path, params["dpi"])
