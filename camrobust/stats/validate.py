"""Input checks for the stats stage: a clear one-line error instead of a silent NaN."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from camrobust.columns import PER_IMAGE_COLUMNS
from camrobust.frames import require_columns


def prepare_table(per_image: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    """The per-image table checked once for the stats stage: `kept` as bool, levels as strings.

    Needs the per-image columns and every measure; each model (the unit of the regulariser
    tests) must belong to one architecture and one regulariser. A `seed` column is not needed:
    a model is identified by its name, so a table from a single-seed run has one model per
    architecture and regulariser.
    """
    if not isinstance(per_image, pd.DataFrame):
        raise TypeError(f"per_image must be a pandas DataFrame, got {type(per_image).__name__}")
    require_columns(per_image, [*PER_IMAGE_COLUMNS, *measures], "per-image table")
    if per_image.empty:
        raise ValueError("per-image table is empty")
    for m in measures:
        if not pd.api.types.is_numeric_dtype(per_image[m]):
            raise ValueError(f"similarity column {m!r} is not numeric ({per_image[m].dtype})")
    kept = per_image["kept"]
    if not pd.api.types.is_bool_dtype(kept):
        values = set(pd.unique(kept.dropna()))
        if kept.isna().any() or not values <= {0, 1}:
            raise ValueError("column 'kept' must be boolean (or 0/1) without missing values")
    ambiguous = (
        per_image.groupby(["dataset", "model"], observed=True)[["arch", "regularizer"]].nunique()
        > 1
    ).any(axis=1)
    if ambiguous.any():
        dataset, model = ambiguous[ambiguous].index[0]
        raise ValueError(
            f"per-image table: model {model!r} ({dataset}) has several architectures or "
            "regularizers"
        )
    level = per_image["level"].astype(str)
    if (level == "all").any():
        raise ValueError("per-image table uses the reserved level name 'all' (pooled rows)")
    return per_image.assign(kept=kept.astype(bool), level=level)


def numeric_levels(levels: pd.Series) -> pd.Series:
    """Levels as floats ("1", "0.0157" ...); raise naming the first level that is not a number."""
    out = pd.to_numeric(levels.astype(str), errors="coerce")
    bad = levels[out.isna() | ~np.isfinite(out)]
    if len(bad):
        raise ValueError(f"level {bad.iloc[0]!r} is not a finite number")
    return out.astype(float)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Freeze the heap meanwhile: multipletests' Holm branch runs gc.collect() on every call,
    which scans every live object (slow with pandas and scipy loaded); frozen objects are
    skipped, so thousands of strata stay fast. Results are unchanged."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def adjust(p_values: Sequence[float], correction: str, alpha: float) -> np.ndarray:
    """Adjusted p-values by multipletests over the finite entries; NaN stays NaN."""
    # statsmodels (and scipy with it) loads here, not with the module: the figures read this
    # module's level checks and need neither.
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        with _frozen_heap():
            out[ok] = multipletests(p[ok], alpha=alpha, method=correction)[1]
    return out
