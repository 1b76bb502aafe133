"""Consistency, responsiveness, robustness scores and separation AUROC from the per-image table.

Per (dataset, model, arch, regularizer, noise, method, level, measure), with K the kept pairs
and F the flipped ones (docs/metric.md): C = mean_K s, R = mean_F (1 − s), this project's
H = 2CR/(C + R), the paper's RM = C · R, and the AUROC of s separating K (positive) from F.
Each level alone and all levels pooled (``level = "all"``). Percentile bootstrap intervals for
C, R, H and RM resample images (an image brings all its rows, every level when pooled); one set
of resampling weights is shared by the methods and measures of a group, so their intervals are
paired.

Two constant maps score 1 on every similarity, so C is also given over the kept pairs that are
not degenerate (``consistency_nondegenerate``). A resample without kept or without flipped pairs
has no H (nor RM); ``boot_dropped`` is the fraction of resamples left out of the H interval for that
reason (the intervals are conditional on the rest). Pooled over levels, the raw AUROC mixes
levels (kept pairs come mostly from low levels, flipped from high ones), so
``auroc_level_adjusted`` compares kept with flipped pairs of the same level only: the per-level
AUROCs weighted by their n_kept · n_flipped comparisons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from camrobust.columns import POOLED_LEVEL
from camrobust.frames import require_columns
from camrobust.metrics.auroc import auroc
from camrobust.metrics.bootstrap import harmonic, percentile_interval, ratio, resample_counts
from camrobust.metrics.measures import MEASURES, validate_measures
from camrobust.metrics.table import KEY_COLUMNS
from camrobust.seeding import numpy_rng

POOLED = POOLED_LEVEL
STAT_COLUMNS: tuple[str, ...] = (
    "n_images",
    "n_pairs",
    "n_kept",
    "n_flipped",
    "flip_rate",
    "n_degenerate",
    "n_nonfinite",
    "consistency",
    "consistency_lo",
    "consistency_hi",
    "consistency_nondegenerate",
    "consistency_nondegenerate_lo",
    "consistency_nondegenerate_hi",
    "responsiveness",
    "responsiveness_lo",
    "responsiveness_hi",
    "robustness",
    "robustness_lo",
    "robustness_hi",
    "rm",
    "rm_lo",
    "rm_hi",
    "boot_dropped",
    "auroc",
    "auroc_level_adjusted",
    "note",
)
OUTPUT_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "method", "level", "measure", *STAT_COLUMNS)


def _check_table(table: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    needed = [*KEY_COLUMNS, "level", "method", "image", "kept", "degenerate", *names]
    require_columns(table, needed, "per-image table")
    if table.empty:
        raise ValueError("per-image table has no rows")
    # The engine's flag of maps it could not compute; tables written before it had none.
    flags = table.get("nonfinite", False)
    table = table[needed].assign(nonfinite=flags)
    for col in (*KEY_COLUMNS, "level", "method"):
        table[col] = table[col].astype(str)
    for name in names:
        s = table[name].to_numpy(dtype=np.float64)
        if not np.isfinite(s).all() or (s < 0).any() or (s > 1).any():
            raise ValueError(f"per-image table: column '{name}' has values outside [0, 1] or NaN")
    dup = table.duplicated([*KEY_COLUMNS, "level", "method", "image"])
    if dup.any():
        row = table.loc[dup.idxmax(), [*KEY_COLUMNS, "level", "method", "image"]].to_dict()
        raise ValueError(f"per-image table has repeated rows, e.g. {row}")
    return table


def group_rng(seed: int, stratum: tuple[str, ...], level: str) -> np.random.Generator:
    """The bootstrap generator of one stratum and level, independent of the rest of the table."""
    return numpy_rng(seed, "aggregate", *stratum, level)


def _note(n_kept: int, n_flipped: int, n_kept_informative: int) -> str:
    notes = []
    if n_kept == 0:
        notes.append("no kept pairs: consistency, robustness, rm and auroc undefined")
    elif n_kept_informative == 0:
        notes.append("every kept pair degenerate: consistency_nondegenerate undefined")
    if n_flipped == 0:
        notes.append("no flipped pairs: responsiveness, robustness, rm and auroc undefined")
    return "; ".join(notes)


@dataclass(frozen=True)
class _ImageSums:
    """One group's per-image sums: counts of kept, flipped and kept non-degenerate pairs per
    (image, method), and their similarity sums (of 1 − s for flipped pairs) per measure too.
    Every statistic is a ratio of these, so resampling images is a matmul."""

    n_k: np.ndarray
    n_f: np.ndarray
    n_kn: np.ndarray
    s_k: np.ndarray
    s_f: np.ndarray
    s_kn: np.ndarray


def _image_sums(
    index: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, int],
    kept: np.ndarray,
    informative: np.ndarray,
    scores: np.ndarray,
) -> _ImageSums:
    """The sums over the rows at (image, method) `index` of an images × methods grid."""
    n_k = np.zeros(shape)
    n_f = np.zeros(shape)
    n_kn = np.zeros(shape)
    np.add.at(n_k, index, kept)
    np.add.at(n_f, index, ~kept)
    np.add.at(n_kn, index, informative)
    s_k = np.zeros((*shape, scores.shape[1]))
    s_f = np.zeros((*shape, scores.shape[1]))
    s_kn = np.zeros((*shape, scores.shape[1]))
    np.add.at(s_k, index, scores * kept[:, None])
    np.add.at(s_f, index, (1 - scores) * ~kept[:, None])
    np.add.at(s_kn, index, scores * informative[:, None])
    return _ImageSums(n_k, n_f, n_kn, s_k, s_f, s_kn)


def _point_estimates(sums: _ImageSums) -> dict[str, np.ndarray]:
    """C, C over non-degenerate pairs, R, H and RM per (method, measure)."""
    c = ratio(sums.s_k.sum(0), sums.n_k.sum(0)[:, None])
    r = ratio(sums.s_f.sum(0), sums.n_f.sum(0)[:, None])
    c_nd = ratio(sums.s_kn.sum(0), sums.n_kn.sum(0)[:, None])
    return {
        "consistency": c,
        "consistency_nondegenerate": c_nd,
        "responsiveness": r,
        "robustness": harmonic(c, r),
        "rm": c * r,
    }


def _intervals(
    sums: _ImageSums, n_boot: int, ci: float, rng: np.random.Generator
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Percentile bootstrap intervals of the point estimates over `n_boot` resamples of the
    images, and per method the fraction of resamples without kept or without flipped pairs."""
    n_images, n_methods, n_names = sums.s_k.shape
    if n_boot:
        counts = resample_counts(n_images, n_boot, rng)
        boot = (n_boot, n_methods, n_names)

        def resampled(part: np.ndarray, n: np.ndarray) -> np.ndarray:
            flat = part.reshape(n_images, -1)
            return ratio((counts @ flat).reshape(boot), (counts @ n)[..., None])

        c_b, r_b = resampled(sums.s_k, sums.n_k), resampled(sums.s_f, sums.n_f)
        c_nd_b = resampled(sums.s_kn, sums.n_kn)
        dropped = ((counts @ sums.n_k) == 0) | ((counts @ sums.n_f) == 0)
        boot_dropped = dropped.mean(axis=0)
    else:  # no resampling asked for: the interval columns stay NaN
        c_b = r_b = c_nd_b = np.full((1, n_methods, n_names), np.nan)
        boot_dropped = np.full(n_methods, np.nan)
    intervals = {
        "consistency": percentile_interval(c_b, ci),
        "consistency_nondegenerate": percentile_interval(c_nd_b, ci),
        "responsiveness": percentile_interval(r_b, ci),
        "robustness": percentile_interval(harmonic(c_b, r_b), ci),
        "rm": percentile_interval(c_b * r_b, ci),  # NaN where C or R is
    }
    return intervals, boot_dropped


