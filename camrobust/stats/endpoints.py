"""Model-level values of the regulariser tests: what each trained model scores, per stratum.

A regulariser changes which images a model keeps (its flips), so a mean over a model's own kept
pairs averages a different set of images for every arm: selection on a post-treatment variable.
Within a seed block (the models of one dataset, architecture and training seed, one per
regulariser) every model explains the same images, so the primary consistency of a model is its
mean over the images that EVERY model of its block kept at that noise and level, and whose maps
are informative for every model of the block (no degenerate pair, no NaN similarity): the same
images for every arm. Per (dataset, arch, method, noise, level) and model (docs/metric.md):

- `consistency`: C over the block's always-kept images (count: those images);
- `consistency_kept`: C over the model's own kept pairs (the former estimand; secondary);
- `responsiveness`: R = mean (1 − s) over the model's own flipped pairs (count: those pairs);
- `robustness`: H = 2CR/(C + R) and `rm`: C × R, with C the always-kept consistency;
- `auroc`: the within-level AUROC of s separating the model's kept from its flipped pairs;
- `flip_rate` and `feature_shift` (the mean relative shift of the CAM layer's activations),
  which depend on neither the CAM method nor the measure (method and measure "all").

Degenerate pairs (a constant map) and NaN similarities enter no value; they stay in the
per-image table and `n_excluded` counts them. Levels pooled (level "all"): C and the flip rate
and shift are the means of the per-level values (NaN if a level has none); R pools the model's
flipped pairs of every level (per-level R is undefined where a level flips nothing); the AUROC
is Σ_l U_l / Σ_l n_kept,l n_flipped,l over the levels with both kinds of pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from camrobust.columns import POOLED_LEVEL
from camrobust.frames import require_columns

# The model-level endpoints, the primary one first; METHOD_FREE ones have method and measure "all".
ENDPOINTS: tuple[str, ...] = (
    "consistency", "consistency_kept", "responsiveness", "robustness", "rm", "auroc",
    "flip_rate", "feature_shift",
)  # fmt: skip
PRIMARY = "consistency"
METHOD_FREE: tuple[str, ...] = ("flip_rate", "feature_shift")
CELL_KEYS = ("dataset", "arch", "method", "noise", "level", "model", "regularizer", "seed")
BLOCK_KEYS = ("dataset", "arch", "seed")
VALUE_COLUMNS = (*CELL_KEYS, "endpoint", "value", "count", "n_excluded")


def _codes(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """One integer per distinct combination of `columns`."""
    return frame.groupby(list(columns), sort=False, observed=True).ngroup().to_numpy()


def _flags(table: pd.DataFrame, measure: str, cell: np.ndarray) -> pd.DataFrame:
    """Per row: informative (finite, not degenerate), common (kept and informative for every
    model of the seed block at this noise, level, method and image), and the sums' parts."""
    s = table[measure].to_numpy(dtype=float)
    kept = table["kept"].to_numpy(dtype=bool)
    informative = np.isfinite(s) & ~table["degenerate"].to_numpy(dtype=bool)
    ok = kept & informative
    image = _codes(table, (*BLOCK_KEYS, "noise", "level", "method", "image"))
    rows, ok_rows = np.bincount(image), np.bincount(image, weights=ok)
    block = _codes(table, BLOCK_KEYS)
    models = pd.Series(pd.factorize(table["model"])[0]).groupby(block).nunique().to_numpy()
    common = (ok_rows[image] == rows[image]) & (rows[image] == models[block])
    s0 = np.where(informative, s, 0.0)
    return pd.DataFrame(
        {
            "n_common": common.astype(np.int64),
            "s_common": np.where(common, s0, 0.0),
            "n_kept": ok.astype(np.int64),
            "s_kept": np.where(ok, s0, 0.0),
            "n_flip": (~kept & informative).astype(np.int64),
            "r_flip": np.where(~kept & informative, 1.0 - s0, 0.0),
            "u_kept": _kept_rank_sums(s, kept, informative, cell),
            "n_excluded": (~informative).astype(np.int64),
        }
    )


def _kept_rank_sums(
    s: np.ndarray, kept: np.ndarray, informative: np.ndarray, cell: np.ndarray
) -> np.ndarray:
    """Each informative kept row's rank of s within its cell (ties averaged), 0 elsewhere: a
    cell's sum minus n_k(n_k + 1)/2 is the Mann-Whitney U of kept over flipped."""
    ranks = np.zeros(len(s))
    ranked = pd.Series(s[informative]).groupby(cell[informative]).rank(method="average")
    ranks[informative] = ranked.to_numpy()
    return np.where(kept & informative, ranks, 0.0)


def cell_sums(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Per (dataset, arch, method, noise, level, model): the counts and sums the method-bound
    endpoints are made of, with the per-level C (`c`, `c_kept`) and the AUROC's parts."""
    require_columns(table, (*CELL_KEYS, "image", "kept", "degenerate", measure), "per-image table")
    cell = _codes(table, CELL_KEYS)
    sums = _flags(table, measure, cell).groupby(cell, sort=True).sum().reset_index(drop=True)
    first = np.unique(cell, return_index=True)[1]  # the same order as the sorted groups
    keys = table[list(CELL_KEYS)].iloc[first].astype(str).reset_index(drop=True)
    out = pd.concat([keys, sums], axis=1)
    both = (out["n_kept"] > 0) & (out["n_flip"] > 0)
    out["u_both"] = (out["u_kept"] - out["n_kept"] * (out["n_kept"] + 1) / 2.0).where(both, 0.0)
    out["pairs_both"] = np.where(both, out["n_kept"] * out["n_flip"], 0)
    out["n_auroc_kept"] = np.where(both, out["n_kept"], 0)
    out["n_auroc_flip"] = np.where(both, out["n_flip"], 0)
    out["c"] = _ratio(out["s_common"], out["n_common"])
    out["c_kept"] = _ratio(out["s_kept"], out["n_kept"])
    return out


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den > 0)


