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
- Regularisers: only the pre-specified claims of the stats table named by `names.CLAIMS_TABLE`
  (camrobust/stats/claims.py): per noise family, each regulariser against the reference on
  one endpoint per trained model (the mean over CAM methods and levels of the consistency on
  the images every model of its seed kept), seed-blocked OLS, Holm over the dataset's claims.
  Each claim reads "higher" or "lower" when its Holm-adjusted p is below alpha, "equivalent"
  when its Holm-adjusted TOST p is (within ±δ), else "inconclusive" with its minimum
  detectable effect; always with its estimate and (1 − alpha) interval. The strata of
  results/stats/regularizers.csv are exploratory and the headline says so.
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

from camrobust.columns import PAPER_MEASURE
from camrobust.frames import require_columns
from camrobust.names import REFERENCE
from camrobust.report.accuracy import POOLED_SEEDS
from camrobust.report.tables import measure_rows

MAX_LINES = 20
CLAIM_COLUMNS = (
    "dataset", "arch", "noise", "measure", "group_a", "group_b", "effect_size", "ci_lo", "ci_hi",
    "p_adjusted", "significant", "p_tost_adjusted", "equivalent", "delta", "mde", "df", "claims",
    "n_methods", "n_levels",
)  # fmt: skip


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
    if twins.empty:  # an all-empty column reads back as float: nothing to name
        return []
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
    placebo = robust.get("placebo", pd.Series(False, index=robust.index))
    placebo = placebo.astype(str).str.lower() == "true"
    if placebo.any():
        best = method_robustness(ranked_rows(robust), measure, score).dropna(subset=["h"])
        baselines = method_robustness(robust[placebo], measure, score).dropna(subset=["h"])
        if not best.empty and not baselines.empty:
            top, base = best.iloc[0], baselines.iloc[0]
            parts.append(
                f"most robust minus best placebo ({base['method']}, {label} "
                f"{_num(base['h'])}): {_num(top['h'] - base['h'], '+.3f')}"
            )
    groups = _group_names(robust)
    if groups:
        parts.append(f"same maps at the CAM layer: {'; '.join(groups)}")
    return "".join(f"; {part}" for part in parts)


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


def _flag(value: object) -> bool:
    """A boolean column read back from CSV (True, "True"; NaN and "False" are False)."""
    return str(value) == "True"


def _claim(row: pd.Series, noise: str) -> str:
    """One noise family's claim: estimate, interval and verdict."""
    estimate = f"{noise} {_num(row['effect_size'], '+.4f')}"
    if not math.isfinite(float(row["effect_size"])):
        return f"{noise} no estimate (see the claims table)"
    if not math.isfinite(float(row["p_adjusted"])):
        return estimate
    head = f"{estimate} {_interval(row['ci_lo'], row['ci_hi'], '+.4f')}"
    if _flag(row["significant"]):
        word = "higher" if row["effect_size"] > 0 else "lower"
        return f"{head} {word} (p_holm {_num(row['p_adjusted'], '.2g')})"
    if _flag(row["equivalent"]):
        return f"{head} equivalent (TOST p_holm {_num(row['p_tost_adjusted'], '.2g')})"
    return (
        f"{head} inconclusive (p_holm {_num(row['p_adjusted'], '.2g')}, "
        f"MDE {_num(row['mde'], '.3f')})"
    )


def _claims_lines(claims: pd.DataFrame, regularizers: list[str], reference: str) -> list[str]:
    """The regulariser lines of one dataset: what the claims are, then one line per regulariser
    (per architecture and regulariser when there are several architectures)."""
    tested = claims[claims["p_adjusted"].notna()]
    if tested.empty:
        head = (
            f"- regularisers vs {reference}: one model a side, untested (set training.seeds); "
            "estimates of the mean consistency on images every model kept"
        )
    else:
        first = tested.iloc[0]
        head = (
            f"- regularisers vs {reference}, pre-specified: per model the mean {first['measure']} "
            f"over {int(first['n_methods'])} CAM methods x levels on the images every model of "
            f"its seed kept; seed-blocked OLS (df {int(first['df'])}), Holm over "
            f"{int(first['claims'])} claims; equivalence: TOST within +-{first['delta']:.3f}; "
            "strata in regularizers.csv: exploratory (BH over the study)"
        )
    lines = [head]
    archs = sorted(claims["arch"].astype(str).unique())
    for reg in [r for r in regularizers if r != reference]:
        for arch in archs:
            of_arch = claims[claims["arch"].astype(str) == arch]
            mine = of_arch[of_arch["group_a"].astype(str) == reg].set_index("noise")
            parts = [
                _claim(mine.loc[noise], noise)
                if noise in mine.index
                else f"{noise} no estimate (see the claims table)"
                for noise in sorted(of_arch["noise"].astype(str).unique())
            ]
            label = f"{arch} {reg}" if len(archs) > 1 else reg
            lines.append(f"- {label}: " + "; ".join(parts))
    return lines


def _dataset_lines(
    dataset: str,
    methods: list[str],
    claims: pd.DataFrame,
    regularizers: list[str],
    accuracy: pd.DataFrame,
    reference: str,
) -> list[str]:
    """The lines of one dataset: its methods (`method_lines`), the regulariser claims, its
    accuracy range."""
    lines = [f"{dataset}:", *methods]
    others = [r for r in regularizers if r != reference]
    if reference not in regularizers:
        lines.append(f"- regularisers: no comparison ({reference} was not trained)")
    elif not others:
        lines.append(f"- regularisers: only {reference} trained, nothing to compare")
    else:
        lines += _claims_lines(claims, regularizers, reference)
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
    """The headline text (at most MAX_LINES lines) from the robustness table, the claims table
    (`regularizer_table`, camrobust/stats/claims.py) and the accuracy table; `where` names the
    summary table
    (`summary`), the per-image table (`per_image`), the stats folder (`stats`) and the report
    (`report`). Datasets that do not fit are named in one line pointing at the summary."""
    methods = method_lines(robust, measure)
    require_columns(regularizer_table, CLAIM_COLUMNS, "claims table")
    claims = regularizer_table[regularizer_table["group_b"].astype(str) == reference]
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
            claims[claims["dataset"].astype(str) == dataset],
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
