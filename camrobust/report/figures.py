"""Report figures (PNG, Agg): CAM grids, H heatmaps, severity curves, ranks, accuracy, forest plot.

Each `build_*` returns a matplotlib Figure (so tests can inspect its panels); the matching public
function writes it to one PNG atomically and returns nothing. No pyplot: no global state.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from camrobust.io import atomic_path
from camrobust.report.accuracy import accuracy_by_level
from camrobust.stats.validate import numeric_levels

DPI = 100


def _new_figure(nrows: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure with an nrows × ncols grid of panels of `panel` inches each."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _drop_unused(fig: Figure, axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        fig.delaxes(ax)


def _colors(names: Sequence[str]) -> dict[str, str]:
    """One matplotlib cycle colour per name, in order."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _legend(fig: Figure, colors: dict[str, str]) -> None:
    """A legend below the panels: one colour patch per name (at most six per row)."""
    handles = [Patch(color=color, label=name) for name, color in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(colors), 6))


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


def save(fig: Figure, path: str | os.PathLike) -> None:
    """Write `fig` as PNG atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def _need(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks columns: {', '.join(missing)}")


def _robust_rows(robust: pd.DataFrame, measure: str, pooled: bool, columns: Sequence[str]):
    """Robustness rows of one measure, levels pooled ('all') or per level; error when none."""
    _need(robust, ("dataset", "model", "method", "noise", "level", "measure", *columns), "robust")
    pooled_rows = robust["level"].astype(str) == "all"
    rows = robust[(robust["measure"] == measure) & (pooled_rows if pooled else ~pooled_rows)]
    if rows.empty:
        kind = "pooled (level 'all')" if pooled else "per-level"
        raise ValueError(f"no {kind} robustness rows for measure {measure!r}")
    return rows


# CAM grid ---------------------------------------------------------------------------------


# Pixel layout of the CAM grid. The grid is one RGB mosaic on one axes drawn 1:1 on the canvas:
# a few hundred axes with two imshows each made the figure ~30x slower to build and save.
_CELL_PX = 128  # aim for cells about this many pixels wide (integer upscaling of the image)
_GAP_PX = 6  # between cells of one image and between rows
_GROUP_GAP_PX = 16  # between the columns of different images
_PAD_PX = 2  # around the mosaic, so that the cell frames fit
_MARGIN_PX = (24, 36, 4, 4)  # left (row labels), top (two-line titles), right, bottom
_FRAME = 64  # grey level of the 1-pixel frame around each cell
_OVERLAY_ALPHA = 0.5


def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of bilinear resampling with pixel centres aligned and edges clamped.

    The same sampling as imshow(..., extent=(0, W, H, 0), interpolation="bilinear").
    """
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(weights, (np.arange(n_out), hi), frac)
    return weights


