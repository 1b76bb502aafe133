"""Which CAM methods give the same maps on a model and layer, and the method columns every table
with a method carries: `placebo` (a baseline, not an explanation) and `same_as`.

Two methods are the same when their normalised maps (as the metrics compare them: ReLU, resize
to the image size, min–max) differ by at most `EQUIVALENCE_TOLERANCE` at every pixel of every
clean evaluation image. LayerCAM and element-wise Grad-CAM, for instance, are one map on a layer
that ends in a ReLU, ShapleyCAM and Grad-CAM wherever the network after the layer is piecewise
linear. Each method is compared with the methods before it in report order that are not the same
as an earlier one (the groups' first methods), so `same_as` names the first method of its group.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from camrobust.cam.methods import METHODS, PLACEBOS

#: the largest difference of two normalised maps that still counts as the same map (the maps
#: are stored as float16, so methods that differ at all differ by far more)
EQUIVALENCE_TOLERANCE = 1e-6


def same_as(maps: Mapping[str, np.ndarray], image_size: tuple[int, int]) -> dict[str, str]:
    """{method: the first method in report order whose maps equal its own on every image, or
    "" if none} for the raw maps of one model's clean images (method -> N×h×w)."""
    from camrobust.cam import normalize_maps  # the engine's package: only this step needs it

    order = sorted(maps, key=_report_position)
    normalised = {
        m: normalize_maps(torch.as_tensor(np.asarray(maps[m], dtype=np.float32)), size=image_size)
        for m in order
    }
    firsts: list[str] = []
    out: dict[str, str] = {}
    for method in order:
        match = next(
            (f for f in firsts if _same(normalised[f], normalised[method])),
            "",
        )
        out[method] = match
        if not match:
            firsts.append(method)
    return out


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a - b).abs().max() <= EQUIVALENCE_TOLERANCE)


def _report_position(method: str) -> tuple[int, str]:
    """Report order; a name the registry does not know (a table from elsewhere) goes last."""
    return (METHODS.index(method), "") if method in METHODS else (len(METHODS), method)


def mark_placebos(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with a boolean `placebo` column after its `method` column."""
    out = table.drop(columns=[c for c in ("placebo",) if c in table])
    method = out["method"].astype(str)
    out.insert(out.columns.get_loc("method") + 1, "placebo", method.isin(PLACEBOS).to_numpy())
    return out


def with_method_columns(table: pd.DataFrame, groups: Mapping[str, str]) -> pd.DataFrame:
    """`table` with `placebo` and `same_as` (from `same_as`) inserted after its `method` column."""
    missing = sorted(set(table["method"].astype(str)) - set(groups))
    if missing:
        raise ValueError(f"no equivalence group for method(s) {', '.join(missing)}")
    out = mark_placebos(table.drop(columns=[c for c in ("same_as",) if c in table]))
    method = out["method"].astype(str)
    out.insert(out.columns.get_loc("placebo") + 1, "same_as", method.map(dict(groups)).to_numpy())
    return out