def _estimates(
    point: dict[str, np.ndarray],
    intervals: dict[str, tuple[np.ndarray, np.ndarray]],
    i: int,
    j: int,
) -> dict[str, float]:
    """Each statistic of method `i` and measure `j` with its bounds (NaN where it is)."""
    row = {}
    for stat, value in point.items():
        lo, hi = intervals[stat]
        defined = not np.isnan(value[i, j])
        row[stat] = float(value[i, j])
        row[f"{stat}_lo"] = float(lo[i, j]) if defined else np.nan
        row[f"{stat}_hi"] = float(hi[i, j]) if defined else np.nan
    return row


def _summarise(
    rows: pd.DataFrame,
    names: tuple[str, ...],
    n_boot: int,
    ci: float,
    rng: np.random.Generator,
) -> list[dict[str, object]]:
    """Statistics for every (method, measure) of one stratum and level (or pooled levels)."""
    images, img_idx = np.unique(rows["image"].to_numpy(), return_inverse=True)
    methods, met_idx = np.unique(rows["method"].to_numpy(), return_inverse=True)
    kept = rows["kept"].to_numpy(dtype=bool)
    scores = rows[list(names)].to_numpy(dtype=np.float64)
    degenerate = rows["degenerate"].to_numpy(dtype=bool)
    nonfinite = rows["nonfinite"].to_numpy(dtype=bool)
    shape = (len(images), len(methods))
    sums = _image_sums((img_idx, met_idx), shape, kept, kept & ~degenerate, scores)
    point = _point_estimates(sums)
    intervals, boot_dropped = _intervals(sums, n_boot, ci, rng)
    out = []
    for i, method in enumerate(methods):
        in_method = met_idx == i
        nk, nf = int(sums.n_k[:, i].sum()), int(sums.n_f[:, i].sum())
        for j, name in enumerate(names):
            s = scores[in_method, j]
            k_mask = kept[in_method]
            row: dict[str, object] = {
                "method": method,
                "measure": name,
                "n_images": int((sums.n_k[:, i] + sums.n_f[:, i] > 0).sum()),
                "n_pairs": nk + nf,
                "n_kept": nk,
                "n_flipped": nf,
                "flip_rate": nf / (nk + nf),
                "n_degenerate": int(degenerate[in_method].sum()),
                "n_nonfinite": int(nonfinite[in_method].sum()),
                **_estimates(point, intervals, i, j),
            }
            row["boot_dropped"] = float(boot_dropped[i])
            row["auroc"] = auroc(s[k_mask], s[~k_mask])
            row["auroc_level_adjusted"] = row["auroc"]  # one level; pooled rows are redone
            row["note"] = _note(nk, nf, int(sums.n_kn[:, i].sum()))
            out.append(row)
    return out


