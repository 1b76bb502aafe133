"""The rank-based test families: CAM methods, kept vs flipped, noise types, method ranks.

Every family takes a table from `validate.prepare_table` and options from
`options.stats_options` (checked once, at the stats stage's entry). The unit of analysis is the
image: an image pooled over levels is one block (its kept values averaged over the levels),
never one block per level.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from camrobust.stats import effects
from camrobust.stats.core import mann_whitney_row, paired_family
from camrobust.stats.frames import (
    POOLED,
    finish,
    join_notes,
    label,
    log_rows,
    nan_note,
    strata,
    tag_families,
    wide_blocks,
)
from camrobust.stats.options import StatsOptions
from camrobust.stats.stratified import van_elteren_row

log = logging.getLogger(__name__)

METHOD_STRATA = ("dataset", "model", "noise", "level", "measure")
FLIP_STRATA = ("dataset", "model", "method", "noise", "level", "measure")
NOISE_STRATA = ("dataset", "model", "method", "level", "measure")
RANK_COLUMNS = (*METHOD_STRATA, "method", "avg_rank", "n", "k", "cd", "note")


def distinct_methods(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of methods that stand for their group of identical maps (`same_as` empty, see
    camrobust/metrics/equivalence.py): a method whose maps equal an earlier one's would enter
    a method comparison twice with the same values. A table without the column is unchanged."""
    if "same_as" not in table:
        return table
    return table[table["same_as"].fillna("").astype(str) == ""]


