"""The explanation-attack figure: per CAM method, the consistency under the worst case found for
its own map (the explanation attack) next to that under a random perturbation of the same budget
(linf_random, a random vertex of the same L-inf ball), with the placebo methods marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from camrobust.cam.methods import METHODS, PLACEBOS
from camrobust.explanation_names import EXPLANATION_ATTACK, LINF_RANDOM
from camrobust.report.tables import measure_rows

_COLUMNS = ("consistency", "consistency_lo", "consistency_hi")
_STYLE = {  # noise -> (marker, fill, label)
    LINF_RANDOM: ("o", "none", "random vertex of the same ball (linf_random)"),
    EXPLANATION_ATTACK: ("o", "full", "explanation attack (worst case found)"),
}


def consistency_by_method(robust: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Per (level, method, noise) of the two noises: the mean over models of the consistency C
    and of its bootstrap bounds (each model's interval is its own; the mean of the bounds is
    wider than the interval of the mean would be)."""
    rows = measure_rows(robust, measure, _COLUMNS, pooled=False)
    rows = rows[rows["noise"].isin(list(_STYLE))]
    if rows.empty:
        raise ValueError(f"the robustness table has no {EXPLANATION_ATTACK} or {LINF_RANDOM} rows")
    return rows.groupby(["level", "method", "noise"], sort=True)[list(_COLUMNS)].mean()


def _method_order(methods: set[str]) -> list[str]:
    """The report's method order (methods the registry does not know last, by name)."""
    known = [m for m in METHODS if m in methods]
    return known + sorted(methods - set(known))


def _label(method: str, attacked: bool) -> str:
    """A method's tick label, saying whether it is a placebo and whether it was attacked."""
    notes = [*(["placebo"] if method in PLACEBOS else []), *([] if attacked else ["not attacked"])]
    return f"{method} ({', '.join(notes)})" if notes else method


def build_explanation_attack(robust: pd.DataFrame, measure: str) -> Figure:
    """One panel per budget: each method's C under linf_random (open) and under the explanation
    attack (filled), means over the models with the mean bootstrap bounds; placebos in grey."""
    means = consistency_by_method(robust, measure)
    levels = sorted(means.index.get_level_values("level").unique(), key=float)
    n_methods = means.index.get_level_values("method").nunique()
    fig = Figure(figsize=(4.6 * len(levels), 0.35 * n_methods + 1.6), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, level in zip(fig.subplots(1, len(levels), squeeze=False)[0], levels, strict=True):
        panel = means.xs(level, level="level")
        methods = _method_order(set(panel.index.get_level_values("method")))
        for y, method in enumerate(methods):
            colour = "0.55" if method in PLACEBOS else "C0"
            values = []
            for noise, (marker, fill, _) in _STYLE.items():
                if (method, noise) not in panel.index:
                    continue
                c, lo, hi = panel.loc[(method, noise), list(_COLUMNS)].to_numpy(dtype=float)
                err = np.nan_to_num([[c - lo], [hi - c]], nan=0.0)  # no bootstrap: no bars
                ax.errorbar([c], [y], xerr=err, fmt=marker, fillstyle=fill, color=colour,
                            ms=6, capsize=2)  # fmt: skip
                values.append(c)
            if len(values) == 2:
                ax.plot(values, [y, y], color=colour, lw=1)
        labels = [_label(m, (m, EXPLANATION_ATTACK) in panel.index) for m in methods]
        ax.set_yticks(range(len(methods)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"eps {level}/255", fontsize=9)
        ax.set_xlabel(f"consistency C ({measure}, mean over models)")
    handles = [
        Line2D([], [], marker=marker, fillstyle=fill, color="C0", ls="", label=label)
        for marker, fill, label in _STYLE.values()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=1, fontsize=8)
    return fig