def aggregate(
    table: pd.DataFrame,
    measures: Iterable[str] = MEASURES,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Robustness statistics in long format (one measure per row), per level and pooled.

    Columns: dataset, model, arch, regularizer, noise, method, level, measure, n_images,
    n_pairs, n_kept, n_flipped, flip_rate, n_degenerate, n_nonfinite (pairs with a map the CAM
    engine could not compute, counted among the degenerate ones), consistency,
    consistency_nondegenerate, responsiveness, robustness, rm with ``_lo``/``_hi`` bootstrap bounds
    (NaN when n_boot = 0), boot_dropped, auroc, auroc_level_adjusted, note. Quantities that
    need kept (or flipped) pairs are NaN when there are none, and ``note`` says so. Resampling
    is seeded from (seed, stratum, level), so results do not depend on what else the table holds.
    """
    names = validate_measures(measures)
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(
            f"n_boot must be a non-negative integer (0 = no intervals), got {n_boot!r}"
        )
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    table = _check_table(table, names)
    if POOLED in set(table["level"]):
        raise ValueError(f"per-image table uses the reserved level name '{POOLED}'")
    level_order = list(pd.unique(table["level"]))

    records: list[dict[str, object]] = []
    for stratum, rows in table.groupby(list(KEY_COLUMNS), sort=True):
        keys = dict(zip(KEY_COLUMNS, stratum, strict=True))
        present = set(rows["level"])
        by_level = dict(tuple(rows.groupby("level", sort=False)))
        subsets = [(lvl, by_level[lvl]) for lvl in level_order if lvl in present]
        subsets.append((POOLED, rows))
        per_level: list[dict[str, Any]] = []
        for level, subset in subsets:
            rng = group_rng(seed, tuple(stratum), level)
            rows_out = _summarise(subset, names, n_boot, ci, rng)
            if level == POOLED:
                _adjust_auroc(rows_out, per_level)
            else:
                per_level.extend(rows_out)
            records.extend({**keys, "level": level, **rec} for rec in rows_out)
    return pd.DataFrame.from_records(records, columns=list(OUTPUT_COLUMNS))


def _adjust_auroc(pooled: list[dict[str, Any]], per_level: list[dict[str, Any]]) -> None:
    """Set the pooled rows' auroc_level_adjusted: per-level AUROCs weighted by n_kept·n_flipped.

    That is the share of same-level (kept, flipped) comparisons the kept pair wins (ties ½),
    NaN when no level has both kinds of pairs.
    """
    total: dict[tuple[object, object], list[float]] = {}
    for row in per_level:
        weight = float(row["n_kept"]) * float(row["n_flipped"])
        if weight > 0:
            acc = total.setdefault((row["method"], row["measure"]), [0.0, 0.0])
            acc[0] += weight * float(row["auroc"])
            acc[1] += weight
    for row in pooled:
        won, weight = total.get((row["method"], row["measure"]), (0.0, 0.0))
        row["auroc_level_adjusted"] = won / weight if weight else float("nan")
