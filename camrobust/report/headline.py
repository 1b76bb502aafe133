"""The answer of a run in at most 20 lines: which CAM method is robust, does the regulariser
matter, how accurate are the models, and where the full tables are.

Pooling rules (each line of the headline says which one it uses):

- CAM methods: first the paper's metric, RM = C x R over the region-ranking similarity rbo
  (`PAPER_MEASURE`; a line says so when rbo was not measured), then this project's extension,
  H = 2CR/(C+R) over the headline measure (`report.measure`). Per dataset, each method's score
  is the mean over the (model, noise) cells of the robustness table's levels-pooled rows
  (level "all"); its interval is the mean of the cells' bootstrap bounds (`rm_lo`, `rm_hi`;
  `robustness_lo`, `robustness_hi`). Each cell's bootstrap is independent of the others', so
  this interval is wider than the bootstrap interval of the mean would be (conservative).
  Undefined cells (no kept or no flipped pairs) are left out of a method's mean, and the line
  says how many of its cells were defined.
- Regularisers: read from the stats table named by `REGULARIZER_TABLE` through
  `regularizer_effects` (the one place to change to read another table). From the primary,
  model-level test (one value per trained model, seed-blocked; one row per dataset,
  architecture, CAM method and noise with the levels pooled, or its only level), the effect
  of a regulariser is its difference from the reference on the similarity scale; the
  headline shows the median stratum (the lower median when their number is even) with its
  confidence interval and adjusted p-value, how many strata are significantly higher or
  lower (the table's `significant` column), and how many models each side had.
- Accuracy: the range of the clean test accuracy over the trained models (one value per model).
- Placebos and identical maps (`baseline_clause`, where the robustness table has the `placebo`
  and `same_as` columns): the ranking compares the explanation methods only, each group of
  methods with identical maps once (by its first method, `ranked_rows`); the clause after it
  gives how far the best method's score lies above the best placebo's on the paper's line (RM
  over rbo, or H over the headline measure without rbo; both pooled as above) and names the
  groups, with the number of models each holds on.

The text is valid Markdown and renders as an reStructuredText line block in the report (no
inline markup characters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from camrobust.columns import COMPARISON_KEYS, PAPER_MEASURE
from camrobust.frames import levels_pooled, require_columns
from camrobust.report.accuracy import POOLED_SEEDS
from camrobust.report.tables import measure_rows

MAX_LINES = 20
REFERENCE = "erm"
REGULARIZER_TABLE = "regularizers"  # the stats table `regularizer_effects` reads
EFFECT_COLUMNS = ("dataset", "regularizer", "effect", "ci_lo", "ci_hi", "p", "n_strata")
EFFECT_COLUMNS += ("n_higher", "n_lower", "measure", "one_model", "n_models")
# The stats stage's note where each regulariser was trained once (one seed).
ONE_MODEL_NOTE = "one model per regularizer"


def method_robustness(
    robust: pd.DataFrame, measure: str, score: str = "robustness"
) -> pd.DataFrame:
    """Per (dataset, method): mean score `h` (H, or RM with `score` "rm"), mean bootstrap bounds,
    cells defined and cells in all.

    Sorted by dataset, then the score from most to least robust (no defined cell last).
    """
    rows = measure_rows(robust, measure, (score, f"{score}_lo", f"{score}_hi"))
    out = (
        rows.groupby(["dataset", "method"], sort=True)
        .agg(
            h=(score, "mean"),
            lo=(f"{score}_lo", "mean"),
            hi=(f"{score}_hi", "mean"),
            n_defined=(score, "count"),
            n_cells=(score, "size"),
        )
        .reset_index()
    )
    return out.sort_values(["dataset", "h"], ascending=[True, False], na_position="last")


def ranked_rows(robust: pd.DataFrame) -> pd.DataFrame:
    """The robustness rows the method ranking compares: no placebo, and of each group of
    methods with identical maps only its first (`same_as` empty); all rows without the columns."""
    keep = pd.Series(True, index=robust.index)
    if "placebo" in robust:
        keep &= robust["placebo"].astype(str).str.lower() != "true"
    if "same_as" in robust:
        keep &= robust["same_as"].fillna("").astype(str) == ""
    return robust[keep]


def _group_names(robust: pd.DataFrame) -> list[str]:
    """'first = twin = ...' for each group of identical maps, with the models it holds on."""
    if "same_as" not in robust:
        return []
    twins = robust[robust["same_as"].fillna("").astype(str) != ""]
    models = robust["model"].nunique()
    groups = (
        twins.drop_duplicates(["model", "method"])
        .groupby(["model", "same_as"])["method"]
        .agg(lambda m: " = ".join(sorted(m)))
    )
    names = (groups.index.get_level_values("same_as") + " = " + groups).value_counts()
    return [
        f"{name} ({'every model' if n == models else f'{n} of {models} models'})"
        for name, n in sorted(names.items())
    ]


def baseline_clause(robust: pd.DataFrame, measure: str, score: str = "robustness") -> str:
    """One dataset's '; ...' after the method ranking: the best method's score (H, or RM with
    `score` "rm") over the best placebo's, and the groups of identical maps; empty without
    placebos and groups."""
    parts = []
    label = "RM" if score == "rm" else "H"
    if "placebo" in robust:
        placebo = robust["placebo"].astype(str).str.lower() == "true"
        best = method_robustness(ranked_rows(robust), measure, score).dropna(subset=["h"])
        baselines = method_robustness(robust[placebo], measure, score).dropna(subset=["h"])
        if placebo.any() and not best.empty and not baselines.empty:
            top, base = best.iloc[0], baselines.iloc[0]
            parts.append(
                f"most robust minus best placebo ({base['method']}, {label} "
                f"{_num(base['h'])}): {_num(top['h'] - base['h'], '+.3f')}"
            )
    groups = _group_names(robust)
    if groups:
        parts.append(f"same maps at the CAM layer: {'; '.join(groups)}")
    return "".join(f"; {part}" for part in parts)


def regularizer_effects(
    stats: pd.DataFrame, measure: str, reference: str = REFERENCE
) -> pd.DataFrame:
    """The effect of each regulariser against `reference`, one row per (dataset, regulariser).

    Reads the primary model-level table (`REGULARIZER_TABLE`), levels-pooled rows (a noise of
    one level: that level's rows): the median
    stratum's difference with its interval and adjusted p-value, the counts of significant
    strata, and the fewest models on a side. Uses `measure` if the table has it, else its first
    measure (the `measure` column says). Columns: EFFECT_COLUMNS.
    """
    need = (*COMPARISON_KEYS, "level", "effect_size")
    extra = ("ci_lo", "ci_hi", "p_adjusted", "significant", "n_models_a", "n_models_b", "note")
    require_columns(stats, (*need, *extra), "regulariser table")
    have = sorted(stats["measure"].astype(str).unique())
    if not have:
        return pd.DataFrame(columns=list(EFFECT_COLUMNS))
    used = measure if measure in have else have[0]
    # One row per stratum and comparison: levels pooled, or the noise's only level.
    main = levels_pooled(stats[stats["measure"] == used])
    main = main[(main["group_b"].astype(str) == reference) & main["effect_size"].notna()]
    records = []
    for (dataset, reg), sub in main.groupby(["dataset", "group_a"], sort=True):
        sub = sub.sort_values("effect_size", kind="stable")
        median = sub.iloc[(len(sub) - 1) // 2]
        significant = sub["significant"].astype(str) == "True"
        records.append(
            {
                "dataset": dataset,
                "regularizer": reg,
                "effect": float(median["effect_size"]),
                "ci_lo": float(median["ci_lo"]),
                "ci_hi": float(median["ci_hi"]),
                "p": float(median["p_adjusted"]),
                "n_strata": len(sub),
                "n_higher": int((significant & (sub["effect_size"] > 0)).sum()),
                "n_lower": int((significant & (sub["effect_size"] < 0)).sum()),
                "measure": used,
                "one_model": bool(sub["note"].astype(str).str.contains(ONE_MODEL_NOTE).any()),
                "n_models": int(sub[["n_models_a", "n_models_b"]].min().min()),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(EFFECT_COLUMNS))


def clean_accuracy(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: lowest and highest clean test accuracy over the models, and their number."""
    require_columns(accuracy, ("dataset", "model", "test_accuracy"), "accuracy table")
    if "seed" in accuracy:  # the seeds-pooled rows are not models
        accuracy = accuracy[accuracy["seed"].astype(str) != POOLED_SEEDS]
    models = accuracy.drop_duplicates(["dataset", "model"])
    return (
        models.groupby("dataset", sort=True)["test_accuracy"]
        .agg(lo="min", hi="max", n_models="size")
        .reset_index()
    )


def _num(value: float, fmt: str = ".3f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, fmt)


def _interval(lo: float, hi: float, fmt: str = ".3f") -> str:
    return f"[{_num(lo, fmt)}, {_num(hi, fmt)}]"


def _methods_line(methods: pd.DataFrame, label: str = "H", lead: str = "") -> str:
    """Most and least robust method of one dataset by score `label`, with the pooling named;
    `lead` names the metric ("RM over rbo, the paper's metric: ")."""
    defined = methods[methods["h"].notna()]
    cells = int(methods["n_cells"].max())
    if defined.empty:
        return (
            f"- {lead}{label} undefined for every CAM method (no kept or no flipped pairs in "
            f"{cells} cells)"
        )

    def method(row: pd.Series) -> str:
        part = f"{row['method']}, {label} {_num(row['h'])} {_interval(row['lo'], row['hi'])}"
        if row["n_defined"] < row["n_cells"]:
            part += f" ({row['n_defined']} of {row['n_cells']} cells defined)"
        return part

    return (
        f"- {lead}most robust CAM method {method(defined.iloc[0])}; least robust "
        f"{method(defined.iloc[-1])} (means over {cells} model x noise cells, levels pooled)"
    )


def method_lines(robust: pd.DataFrame, measure: str) -> dict[str, list[str]]:
    """Per dataset, the lines ranking the CAM methods: the paper's metric first (RM over rbo),
    then this project's extension (H over the headline measure `measure`). Placebos and all
    but the first of a group of identical maps are left out of the ranking (`ranked_rows`)."""
    ranked = ranked_rows(robust)
    extension = method_robustness(ranked, measure)
    measured = set(robust["measure"].astype(str))
    paper = method_robustness(ranked, PAPER_MEASURE, "rm") if PAPER_MEASURE in measured else None
    lines = {}
    for dataset in np.unique(extension["dataset"].astype(str)):
        if paper is None:
            first = (
                f"- RM over {PAPER_MEASURE}, the paper's metric: not computed "
                f"({PAPER_MEASURE} is not in metrics.measures)"
            )
        else:
            rows = paper[paper["dataset"] == dataset]
            first = _methods_line(rows, "RM", f"RM over {PAPER_MEASURE}, the paper's metric: ")
        rows = extension[extension["dataset"] == dataset]
        second = _methods_line(rows, "H", f"H over {measure}, this project's extension: ")
        lines[dataset] = [first, second]
    return lines


def _effect_line(row: pd.Series, reference: str) -> str:
    """One regulariser against the reference; with one model per regulariser, said plainly."""
    if row["one_model"]:
        scope = (
            "these two models only, one training seed each: not a regulariser effect, "
            "untested (set training.seeds); "
        )
    else:
        scope = f"at least {row['n_models']} models a side; "
    return (
        f"- {row['regularizer']} vs {reference}: {_num(row['effect'], '+.4f')} "
        f"{_interval(row['ci_lo'], row['ci_hi'], '+.4f')}, p_adj {_num(row['p'], '.2g')} "
        f"({scope}median of {row['n_strata']} strata of model means, levels pooled, "
        f"{row['measure']}; significantly higher in {row['n_higher']}, lower in {row['n_lower']})"
    )


def _dataset_lines(
    dataset: str,
    methods: list[str],
    effects: pd.DataFrame,
    regularizers: list[str],
    accuracy: pd.DataFrame,
    reference: str,
) -> list[str]:
    """The lines of one dataset: its methods (`method_lines`), each regulariser, its accuracy."""
    lines = [f"{dataset}:", *methods]
    others = [r for r in regularizers if r != reference]
    if reference not in regularizers:
        lines.append(f"- regularisers: no comparison ({reference} was not trained)")
    elif not others:
        lines.append(f"- regularisers: only {reference} trained, nothing to compare")
    for reg in others:
        row = effects[effects["regularizer"] == reg]
        if row.empty:
            lines.append(f"- {reg} vs {reference}: no fitted stratum (see the table's notes)")
        else:
            lines.append(_effect_line(row.iloc[0], reference))
    acc = accuracy[accuracy["dataset"] == dataset]
    if acc.empty:
        lines.append("- clean test accuracy: no model in the accuracy table")
    else:
        a = acc.iloc[0]
        lines.append(
            f"- clean test accuracy {_num(a['lo'])} to {_num(a['hi'])} ({a['n_models']} models)"
        )
    return [*lines, ""]


def headline(
    robust: pd.DataFrame,
    regularizer_table: pd.DataFrame,
    accuracy: pd.DataFrame,
    measure: str,
    where: Mapping[str, str],
    reference: str = REFERENCE,
) -> str:
    """The headline text (at most MAX_LINES lines); `where` names the summary table
    (`summary`), the per-image table (`per_image`), the stats folder (`stats`) and the report
    (`report`). Datasets that do not fit are named in one line pointing at the summary."""
    methods = method_lines(robust, measure)
    effects = regularizer_effects(regularizer_table, measure, reference)
    acc = clean_accuracy(accuracy)
    require_columns(robust, ("regularizer",), "robustness table")
    head = [
        f"CAM robustness: the answer (the paper's RM = C x R over {PAPER_MEASURE} first; "
        f"this project's H = 2CR/(C+R) and tests over {measure})",
        "",
    ]
    tail = [
        f"Full tables: {where['summary']} (RM and H (C/R) per model, method and noise), "
        f"{where['stats']} (every test), {where['per_image']} (every pair)",
        f"Report: {where['report']}",
    ]
    body: list[str] = []
    datasets = list(methods)
    for i, dataset in enumerate(datasets):
        regs = sorted(robust.loc[robust["dataset"] == dataset, "regularizer"].astype(str).unique())
        lines = _dataset_lines(
            dataset,
            methods[dataset],
            effects[effects["dataset"] == dataset],
            regs,
            acc,
            reference,
        )
        paper = PAPER_MEASURE in set(robust["measure"].astype(str))
        lines[1] += baseline_clause(
            robust[robust["dataset"] == dataset],
            PAPER_MEASURE if paper else measure,
            "rm" if paper else "robustness",
        )
        rest = len(datasets) - i - 1
        room = MAX_LINES - len(head) - len(tail) - len(body) - (2 if rest else 0)
        if len(lines) > room:
            more = len(datasets) - i
            body += [f"{more} more dataset{'s' if more > 1 else ''}: see {where['summary']}", ""]
            break
        body += lines
    return "\n".join([*head, *body, *tail]) + "\n"
