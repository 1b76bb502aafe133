"""The CAM stage's file format: raw maps per method (float16), logits, predictions, targets.

Maps are stored as float16 scaled per map by a power of two, `maps_<m> · 2^exp_<m>`, so that a
map of any magnitude keeps float16's 11 significant bits: AblationCAM's weights are relative
drops (y − y_k)/y, and a target logit y near zero gives maps far beyond float16's largest value
(65504), which stored unscaled were infinite. The scaling is exact (a power of two) and is undone
on reading. `nonfinite_<m>` flags the maps the engine could not compute (stored as zeros); a
user's model also stores its `label_map` (the output of each dataset label) and `output_names`.

A file of the explanation attack explains one image set per method (each attacked on its own):
it also holds each method's predictions (`preds_<method>`); its `logits`, `preds` and `targets`
are those of its first method's set. A noisy set's file may hold each image's `feature_shift`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from camrobust.io import load_npz, save_npz

_PREFIX = "maps_"
_EXP = "exp_"
_NONFINITE = "nonfinite_"
_PREDS = "preds_"


def _cpu(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _scaled(maps: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """float16 maps / 2^exp and exp per map (largest magnitude in [0.5, 1)); refuses NaN/inf."""
    maps = maps.astype(np.float32)
    if not np.isfinite(maps).all():
        raise ValueError(f"maps of {method!r} hold NaN or inf: not written")
    peak = np.abs(maps).reshape(len(maps), -1).max(axis=1, initial=0.0)
    exp = np.frexp(peak)[1].astype(np.int16)
    stored = np.ldexp(maps, -exp.astype(np.int32)[:, None, None]).astype(np.float16)
    return stored, exp


def save_cams(
    path: str | os.PathLike,
    maps: dict[str, Any],
    logits: Any,
    preds: Any,
    targets: Any,
    *,
    nonfinite: Mapping[str, Any] | None = None,
    class_map: Mapping[str, Any] | None = None,
    method_preds: Mapping[str, Any] | None = None,
    feature_shift: Any = None,
) -> None:
    """Write one CAM file; tensors are moved to the CPU, maps stored as scaled float16.

    `nonfinite`: the engine's flags per method (`CamResult.nonfinite`); `class_map`: a user's
    model's `ClassMap.as_dict()` (its `indices` stored as `label_map`, and `output_names`);
    `method_preds`: each method's own predictions, where the methods explain different image
    sets; `feature_shift`: each image's activation shift (camrobust.cam.features)."""
    arrays: dict[str, np.ndarray] = {}
    for method, values in maps.items():
        arrays[f"{_PREFIX}{method}"], arrays[f"{_EXP}{method}"] = _scaled(_cpu(values), method)
        flags = (nonfinite or {}).get(method)
        n = len(arrays[f"{_EXP}{method}"])
        arrays[f"{_NONFINITE}{method}"] = (
            np.zeros(n, bool) if flags is None else _cpu(flags).astype(bool)
        )
    if class_map is not None:
        arrays["label_map"] = np.asarray(class_map["indices"], dtype=np.int64)
        arrays["output_names"] = np.asarray(class_map["output_names"], dtype=str)
    for method, own in (method_preds or {}).items():
        arrays[f"{_PREDS}{method}"] = _cpu(own).astype(np.int64)
    if feature_shift is not None:
        arrays["feature_shift"] = _cpu(feature_shift).astype(np.float64)
    save_npz(
        path,
        **arrays,
        methods=np.array(list(maps)),
        logits=_cpu(logits).astype(np.float32),
        preds=_cpu(preds).astype(np.int64),
        targets=_cpu(targets).astype(np.int64),
    )


def load_cams(path: str | os.PathLike) -> dict[str, Any]:
    """Read a CAM file as {"maps": {method: N×h×w float32}, "nonfinite": {method: bool N},
    "logits", "preds", "targets", "methods", "label_map" and "output_names" (None for a model
    whose outputs are the dataset's classes)}, with "method_preds" {method: N} where each method
    has its own image set and "feature_shift" where the file has them."""
    raw = load_npz(path)
    methods = [str(m) for m in raw["methods"]]
    maps, flags = {}, {}
    for m in methods:
        stored = raw[f"{_PREFIX}{m}"]
        exp = raw.get(f"{_EXP}{m}")
        maps[m] = stored if exp is None else np.ldexp(stored.astype(np.float32), exp[:, None, None])
        flags[m] = raw.get(f"{_NONFINITE}{m}", np.zeros(len(stored), bool))
    names = raw.get("output_names")
    own = {m: raw[f"{_PREDS}{m}"] for m in methods if f"{_PREDS}{m}" in raw}
    extra = {"method_preds": own} if own else {}
    if "feature_shift" in raw:
        extra["feature_shift"] = raw["feature_shift"]
    return {
        **extra,
        "maps": maps,
        "nonfinite": flags,
        "logits": raw["logits"],
        "preds": raw["preds"],
        "targets": raw["targets"],
        "methods": methods,
        "label_map": raw.get("label_map"),
        "output_names": None if names is None else [str(n) for n in names],
    }


def check_matches(cams: dict[str, Any], cam_path: Any, images: dict[str, Any], images_path: Any):
    """A CAM file must hold one map per evaluation image and one logit per model output (the
    dataset's classes, unless the file names the model's own outputs)."""
    n_images = len(images["labels"])
    names = cams.get("output_names")
    n_classes = len(images["class_names"]) if names is None else len(names)
    got_images, got_classes = cams["logits"].shape
    if got_images != n_images or got_classes != n_classes:
        raise ValueError(
            f"{cam_path} does not match {images_path}: it has {got_images} images and "
            f"{got_classes} classes, the evaluation set {n_images} images and {n_classes} classes"
        )


def only_methods(cams: dict[str, Any], methods: list[str]) -> dict[str, Any]:
    """A loaded CAM file restricted to `methods` (e.g. the clean maps of the attacked methods)."""
    missing = [m for m in methods if m not in cams["maps"]]
    if missing:
        raise ValueError(f"the CAM file has no maps of {', '.join(missing)}")
    return {**cams, "maps": {m: cams["maps"][m] for m in methods}, "methods": list(methods)}