def _method_values(cells: pd.DataFrame) -> pd.DataFrame:
    """The method-bound endpoints, one row each, from `cell_sums` rows (or their pooling)."""
    c, r = cells["c"], _ratio(cells["r_flip"], cells["n_flip"])
    both = np.minimum(cells["n_common"], cells["n_flip"])
    cols = {
        "consistency": (c, cells["n_common"]),
        "consistency_kept": (cells["c_kept"], cells["n_kept"]),
        "responsiveness": (r, cells["n_flip"]),
        "robustness": (2 * c * r / (c + r), both),
        "rm": (c * r, both),
        "auroc": (
            _ratio(cells["u_both"], cells["pairs_both"]),
            np.minimum(cells["n_auroc_kept"], cells["n_auroc_flip"]),
        ),
    }
    keys = cells[list(CELL_KEYS)]
    parts = [
        keys.assign(endpoint=name, value=np.asarray(value), count=np.asarray(count))
        for name, (value, count) in cols.items()
    ]
    return pd.concat(parts, ignore_index=True).assign(
        n_excluded=np.tile(cells["n_excluded"].to_numpy(), len(cols))
    )


def _pooled(cells: pd.DataFrame, mean_of_levels: tuple[str, ...]) -> pd.DataFrame:
    """Level "all" rows of strata with several levels: `mean_of_levels` columns as the mean of
    the per-level values (NaN when one is NaN or a level is missing), every other column summed."""
    stratum = [k for k in CELL_KEYS if k not in ("level", "model", "regularizer", "seed")]
    n_levels = cells.groupby(stratum, observed=True)["level"].transform("nunique")
    several = cells[n_levels > 1]
    if several.empty:
        return several
    keys = [k for k in CELL_KEYS if k != "level"]
    numeric = [c for c in several.columns if c not in CELL_KEYS]
    grouped = several.groupby(keys, observed=True, sort=True)
    out = grouped[[c for c in numeric if c not in mean_of_levels]].sum()
    for column in mean_of_levels:
        out[column] = grouped[column].agg(lambda v: v.mean(skipna=False))
    # A model absent at a level of its stratum has no pooled mean either.
    present = grouped["level"].nunique()
    wanted = several.groupby(stratum, observed=True)["level"].nunique()
    where = pd.MultiIndex.from_frame(out.reset_index()[stratum])
    full = present.to_numpy() == wanted.reindex(where).to_numpy()
    out.loc[~full, list(mean_of_levels)] = np.nan
    return out.reset_index().assign(level=POOLED_LEVEL)


def _method_free(table: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, noise, level, model) with method "all": the flip rate over its
    images and the mean `feature_shift` where the table has one; levels pooled as means."""
    keys = [k for k in CELL_KEYS if k != "method"]
    first = table[table["method"].astype(str) == str(table["method"].astype(str).min())]
    frame = first[keys].astype(str).assign(flip=~first["kept"].to_numpy(dtype=bool), one=1)
    columns = {"flip_rate": "flip"}
    if "feature_shift" in table:
        frame["shift"] = first["feature_shift"].to_numpy(dtype=float)
        frame["shift_ok"] = np.isfinite(frame["shift"]).astype(np.int64)
        columns["feature_shift"] = "shift"
    cells = frame.groupby(keys, observed=True, sort=True).agg(
        flip_rate=("flip", "mean"),
        n_images=("one", "sum"),
        **({"feature_shift": ("shift", "mean"), "n_shift": ("shift_ok", "sum")}
           if "feature_shift" in columns else {}),
    ).reset_index().assign(method=POOLED_LEVEL)  # fmt: skip
    cells = pd.concat([cells, _pooled(cells, tuple(columns))], ignore_index=True)
    counts = {"flip_rate": "n_images", "feature_shift": "n_shift"}
    parts = [
        cells[list(CELL_KEYS)].assign(
            endpoint=name, value=cells[name].to_numpy(), count=cells[counts[name]].to_numpy()
        )
        for name in columns
    ]
    return pd.concat(parts, ignore_index=True).assign(n_excluded=0)


def endpoint_values(
    table: pd.DataFrame, measure: str, method_free: bool, endpoints: tuple[str, ...] = ENDPOINTS
) -> pd.DataFrame:
    """One row per (dataset, arch, method, noise, level, model, endpoint) of `endpoints`, per
    level and levels pooled (level "all"): value, count (what `min_pairs` applies to) and
    n_excluded (degenerate or NaN pairs left out). `method_free`: also the endpoints that
    depend on neither method nor measure (give them once per table, not once per measure)."""
    frames = []
    if set(endpoints) - set(METHOD_FREE):
        cells = cell_sums(table, measure)
        pooled = _pooled(cells, ("c", "c_kept"))
        frames.append(_method_values(pd.concat([cells, pooled], ignore_index=True)))
    if method_free and set(endpoints) & set(METHOD_FREE):
        frames.append(_method_free(table))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=VALUE_COLUMNS)
    return out[out["endpoint"].isin(endpoints)][list(VALUE_COLUMNS)].reset_index(drop=True)
