"""The report figures by name: the table each one draws and the config keys it reads.

The one list of figures: the `figure` rule expands its names and `camrobust.report.draw`
dispatches on them. Figure `name` is drawn by `build_<name>` of its spec's `module` (by default
`camrobust.report.figures`). Imports nothing heavy
(no matplotlib, no torch): the Snakefile reads it on every dry run.
"""

from __future__ import annotations

from dataclasses import dataclass

from camrobust.explanation_names import EXPLANATION_ATTACK


@dataclass(frozen=True)
class FigureSpec:
    """What one figure reads: an input table (and `extra`, a second one) and, if `uses_measure`,
    `report.measure`; and whether it compares regularisers (so needs models of two of them,
    `compares_regularizers`). A figure with the quality table as `extra` is drawn only when
    `metrics.faithfulness` is enabled; one with a `noise`, only when that noise is configured;
    one of fixed `measures`, only when every one of them is in `metrics.measures`."""

    table: str  # robustness, per_image, or a stats table (method_ranks, regularizers)
    uses_measure: bool
    compares_regularizers: bool = False
    extra: str | None = None  # the quality table, or a second stats table (mixedlm)
    measures: tuple[str, ...] = ()
    noise: str | None = None  # the noise it is about
    module: str = "camrobust.report.figures"  # where its builder is


FIGURES: dict[str, FigureSpec] = {
    # The paper's metric against the baseline it argues against and this project's H.
    "method_rankings": FigureSpec("robustness", uses_measure=False, measures=("rbo", "l1", "ssim")),
    "h_heatmap": FigureSpec("robustness", uses_measure=True),
    "severity_curves": FigureSpec("robustness", uses_measure=True),
    "kept_flipped": FigureSpec("per_image", uses_measure=True),
    "average_ranks": FigureSpec("method_ranks", uses_measure=False),
    "accuracy_vs_severity": FigureSpec("per_image", uses_measure=False),
    "forest_plot": FigureSpec(
        "regularizers", uses_measure=False, compares_regularizers=True, extra="mixedlm"
    ),
    "h_vs_faithfulness": FigureSpec("robustness", uses_measure=True, extra="quality"),
    "explanation_attack": FigureSpec(
        "robustness",
        uses_measure=True,
        noise=EXPLANATION_ATTACK,
        module="camrobust.report.explanation_figure",
    ),
}


def figure_spec(name: str) -> FigureSpec:
    """The spec of figure `name`; a clear error for an unknown one."""
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r} (known: {', '.join(FIGURES)})") from None
