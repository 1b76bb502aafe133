"""Robustness against faithfulness per model: is a stable method stable because it is blind?

One panel per (dataset, model); one point per CAM method at x = its robustness H (levels
pooled, averaged over the noise families) and y = its mean faithfulness score with the
bootstrap interval. A method far right but low is stable because it is uninformative.
"""

from __future__ import annotations

import os

import pandas as pd
from matplotlib.figure import Figure

from camrobust.report.figures import _drop_unused, _grid, _need, _new_figure, _robust_rows, save


def build_h_vs_faithfulness(
    robust: pd.DataFrame, quality: pd.DataFrame, measure: str, metric: str = "road_combined"
) -> Figure:
    """The H-vs-faithfulness scatter, from the robustness table and the quality summary."""
    rows = _robust_rows(robust, measure, pooled=True, columns=("robustness",))
    _need(
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
        y = sub["mean"].to_numpy(dtype=float)
        err = [y - sub["mean_lo"].to_numpy(dtype=float), sub["mean_hi"].to_numpy(dtype=float) - y]
        ax.errorbar(sub["robustness"], y, yerr=err, fmt="o", ms=4, capsize=2)
        for (_, _, method), x_val, y_val in zip(sub.index, sub["robustness"], y, strict=True):
            ax.annotate(
                method, (x_val, y_val), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        ax.set_title(f"{dataset} / {model}", fontsize=9)
        ax.set_xlabel(f"robustness H ({measure}, mean over noises)")
        ax.set_ylabel(metric)
    _drop_unused(fig, axes, len(groups))
    return fig


def h_vs_faithfulness(
    path: str | os.PathLike,
    robust: pd.DataFrame,
    quality: pd.DataFrame,
    measure: str,
    metric: str = "road_combined",
) -> None:
    """Write the H-vs-faithfulness scatter, one panel per model."""
    save(build_h_vs_faithfulness(robust, quality, measure, metric), path)
