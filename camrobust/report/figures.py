"""Report figures (PNG, Agg): method rankings by the paper's metric and its alternatives, H
heatmaps, severity curves, ranks, accuracy, forest plot, H vs faithfulness.

Each `build_<name>` draws the figure `name` of `camrobust.report.registry.FIGURES` from its
input table (and its second one, if any) and returns a matplotlib Figure (so tests can inspect
its panels); `camrobust.report.draw` draws one by name and writes its PNG. No pyplot: no global
state.
The CAM grids are drawn in `camrobust.report.cam_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from camrobust.columns import COMPARISON_KEYS
from camrobust.frames import levels_pooled, require_columns
from camrobust.report.accuracy import accuracy_by_level
from camrobust.report.registry import figure_spec
from camrobust.report.tables import measure_rows
from camrobust.stats.endpoints import PRIMARY as PRIMARY_ENDPOINT
from camrobust.stats.validate import numeric_levels


def _new_figure(nrows: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure with an nrows × ncols grid of panels of `panel` inches each."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _drop_unused(fig: Figure, axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        fig.delaxes(ax)


def placebo_methods(table: pd.DataFrame) -> set[str]:
    """The methods a table marks as placebos (its `placebo` column; none without one)."""
    if "placebo" not in table or "method" not in table:
        return set()
    flags = table["placebo"].astype(str).str.lower() == "true"
    return set(table.loc[flags, "method"].astype(str))


def method_label(method: str, placebos: AbstractSet[str]) -> str:
    """A method's name in a figure, marked when it is a placebo baseline."""
    return f"{method} (placebo)" if method in placebos else method


