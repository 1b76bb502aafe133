"""Input checks for the stats stage: a clear one-line error instead of a silent NaN."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from camrobust.columns import PER_IMAGE_COLUMNS

# Method names statsmodels' multipletests accepts: canonical name -> its aliases.
CORRECTIONS = {
    "bonferroni": ("b", "bonf"),
    "sidak": ("s",),
    "holm": ("h",),
    "holm-sidak": ("hs",),
    "simes-hochberg": ("sh",),
    "hommel": ("ho",),
    "fdr_bh": ("fdr_i", "fdr_p", "fdri", "fdrp"),
    "fdr_by": ("fdr_n", "fdr_c", "fdrn", "fdrcorr"),
    "fdr_tsbh": ("fdr_2sbh",),
    "fdr_tsbky": ("fdr_2sbky", "fdr_twostage"),
    "fdr_gbs": (),
}
_ACCEPTED = {name for canon, aliases in CORRECTIONS.items() for name in (canon, *aliases)}


def check_correction(correction: str) -> str:
    """Return `correction` if statsmodels' multipletests knows it, else raise naming the options."""
    if not isinstance(correction, str) or correction.lower() not in _ACCEPTED:
        raise ValueError(
            f"unknown correction {correction!r}; statsmodels multipletests allows: "
            + ", ".join(CORRECTIONS)
            + " (or their short aliases)"
        )
    return correction.lower()


def check_alpha(alpha: float) -> float:
    """Return alpha as a float if it lies strictly between 0 and 1."""
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def check_min_pairs(min_pairs: int) -> int:
    """Return min_pairs if it is an integer of at least 2 (no test runs on fewer)."""
    if int(min_pairs) != min_pairs or min_pairs < 2:
        raise ValueError(f"min_pairs must be an integer >= 2, got {min_pairs!r}")
    return int(min_pairs)


def check_options(alpha: float, correction: str, min_pairs: int) -> tuple[float, str, int]:
    """Check a test family's alpha, correction and min_pairs (in that order); return them."""
    return check_alpha(alpha), check_correction(correction), check_min_pairs(min_pairs)


def check_per_image(
    per_image: pd.DataFrame, measures: Sequence[str], extra: Iterable[str] = ()
) -> pd.DataFrame:
    """Check the per-image table has the columns the tests need; return it with `kept` as bool."""
    if not isinstance(per_image, pd.DataFrame):
        raise TypeError(f"per_image must be a pandas DataFrame, got {type(per_image).__name__}")
    if isinstance(measures, str):
        raise TypeError("measures must be a sequence of column names, not a single string")
    if len(measures) == 0:
        raise ValueError("measures is empty: name at least one similarity column")
    need = [c for c in (*PER_IMAGE_COLUMNS, *extra) if c not in per_image.columns]
    missing_measures = [m for m in measures if m not in per_image.columns]
    if need or missing_measures:
        raise ValueError(f"per-image table lacks columns: {', '.join(need + missing_measures)}")
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
        per_image = per_image.assign(kept=kept.astype(bool))
    return per_image


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
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        with _frozen_heap():
            out[ok] = multipletests(p[ok], alpha=alpha, method=correction)[1]
    return out