def _stretch(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Maps (..., h, w) resampled bilinearly to (..., height, width)."""
    rows = _bilinear_weights(maps.shape[-2], height)
    cols = _bilinear_weights(maps.shape[-1], width)
    return rows @ maps @ cols.T


def _cam_cells(images: np.ndarray, maps: np.ndarray, scale: int) -> np.ndarray:
    """uint8 RGB cells (1 + M, 1 + L, N, H·scale, W·scale, 3): the inputs, then the overlays.

    Images are upscaled by pixel repetition (grey ones shown on a fixed 0-255 scale); maps are
    stretched bilinearly over them and blended as jet at alpha 0.5, as imshow composited them.
    """
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    big = np.repeat(np.repeat(images, scale, axis=-3), scale, axis=-2).astype(np.float32)
    height, width = big.shape[-3:-1]
    # imshow(vmin=0, vmax=1) puts values outside [0, 1] at the ends of the colormap.
    stretched = np.clip(_stretch(maps, height, width), 0.0, 1.0)
    rgba = colormaps["jet"](stretched, bytes=True)  # NaN -> the transparent "bad" colour
    alpha = (_OVERLAY_ALPHA / 255.0) * rgba[..., 3:].astype(np.float32)
    overlays = big * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    cells = np.concatenate([big[None], overlays])
    return np.rint(cells).astype(np.uint8)


def _cam_mosaic(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells laid out on a white canvas: row r, column i·(1 + L) + v holds cells[r, v, i].

    Returns the mosaic, opaque uint8 RGBA (height, width, 4) as Agg draws it without a copy,
    and the top and left pixel of each row and column.
    """
    n_rows, n_views, n_img, height, width, _ = cells.shape
    cols = np.arange(n_img * n_views)
    lefts = _PAD_PX + cols * (width + _GAP_PX) + (cols // n_views) * (_GROUP_GAP_PX - _GAP_PX)
    tops = _PAD_PX + np.arange(n_rows) * (height + _GAP_PX)
    mosaic = np.full((tops[-1] + height + _PAD_PX, lefts[-1] + width + _PAD_PX, 4), 255, np.uint8)
    rgb = mosaic[..., :3]
    for r, top in enumerate(tops):
        for c, left in enumerate(lefts):
            rgb[top - 1 : top + height + 1, left - 1 : left + width + 1] = _FRAME
            rgb[top : top + height, left : left + width] = cells[r, c % n_views, c // n_views]
    return mosaic, tops, lefts


def build_cam_grid(
    images: np.ndarray,
    maps: np.ndarray,
    preds: np.ndarray,
    class_names: Sequence[str],
    methods: Sequence[str],
    levels: Sequence[str],
) -> Figure:
    """Top row the inputs (clean, then each level) per image, then one row of overlays per method.

    images: uint8 (1 + L, N, H, W, C), index 0 clean, C = 1 (grey, 0-255) or 3; maps:
    (M, 1 + L, N, h, w) in [0, 1], any resolution (stretched bilinearly over the image, jet at
    alpha 0.5; NaN shows no overlay); preds: (1 + L, N) predicted classes.
    Titles give the predicted class, red where it differs from the clean prediction.
    The grid is one image on a single axes, drawn 1:1 (images upscaled by a whole factor to about
    128 pixels, larger ones kept as they are); its texts are the titles and the row labels
    ("input", then the methods).
    """
    images = np.asarray(images)
    maps = np.asarray(maps, dtype=float)
    preds = np.asarray(preds)
    if images.ndim != 5 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 (1+L, N, H, W, C), got {images.dtype} {images.shape}"
        )
    n_views, n_img, height, width, _ = images.shape
    if n_views != len(levels) + 1:
        raise ValueError(f"images has {n_views} views but 1 + {len(levels)} levels expected")
    if maps.shape[:3] != (len(methods), n_views, n_img) or maps.ndim != 5:
        raise ValueError(
            f"maps must be (M={len(methods)}, 1+L={n_views}, N={n_img}, h, w), got {maps.shape}"
        )
    if preds.shape != (n_views, n_img):
        raise ValueError(f"preds must be (1+L={n_views}, N={n_img}), got {preds.shape}")
    if preds.min() < 0 or preds.max() >= len(class_names):
        raise ValueError(f"preds hold class ids outside 0..{len(class_names) - 1}")
    scale = max(1, round(_CELL_PX / max(height, width)))
    mosaic, tops, lefts = _cam_mosaic(_cam_cells(images, maps, scale))
    cell_h, cell_w = height * scale, width * scale
    left, top, right, bottom = _MARGIN_PX
    fig_w, fig_h = left + mosaic.shape[1] + right, top + mosaic.shape[0] + bottom
    fig = Figure(figsize=(fig_w / DPI, fig_h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    # The axes spans exactly the mosaic's pixels, so the image is drawn 1:1 (no interpolation).
    ax = fig.add_axes(
        (left / fig_w, bottom / fig_h, mosaic.shape[1] / fig_w, mosaic.shape[0] / fig_h)
    )
    ax.imshow(mosaic, interpolation="none", aspect="auto")
    ax.set_axis_off()
    # Data coordinates are mosaic pixels (centres at integers, y down), texts sit in the margins.
    titles = ["clean", *(f"level {lv}" for lv in levels)]
    for c, x in enumerate(lefts):
        v, i = c % n_views, c // n_views
        ax.text(
            x + cell_w / 2 - 0.5,
            -_PAD_PX,
            f"{titles[v]}\n{class_names[int(preds[v, i])]}",
            ha="center",
            va="bottom",
            fontsize=8,
            color="tab:red" if preds[v, i] != preds[0, i] else "black",
        )
    for label, y in zip(["input", *methods], tops, strict=True):
        ax.text(
            -_PAD_PX - 2,
            y + cell_h / 2 - 0.5,
            label,
            rotation=90,
            ha="right",
            va="center",
            fontsize=9,
        )
    return fig


def cam_grid(
    path: str | os.PathLike,
    images: np.ndarray,
    maps: np.ndarray,
    preds: np.ndarray,
    class_names: Sequence[str],
    methods: Sequence[str],
    levels: Sequence[str],
) -> None:
    """Write the CAM grid of `build_cam_grid` to `path`."""
    save(build_cam_grid(images, maps, preds, class_names, methods, levels), path)


# H heatmap --------------------------------------------------------------------------------


def build_h_heatmap(robust: pd.DataFrame, measure: str) -> Figure:
    """One panel per (dataset, model): CAM method × noise heatmap of H, levels pooled, annotated."""
    rows = _robust_rows(robust, measure, pooled=True, columns=("robustness",))
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
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        ax.set_xlabel("noise")
        ax.set_ylabel("CAM method")
    _drop_unused(fig, axes, len(groups))
    fig.colorbar(image, ax=axes.flat[: len(groups)], label=f"robustness H ({measure})")
    return fig


def h_heatmap(path: str | os.PathLike, robust: pd.DataFrame, measure: str) -> None:
    """Write the method × noise H heatmaps, one panel per model."""
    save(build_h_heatmap(robust, measure), path)


# Severity curves --------------------------------------------------------------------------


def build_severity_curves(robust: pd.DataFrame, measure: str) -> Figure:
    """Consistency C (mean kept-pair similarity) vs level with its CI band, per model × noise."""
    rows = _robust_rows(
        robust, measure, pooled=False, columns=("consistency", "consistency_lo", "consistency_hi")
    )

    def draw(ax: Axes, line: pd.DataFrame, method: str, color: str) -> None:
        ax.plot(line["x"], line["consistency"], marker="o", ms=3, color=color, label=method)
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


def severity_curves(path: str | os.PathLike, robust: pd.DataFrame, measure: str) -> None:
    """Write similarity-vs-severity curves with 95% bands, one panel per model × noise."""
    save(build_severity_curves(robust, measure), path)


# Kept vs flipped --------------------------------------------------------------------------


def build_kept_flipped(per_image: pd.DataFrame, measure: str) -> Figure:
    """Per (dataset, model): boxes of kept and flipped pair similarity for each CAM method."""
    _need(per_image, ("dataset", "model", "method", "kept", measure), "per-image table")
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
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        ax.set_ylabel(f"similarity ({measure})")
    _drop_unused(fig, axes, len(groups))
    _legend(fig, {"kept": colors[True], "flipped": colors[False]})
    return fig


def kept_flipped(path: str | os.PathLike, per_image: pd.DataFrame, measure: str) -> None:
    """Write kept vs flipped similarity distributions per model and CAM method."""
    save(build_kept_flipped(per_image, measure), path)


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
    _need(
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
                f"{name} ({r:.2f})",
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


def average_ranks(path: str | os.PathLike, method_ranks: pd.DataFrame) -> None:
    """Write critical-difference style average-rank plots (noises and levels pooled)."""
    save(build_average_ranks(method_ranks), path)


# Accuracy vs severity ---------------------------------------------------------------------


def build_accuracy_vs_severity(per_image: pd.DataFrame) -> Figure:
    """Accuracy vs level (0 = clean) with one line per regulariser, per (dataset, arch) × noise."""
    acc = accuracy_by_level(per_image)

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


def accuracy_vs_severity(path: str | os.PathLike, per_image: pd.DataFrame) -> None:
    """Write accuracy vs severity per regulariser (from pred_noisy == label)."""
    save(build_accuracy_vs_severity(per_image), path)


# Forest plot ------------------------------------------------------------------------------


def build_forest_plot(mixedlm: pd.DataFrame) -> Figure:
    """Regulariser coefficients vs the reference with CIs: main effect and slope, per arch."""
    _need(
        mixedlm,
        ("dataset", "arch", "method", "noise", "measure", "factor", "group_a", "effect_size")
        + ("ci_lo", "ci_hi"),
        "mixedlm",
    )
    # Intercepts have no group; read back from CSV their empty group_a is NaN.
    named = mixedlm["group_a"].notna() & (mixedlm["group_a"].astype(str) != "")
    terms = mixedlm[named]
    if terms.empty:
        raise ValueError("mixedlm has no regularizer coefficients to plot")
    terms = terms.assign(
        kind=np.where(terms["factor"].str.endswith(":level"), "slope", "main"),
        row=terms["method"].astype(str) + " / " + terms["noise"].astype(str),
    )
    kinds = [k for k in ("main", "slope") if (terms["kind"] == k).any()]
    titles = {"main": "effect at mean level", "slope": "effect on slope per level"}
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
                err = np.vstack([x - pts["ci_lo"], pts["ci_hi"] - x])
                ax.errorbar(x, y, xerr=err, fmt="o", ms=3, color=colors[reg], capsize=2, lw=1)
            ax.axvline(0.0, color="grey", lw=0.8, ls="--")
            ax.set_yticks(range(len(labels)), labels if c == 0 else [], fontsize=7)
            ax.set_ylim(-0.7, len(labels) - 0.3)
            ax.invert_yaxis()
            reference = part["group_b"].iloc[0] if "group_b" in part and len(part) else "reference"
            ax.set_title(f"{dataset} / {arch} ({measure}): {titles[kind]}", fontsize=8)
            ax.set_xlabel(f"coefficient vs {reference}")
    _legend(fig, colors)
    return fig


def forest_plot(path: str | os.PathLike, mixedlm: pd.DataFrame) -> None:
    """Write the forest plot of the mixed model's regulariser effects with confidence intervals."""
    save(build_forest_plot(mixedlm), path)