def _colors(names: Sequence[str]) -> dict[str, str]:
    """One matplotlib cycle colour per name, in order."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _legend(fig: Figure, colors: dict[str, str], per_row: int = 6) -> None:
    """A legend below the panels: one colour patch per name (at most `per_row` per row)."""
    handles = [Patch(color=color, label=name) for name, color in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(colors), per_row))


def _curve_panels(
    rows: pd.DataFrame,
    panel: str,
    group: str,
    draw: Callable[[Axes, pd.DataFrame, str, str], None],
    *,
    xlabel: str,
    ylabel: str,
    ymax: float,
) -> Figure:
    """A panel per (dataset, `panel`) × noise; `draw(ax, line, name, color)` per `group` value.

    Each line holds one `group` value's rows of the panel, sorted by the column `x`.
    """
    panels = sorted(rows.groupby(["dataset", panel]).groups)
    noises = sorted(rows["noise"].astype(str).unique())
    colors = _colors(sorted(rows[group].astype(str).unique()))
    fig, axes = _new_figure(len(panels), len(noises), (3.0, 2.4))
    for r, (dataset, key) in enumerate(panels):
        for c, noise in enumerate(noises):
            ax = axes[r, c]
            sub = rows[
                (rows["dataset"] == dataset)
                & (rows[panel] == key)
                & (rows["noise"].astype(str) == noise)
            ]
            for name, line in sub.groupby(sub[group].astype(str)):
                draw(ax, line.sort_values("x"), name, colors[name])
            ax.set_title(f"{dataset} / {key} / {noise}", fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel if c == 0 else "")
            ax.set_ylim(0.0, ymax)
    _legend(fig, colors)
    return fig


# H heatmap --------------------------------------------------------------------------------


def build_h_heatmap(robust: pd.DataFrame, measure: str) -> Figure:
    """One panel per (dataset, model): CAM method × noise heatmap of H, levels pooled, annotated."""
    rows = measure_rows(robust, measure, ("robustness",))
    groups = list(rows.groupby(["dataset", "model"], sort=True))
    methods = sorted(rows["method"].astype(str).unique())
    noises = sorted(rows["noise"].astype(str).unique())
    nrows, ncols = _grid(len(groups))
    panel = (1.0 + 0.7 * len(noises), 0.8 + 0.4 * len(methods))
    fig, axes = _new_figure(nrows, ncols, panel)
    image = None
    for ax, ((dataset, model), sub) in zip(axes.flat, groups, strict=False):
        grid = (
            sub.assign(method=sub["method"].astype(str), noise=sub["noise"].astype(str))
            .pivot_table(index="method", columns="noise", values="robustness", aggfunc="first")
            .reindex(index=methods, columns=noises)
        )
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for (r, c), v in np.ndenumerate(values):
            text = "n/a" if np.isnan(v) else f"{v:.2f}"
            ax.text(c, r, text, ha="center", va="center", fontsize=7, color="w" if v < 0.6 else "k")
        ax.set_xticks(range(len(noises)), noises, rotation=45, ha="right", fontsize=8)
        labels = [method_label(m, placebo_methods(rows)) for m in methods]
        ax.set_yticks(range(len(methods)), labels, fontsize=8)
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        ax.set_xlabel("noise")
        ax.set_ylabel("CAM method")
    _drop_unused(fig, axes, len(groups))
    fig.colorbar(image, ax=axes.flat[: len(groups)], label=f"robustness H ({measure})")
    return fig


# Severity curves --------------------------------------------------------------------------


def build_severity_curves(robust: pd.DataFrame, measure: str) -> Figure:
    """Consistency C (mean kept-pair similarity) vs level with its CI band, per model × noise."""
    rows = measure_rows(
        robust, measure, pooled=False, columns=("consistency", "consistency_lo", "consistency_hi")
    )

    placebos = placebo_methods(rows)
    # the legend names the lines by these labels; the baselines are dashed
    rows = rows.assign(method=[method_label(m, placebos) for m in rows["method"].astype(str)])
    dashed = {method_label(m, placebos) for m in placebos}

    def draw(ax: Axes, line: pd.DataFrame, method: str, color: str) -> None:
        style = "--" if method in dashed else "-"
        ax.plot(line["x"], line["consistency"], style, marker="o", ms=3, color=color, label=method)
        ax.fill_between(
            line["x"], line["consistency_lo"], line["consistency_hi"], color=color, alpha=0.2, lw=0
        )

    return _curve_panels(
        rows.assign(x=numeric_levels(rows["level"])),
        "model",
        "method",
        draw,
        xlabel="level",
        ylabel=f"C ({measure})",
        ymax=1.0,
    )


# Kept vs flipped --------------------------------------------------------------------------


def build_kept_flipped(per_image: pd.DataFrame, measure: str) -> Figure:
    """Per (dataset, model): boxes of kept and flipped pair similarity for each CAM method."""
    require_columns(per_image, ("dataset", "model", "method", "kept", measure), "per-image table")
    groups = list(per_image.groupby(["dataset", "model"], sort=True))
    methods = sorted(per_image["method"].astype(str).unique())
    nrows, ncols = _grid(len(groups))
    fig, axes = _new_figure(nrows, ncols, (1.0 + 0.8 * len(methods), 3.0))
    colors = {True: "tab:blue", False: "tab:orange"}
    for ax, ((dataset, model), sub) in zip(axes.flat, groups, strict=False):
        for i, method in enumerate(methods):
            rows = sub[sub["method"].astype(str) == method]
            for kept, shift in ((True, -0.2), (False, 0.2)):
                values = rows.loc[rows["kept"].astype(bool) == kept, measure].dropna()
                if values.empty:
                    continue
                box = ax.boxplot(
                    [values.to_numpy(dtype=float)],
                    positions=[i + shift],
                    widths=0.35,
                    patch_artist=True,
                    showfliers=False,
                )
                box["boxes"][0].set_facecolor(colors[kept])
        labels = [method_label(m, placebo_methods(per_image)) for m in methods]
        ax.set_xticks(range(len(methods)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        ax.set_ylabel(f"similarity ({measure})")
    _drop_unused(fig, axes, len(groups))
    _legend(fig, {"kept": colors[True], "flipped": colors[False]})
    return fig


# Average ranks ----------------------------------------------------------------------------


def _cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs of sorted ranks spanning less than the critical difference."""
    runs = []
    for i in range(len(ranks)):
        j = i
        while j + 1 < len(ranks) and ranks[j + 1] - ranks[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return runs


def build_average_ranks(
    method_ranks: pd.DataFrame, noise: str = "all", level: str = "all"
) -> Figure:
    """Critical-difference style plots of average method ranks (1 = most stable), per model."""
    require_columns(
        method_ranks,
        ("dataset", "model", "noise", "level", "measure", "method", "avg_rank", "cd", "n"),
        "method_ranks",
    )
    rows = method_ranks[
        (method_ranks["noise"].astype(str) == noise) & (method_ranks["level"].astype(str) == level)
    ]
    rows = rows[np.isfinite(rows["avg_rank"].to_numpy(dtype=float))]
    if rows.empty:
        raise ValueError(f"no method ranks for noise={noise!r}, level={level!r}")
    groups = list(rows.groupby(["dataset", "model", "measure"], sort=True))
    k_max = int(rows.groupby(["dataset", "model", "measure"])["method"].count().max())
    nrows, ncols = _grid(len(groups), max_cols=2)
    fig, axes = _new_figure(nrows, ncols, (5.5, 1.2 + 0.3 * k_max))
    for ax, ((dataset, model, measure), sub) in zip(axes.flat, groups, strict=False):
        sub = sub.sort_values("avg_rank")
        ranks = sub["avg_rank"].to_numpy(dtype=float)
        names = sub["method"].astype(str).tolist()
        k = len(ranks)
        cd = float(sub["cd"].iloc[0])
        ax.hlines(0, 1, k, color="k", lw=1)
        for t in range(1, k + 1):
            ax.vlines(t, 0, 0.1, color="k", lw=1)
            ax.text(t, 0.15, str(t), ha="center", va="bottom", fontsize=8)
        half = math.ceil(k / 2)
        for i, (r, name) in enumerate(zip(ranks, names, strict=True)):
            left = i < half
            depth = -0.35 * ((i if left else k - 1 - i) + 1)
            edge = 1 - 0.3 if left else k + 0.3
            ax.plot([r, r, edge], [0, depth, depth], color="k", lw=0.8)
            ax.text(
                edge - 0.05 if left else edge + 0.05,
                depth,
                f"{method_label(name, placebo_methods(method_ranks))} ({r:.2f})",
                ha="right" if left else "left",
                va="center",
                fontsize=8,
            )
        if np.isfinite(cd):
            ax.plot([1, 1 + cd], [0.55, 0.55], color="tab:red", lw=2)
            ax.text(1 + cd / 2, 0.6, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8)
            for j, (a, b) in enumerate(_cliques(ranks, cd)):
                y = -0.12 - 0.08 * j
                ax.plot([ranks[a] - 0.03, ranks[b] + 0.03], [y, y], color="k", lw=3)
        ax.set_xlim(-1.5, k + 2.5)
        ax.set_ylim(-0.35 * (half + 1), 0.9)
        ax.set_axis_off()
        n = int(sub["n"].iloc[0])
        ax.set_title(f"{dataset} / {model} ({measure}, {n} blocks)", fontsize=9)
    _drop_unused(fig, axes, len(groups))
    return fig


# Accuracy vs severity ---------------------------------------------------------------------


def build_accuracy_vs_severity(per_image: pd.DataFrame) -> Figure:
    """Accuracy vs level (0 = clean) with one line per regulariser, per (dataset, arch) × noise.

    With several training seeds a line is the mean over the regulariser's models.
    """
    keys = ["dataset", "arch", "regularizer", "noise", "level"]
    acc = accuracy_by_level(per_image).groupby(keys, sort=True)["accuracy"].mean().reset_index()

    def draw(ax: Axes, line: pd.DataFrame, _: str, color: str) -> None:
        ax.plot(line["x"], line["accuracy"], marker="o", ms=3, color=color)

    return _curve_panels(
        acc.assign(x=numeric_levels(acc["level"])),
        "arch",
        "regularizer",
        draw,
        xlabel="level (0 = clean)",
        ylabel="accuracy",
        ymax=1.02,
    )


# Forest plot ------------------------------------------------------------------------------


def _forest_terms(regularizers: pd.DataFrame, mixedlm: pd.DataFrame) -> pd.DataFrame:
    """The estimates a forest plot shows, one row each with its `kind`: the model-level test's
    difference of model values on the primary endpoint (levels pooled, or a noise's only
    level), the mixed model's main effect at the mean level and its effect on the slope."""
    keys = COMPARISON_KEYS
    bounds = ("effect_size", "ci_lo", "ci_hi")
    require_columns(regularizers, (*keys, "level", *bounds), "regularizers")
    require_columns(mixedlm, (*keys, "factor", *bounds), "mixedlm")
    # Intercepts and notes have no group; read back from CSV their empty group_a is NaN.
    named = mixedlm["group_a"].notna() & (mixedlm["group_a"].astype(str) != "")
    mixed = mixedlm[named]
    mixed = mixed.assign(kind=np.where(mixed["factor"].str.endswith(":level"), "slope", "main"))
    primary = levels_pooled(regularizers)
    if "endpoint" in primary:  # the consistency on the images every model of a seed kept
        primary = primary[primary["endpoint"].astype(str) == PRIMARY_ENDPOINT]
    primary = primary[primary["group_a"].notna() & primary["effect_size"].notna()]
    terms = pd.concat([primary.assign(kind="model means"), mixed], ignore_index=True)
    if terms.empty:
        raise ValueError("regularizers and mixedlm have no regularizer estimates to plot")
    placebos = placebo_methods(regularizers)
    methods = [method_label(m, placebos) for m in terms["method"].astype(str)]
    row = pd.Series(methods, index=terms.index) + " / " + terms["noise"].astype(str)
    return terms[[*keys, *bounds, "kind"]].assign(row=row)


def build_forest_plot(regularizers: pd.DataFrame, mixedlm: pd.DataFrame) -> Figure:
    """Each regulariser against the reference with its interval, per architecture: the primary
    test on model means, then the mixed model's main effect and slope (docs/metric.md)."""
    terms = _forest_terms(regularizers, mixedlm)
    kinds = [k for k in ("model means", "main", "slope") if (terms["kind"] == k).any()]
    titles = {
        "model means": "model means: C on images all kept",
        "main": "mixed model: effect at mean level",
        "slope": "mixed model: effect on slope per level",
    }
    groups = list(terms.groupby(["dataset", "arch", "measure"], sort=True))
    regs = sorted(terms["group_a"].astype(str).unique())
    colors = _colors(regs)
    n_rows = max(sub["row"].nunique() for _, sub in groups)
    fig, axes = _new_figure(len(groups), len(kinds), (4.0, 1.0 + 0.3 * n_rows))
    for g, ((dataset, arch, measure), sub) in enumerate(groups):
        labels = sorted(sub["row"].unique())
        ypos = {lab: i for i, lab in enumerate(labels)}
        for c, kind in enumerate(kinds):
            ax = axes[g, c]
            part = sub[sub["kind"] == kind]
            for j, reg in enumerate(regs):
                pts = part[part["group_a"] == reg]
                if pts.empty:
                    continue
                y = pts["row"].map(ypos).to_numpy() + (j - (len(regs) - 1) / 2) * 0.2
                x = pts["effect_size"].to_numpy(dtype=float)
                # no interval (one model a side, a failed fit): the point alone
                err = np.nan_to_num(np.vstack([x - pts["ci_lo"], pts["ci_hi"] - x]))
                ax.errorbar(x, y, xerr=err, fmt="o", ms=3, color=colors[reg], capsize=2, lw=1)
            ax.axvline(0.0, color="grey", lw=0.8, ls="--")
            ax.set_yticks(range(len(labels)), labels if c == 0 else [], fontsize=7)
            ax.set_ylim(-0.7, len(labels) - 0.3)
            ax.invert_yaxis()
            reference = part["group_b"].iloc[0] if "group_b" in part and len(part) else "reference"
            ax.set_title(f"{dataset} / {arch} ({measure}): {titles[kind]}", fontsize=8)
            ax.set_xlabel(f"difference vs {reference}")
    _legend(fig, colors)
    return fig


# Robustness against faithfulness --------------------------------------------------------

#: the faithfulness score the H-vs-faithfulness figure plots (higher is more faithful)
FAITHFULNESS_AXIS = "road_combined"


def build_h_vs_faithfulness(
    robust: pd.DataFrame, quality: pd.DataFrame, measure: str, metric: str = FAITHFULNESS_AXIS
) -> Figure:
    """Per (dataset, model): each CAM method at its H (levels pooled, mean over the noises)
    against its mean faithfulness score with the bootstrap interval, from the robustness table
    and the quality table. A method far right but low is stable because it is uninformative."""
    rows = measure_rows(robust, measure, ("robustness",))
    require_columns(
        quality, ("dataset", "model", "method", "metric", "mean", "mean_lo", "mean_hi"), "quality"
    )
    h = rows.groupby(["dataset", "model", "method"], sort=True)["robustness"].mean()
    faith = quality[quality["metric"] == metric].set_index(["dataset", "model", "method"])
    both = faith.join(h, how="inner")
    if both.empty:
        raise ValueError(f"no model and method has both robustness ({measure}) and {metric}")
    groups = list(both.groupby(level=["dataset", "model"], sort=True))
    nrows, ncols = _grid(len(groups))
    fig, axes = _new_figure(nrows, ncols, (4.0, 3.2))
    for ax, ((dataset, model), sub) in zip(axes.flat, groups, strict=False):
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        # H is undefined where no prediction flipped, the score where every map is degenerate
        sub = sub[np.isfinite(sub["robustness"]) & np.isfinite(sub["mean"])]
        if sub.empty:
            ax.text(0.5, 0.5, f"no method with both H and {metric}", ha="center",
                    transform=ax.transAxes, fontsize=8)  # fmt: skip
            continue
        y = sub["mean"].to_numpy(dtype=float)
        err = [y - sub["mean_lo"].to_numpy(dtype=float), sub["mean_hi"].to_numpy(dtype=float) - y]
        # no bootstrap (metrics.bootstrap 0): NaN bounds, no bars
        err = np.nan_to_num(np.asarray(err), nan=0.0)
        ax.errorbar(sub["robustness"], y, yerr=err, fmt="o", ms=4, capsize=2)
        for (_, _, method), x_val, y_val in zip(sub.index, sub["robustness"], y, strict=True):
            ax.annotate(
                method_label(method, placebo_methods(rows)),
                (x_val, y_val),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xlabel(f"robustness H ({measure}, mean over noises)")
        ax.set_ylabel(metric)
    _drop_unused(fig, axes, len(groups))
    return fig


# By name ----------------------------------------------------------------------------------


# Method rankings: the paper's metric against its pixel baseline and this project's H ------


#: What ranks the methods in `method_rankings`, per measure of its spec: the paper's RM over rbo,
#: RM over the normalised l1 similarity the paper argues against, and this project's H over SSIM.
RANKING_SCORES = ("rm", "rm", "robustness")


def method_rankings(robust: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and CAM method, its rank (1 = most robust) under each score of the figure:
    the mean over (model, noise) cells, levels pooled; undefined scores rank last."""
    from camrobust.report.headline import method_robustness  # the headline's pooling

    ranks = []
    for measure, score in zip(figure_spec("method_rankings").measures, RANKING_SCORES, strict=True):
        means = method_robustness(robust, measure, score)
        rank = means.groupby("dataset")["h"].rank(ascending=False, method="min", na_option="bottom")
        label = f"{'RM' if score == 'rm' else 'H'} over {measure}"
        ranks.append(means.assign(ranking=label, rank=rank, value=means["h"]))
    return pd.concat(ranks, ignore_index=True)[["dataset", "method", "ranking", "rank", "value"]]


def build_method_rankings(robust: pd.DataFrame) -> Figure:
    """One panel per dataset: each CAM method's rank under RM over rbo (the paper's metric), RM
    over l1 and H over SSIM, joined by a line; Kendall's τ of each ranking with the paper's."""
    from scipy.stats import kendalltau

    ranks = method_rankings(robust)
    labels = list(dict.fromkeys(ranks["ranking"]))
    datasets = sorted(ranks["dataset"].astype(str).unique())
    methods = sorted(ranks["method"].astype(str).unique())
    colors = _colors(methods)
    fig, axes = _new_figure(1, len(datasets), (6.0, 1.6 + 0.32 * len(methods)))
    for ax, dataset in zip(axes.flat, datasets, strict=True):
        table = ranks[ranks["dataset"] == dataset].pivot(
            index="method", columns="ranking", values="rank"
        )[labels]
        for method, row in table.iterrows():
            ax.plot(range(len(labels)), row.to_numpy(), marker="o", color=colors[str(method)])
        taus = [
            f"{label} {kendalltau(table[labels[0]], table[label]).statistic:.2f}"
            for label in labels[1:]
        ]
        ax.set_title(f"{dataset}\nKendall tau with {labels[0]}: {', '.join(taus)}", fontsize=8)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_yticks(range(1, len(methods) + 1))
        ax.set_ylim(len(methods) + 0.5, 0.5)  # rank 1 on top
        ax.set_xlim(-0.3, len(labels) - 0.7)
        ax.set_ylabel("rank (1 = most robust)")
    _legend(fig, colors, per_row=3 * len(datasets))
    return fig
