"""The rank-based test families (docs/metric.md): CAM methods, regularisers, flips, noises."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from camrobust.stats import effects
from camrobust.stats.core import independent_family, mann_whitney_row, paired_family
from camrobust.stats.frames import (
    finish,
    join_notes,
    label,
    log_rows,
    nan_note,
    strata,
    wide_blocks,
)
from camrobust.stats.validate import check_options, check_per_image

log = logging.getLogger(__name__)

METHOD_STRATA = ("dataset", "model", "noise", "level", "measure")
REGULARIZER_STRATA = ("dataset", "arch", "method", "noise", "level", "measure")
FLIP_STRATA = ("dataset", "model", "method", "noise", "level", "measure")
NOISE_STRATA = ("dataset", "model", "method", "level", "measure")
RANK_COLUMNS = (*METHOD_STRATA, "method", "avg_rank", "n", "k", "cd", "note")


def _prepare(per_image, measures, alpha, correction, min_pairs):
    """Validate the shared arguments; levels as strings so '1' and 1 are one stratum."""
    df = check_per_image(per_image, measures)
    df = df.assign(level=df["level"].astype(str))
    return (df, tuple(measures), *check_options(alpha, correction, min_pairs))


def _paired_tests(
    factor: str,
    strata_columns: Sequence[str],
    per_image: pd.DataFrame,
    measures: Sequence[str],
    alpha: float,
    correction: str,
    min_pairs: int,
    progress: bool | None,
) -> pd.DataFrame:
    """Friedman + Wilcoxon over `factor` per stratum, per level and levels pooled (if several).

    The strata are `strata_columns` (which end with level and measure); the blocks are images.
    """
    df, measures, alpha, correction, min_pairs = _prepare(
        per_image, measures, alpha, correction, min_pairs
    )
    keys = tuple(strata_columns[:-2])  # the strata less level and measure
    records = []
    for measure in measures:
        for pooled in (False, True):
            by = [*keys] if pooled else [*keys, "level"]
            index = ["level", "image"] if pooled else ["image"]
            desc = f"{factor} tests ({measure}{', levels pooled' if pooled else ''})"
            for stratum, sub in strata(df, by, desc, progress):
                if pooled and sub["level"].nunique() < 2:
                    continue  # one level: the pooled test would repeat the per-level one
                where = label({**stratum, "measure": measure})
                wide, n_nan = wide_blocks(sub, index, factor, measure, where)
                rows = paired_family(
                    wide, factor, min_pairs=min_pairs, correction=correction, alpha=alpha
                )
                head = {**stratum, "level": "all" if pooled else stratum["level"]}
                head["measure"] = measure
                for r in rows:
                    r["note"] = join_notes(r["note"], nan_note(n_nan))
                    records.append({**head, **r})
    out = finish(
        records, strata_columns, across_strata=("friedman",), correction=correction, alpha=alpha
    )
    return log_rows(log, f"{factor} tests", out)


def method_tests(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Do CAM methods differ in stability? Friedman (Kendall's W) + pairwise Wilcoxon, kept pairs.

    Per (dataset, model, noise, level, measure) and with the levels pooled (level "all"): images
    kept and present for every method are the blocks. Pairwise p-values are adjusted within their
    stratum; Friedman p-values across the strata of a measure. rank_biserial > 0: group_a more
    similar (more stable) than group_b.
    """
    return _paired_tests(
        "method", METHOD_STRATA, per_image, measures, alpha, correction, min_pairs, progress
    )