def method_tests(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Do CAM methods differ in stability? Friedman (Kendall's W) + pairwise Wilcoxon, kept pairs.

    Per (dataset, model, noise, level, measure), images kept and present for every method are
    the blocks; with the levels pooled (level "all"), an image's kept values are averaged over
    its levels first, so it is one block. rank_biserial > 0: group_a more similar (more stable)
    than group_b. Each group of methods with identical maps enters once (`distinct_methods`).
    """
    table = distinct_methods(table)
    records = []
    for measure in options.measures:
        for pooled in (False, True):
            by = ["dataset", "model", "noise"] if pooled else ["dataset", "model", "noise", "level"]
            desc = f"method tests ({measure}{', levels pooled' if pooled else ''})"
            for stratum, sub in strata(table, by, desc, progress):
                if pooled and sub["level"].nunique() < 2:
                    continue  # one level: the pooled test would repeat the per-level one
                head = {**stratum, "level": POOLED if pooled else stratum["level"]}
                head["measure"] = measure
                over = ("level",) if pooled else ()
                wide, n_nan = wide_blocks(sub, "method", measure, label(head), average_over=over)
                rows = paired_family(wide, "method", min_pairs=options.min_pairs)
                for r in rows:
                    r["note"] = join_notes(r["note"], nan_note(n_nan))
                records.extend(tag_families(rows, head))
    return log_rows(log, "method tests", finish(records, METHOD_STRATA, options))


def flip_tests(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Do CAMs respond to flips? Kept vs flipped similarity per level, and stratified by level.

    Per (dataset, model, method, noise, measure): a Mann-Whitney U per level (AUROC =
    U_kept/(n_kept n_flipped)) and, as level "all", van Elteren's test stratified by level with the
    within-level AUROC, so severity (flips are rare at low levels) does not pass for separation.
    Each group needs min_pairs.
    """
    records = []
    for measure in options.measures:
        keys = ("dataset", "model", "method", "noise")
        for stratum, sub in strata(table, keys, f"flip tests ({measure})", progress):
            levels = []
            for level, part in sub.groupby("level", sort=True):
                s = part[measure].to_numpy(dtype=float)
                kept = part["kept"].to_numpy()
                ok = np.isfinite(s)
                levels.append((s[ok & kept], s[ok & ~kept]))
                row = mann_whitney_row(*levels[-1], min_pairs=options.min_pairs)
                row["note"] = join_notes(row["note"], nan_note(int((~ok).sum())))
                records.extend(tag_families([row], {**stratum, "level": level, "measure": measure}))
            n_nan = int(sub[measure].isna().sum())
            row = van_elteren_row(levels, min_pairs=options.min_pairs)
            row["note"] = join_notes(row["note"], nan_note(n_nan))
            records.extend(tag_families([row], {**stratum, "level": POOLED, "measure": measure}))
    return log_rows(log, "flip tests", finish(records, FLIP_STRATA, options))


def noise_tests(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Do noise types differ? Friedman over noises with images as blocks, levels pooled.

    Every noise type uses the same images, so the design is paired: per (dataset, model, method,
    measure), an image's kept values are averaged over the levels of each noise, and images with
    a value under every noise are the blocks; then pairwise Wilcoxon (rank-biserial > 0: group_a
    more similar). Noises have their own level scales, so there is no per-level comparison.
    """
    records = []
    for measure in options.measures:
        keys = ("dataset", "model", "method")
        for stratum, sub in strata(table, keys, f"noise tests ({measure})", progress):
            head = {**stratum, "level": POOLED, "measure": measure}
            wide, n_nan = wide_blocks(sub, "noise", measure, label(head), average_over=("level",))
            rows = paired_family(wide, "noise", min_pairs=options.min_pairs)
            for r in rows:
                r["note"] = join_notes(r["note"], nan_note(n_nan))
            records.extend(tag_families(rows, head))
    return log_rows(log, "noise tests", finish(records, NOISE_STRATA, options))


def method_ranks(
    table: pd.DataFrame, options: StatsOptions, progress: bool | None = None
) -> pd.DataFrame:
    """Average rank of each CAM method (1 = most stable) over complete kept blocks, with Nemenyi CD.

    Per (dataset, model, noise, level, measure), per noise with levels pooled (level "all"), and
    over every noise and level (noise "all", level "all"): the input of a critical-difference plot.
    A block is an image; pooled, its kept values are averaged over what is pooled first. Each
    group of methods with identical maps is ranked once (`distinct_methods`).
    """
    table = distinct_methods(table)
    records = []
    modes = (
        (("dataset", "model", "noise", "level"), ()),
        (("dataset", "model", "noise"), ("level",)),
        (("dataset", "model"), ("noise", "level")),
    )
    for measure in options.measures:
        for keys, over in modes:
            for stratum, sub in strata(table, keys, f"method ranks ({measure})", progress):
                if over == ("level",) and sub["level"].nunique() < 2:
                    continue  # one level: pooling would repeat the per-level ranks
                head = {"noise": POOLED, "level": POOLED, **stratum, "measure": measure}
                wide, n_nan = wide_blocks(sub, "method", measure, label(head), average_over=over)
                n, k = wide.shape
                if n and k:
                    avg = rankdata(-wide.to_numpy(dtype=float), axis=1).mean(axis=0)
                else:
                    avg = np.full(k, np.nan)
                cd = effects.nemenyi_cd(k, n, options.alpha) if n and k >= 2 else np.nan
                few = (
                    f"{n} complete blocks < min_pairs={options.min_pairs}"
                    if n < options.min_pairs
                    else ""
                )
                note = join_notes(few, nan_note(n_nan))
                for method, r in zip(wide.columns, avg, strict=True):
                    records.append(
                        {**head, "method": method, "avg_rank": r, "n": n, "k": k, "cd": cd}
                        | {"note": note}
                    )
    out = pd.DataFrame.from_records(records, columns=list(RANK_COLUMNS))
    for c in METHOD_STRATA:
        out[c] = out[c].astype(str)
    if "placebo" in table:  # the metrics stage marks the baselines; carry the marker
        flags = table.groupby("method")["placebo"].first().astype(bool)
        placebo = out["method"].map(flags).fillna(False).astype(bool)
        out.insert(out.columns.get_loc("method") + 1, "placebo", placebo)
    return out