def regularizer_tests(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Does the regulariser change stability? Friedman + pairwise Wilcoxon over regularisers.

    Per (dataset, arch, method, noise, level, measure) and levels pooled: the blocks are images
    kept under every regulariser's model (the same test images), so each block compares models.
    """
    return _paired_tests(
        "regularizer",
        REGULARIZER_STRATA,
        per_image,
        measures,
        alpha,
        correction,
        min_pairs,
        progress,
    )


def flip_tests(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Do CAMs respond to flips? Mann-Whitney U of similarity, kept vs flipped pairs, AUROC.

    Per (dataset, model, method, noise, measure) with the levels pooled (flips are rare at low
    levels). AUROC = U_kept/(n_kept n_flipped): 1 when every kept pair is more similar than every
    flipped one. p-values are adjusted across the strata of a measure. Each group needs min_pairs.
    """
    df, measures, alpha, correction, min_pairs = _prepare(
        per_image, measures, alpha, correction, min_pairs
    )
    records = []
    for measure in measures:
        desc = f"flip tests ({measure})"
        keys = ("dataset", "model", "method", "noise")
        for stratum, sub in strata(df, keys, desc, progress):
            s = sub[measure].to_numpy(dtype=float)
            kept = sub["kept"].to_numpy()
            ok = np.isfinite(s)
            row = mann_whitney_row(
                s[ok & kept],
                s[ok & ~kept],
                "kept",
                "kept",
                "flipped",
                min_pairs=min_pairs,
                effect="auroc",
            )
            row["note"] = join_notes(row["note"], nan_note(int((~ok).sum())))
            records.append({**stratum, "level": "all", "measure": measure, **row})
    out = finish(
        records, FLIP_STRATA, across_strata=("mann_whitney",), correction=correction, alpha=alpha
    )
    return log_rows(log, "flip tests", out)


def noise_tests(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    correction: str = "holm",
    min_pairs: int = 10,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Do noise types differ? Kruskal-Wallis on kept-pair similarity over noises, levels pooled.

    Per (dataset, model, method, measure); then pairwise Mann-Whitney (rank-biserial, > 0: group_a
    more similar) adjusted within the stratum. A noise with fewer than min_pairs kept pairs is left
    out of the Kruskal-Wallis test and named in its note.
    """
    df, measures, alpha, correction, min_pairs = _prepare(
        per_image, measures, alpha, correction, min_pairs
    )
    records = []
    for measure in measures:
        desc = f"noise tests ({measure})"
        for stratum, sub in strata(df, ("dataset", "model", "method"), desc, progress):
            noises = sorted(sub["noise"].astype(str).unique())
            kept = sub[sub["kept"]]
            n_nan = int(kept[measure].isna().sum())
            kept = kept[kept[measure].notna()]
            by_noise = kept.groupby(kept["noise"].astype(str))[measure]
            samples = {n: np.zeros(0) for n in noises}
            samples.update({n: v.to_numpy(dtype=float) for n, v in by_noise})
            rows = independent_family(
                samples, "noise", min_pairs=min_pairs, correction=correction, alpha=alpha
            )
            for r in rows:
                r["note"] = join_notes(r["note"], nan_note(n_nan))
                records.append({**stratum, "level": "all", "measure": measure, **r})
    out = finish(
        records, NOISE_STRATA, across_strata=("kruskal",), correction=correction, alpha=alpha
    )
    return log_rows(log, "noise tests", out)


def method_ranks(
    per_image: pd.DataFrame,
    measures: Sequence[str] = ("ssim",),
    alpha: float = 0.05,
    min_pairs: int = 10,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Average rank of each CAM method (1 = most stable) over complete kept blocks, with Nemenyi CD.

    Per (dataset, model, noise, level, measure), per noise with levels pooled (level "all"), and
    over every noise and level (noise "all", level "all"): the input of a critical-difference plot.
    """
    df, measures, alpha, _, min_pairs = _prepare(per_image, measures, alpha, "holm", min_pairs)
    records = []
    modes = (
        (("dataset", "model", "noise", "level"), ("image",)),
        (("dataset", "model", "noise"), ("level", "image")),
        (("dataset", "model"), ("noise", "level", "image")),
    )
    for measure in measures:
        for keys, index in modes:
            for stratum, sub in strata(df, keys, f"method ranks ({measure})", progress):
                if "level" in index and "noise" not in index and sub["level"].nunique() < 2:
                    continue  # one level: pooling would repeat the per-level ranks
                wide, n_nan = wide_blocks(
                    sub, index, "method", measure, label({**stratum, "measure": measure})
                )
                n, k = wide.shape
                head = {"noise": "all", "level": "all", **stratum, "measure": measure}
                if n and k:
                    avg = rankdata(-wide.to_numpy(dtype=float), axis=1).mean(axis=0)
                else:
                    avg = np.full(k, np.nan)
                cd = effects.nemenyi_cd(k, n, alpha) if n and k >= 2 else np.nan
                few = f"{n} complete blocks < min_pairs={min_pairs}" if n < min_pairs else ""
                note = join_notes(few, nan_note(n_nan))
                for method, r in zip(wide.columns, avg, strict=True):
                    records.append(
                        {**head, "method": method, "avg_rank": r, "n": n, "k": k, "cd": cd}
                        | {"note": note}
                    )
    out = pd.DataFrame.from_records(records, columns=list(RANK_COLUMNS))
    for c in METHOD_STRATA:
        out[c] = out[c].astype(str)
    return out
