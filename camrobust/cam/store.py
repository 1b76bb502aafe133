"""The CAM stage's file format: raw maps per method (float16), logits, predictions, targets.

A file of the explanation attack explains one image set per method (each attacked on its own):
it also holds each method's predictions (`preds_<method>`); its `logits`, `preds` and `targets`
are those of its first method's set.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from camrobust.io import load_npz, save_npz

_PREFIX = "maps_"
_PREDS = "preds_"


def save_cams(
    path: str | os.PathLike,
    maps: dict[str, Any],
    logits: Any,
    preds: Any,
    targets: Any,
    method_preds: dict[str, Any] | None = None,
    feature_shift: Any = None,
) -> None:
    """Write one CAM file; tensors are moved to the CPU, maps stored as float16. `method_preds`:
    each method's own predictions, where the methods explain different image sets. A noisy
    set's file may also hold each image's `feature_shift` (camrobust.cam.features)."""

    def cpu(t: Any) -> np.ndarray:
        return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)

    arrays = {f"{_PREFIX}{m}": cpu(v).astype(np.float16) for m, v in maps.items()}
    for m, p in (method_preds or {}).items():
        arrays[f"{_PREDS}{m}"] = cpu(p).astype(np.int64)
    if feature_shift is not None:
        arrays["feature_shift"] = cpu(feature_shift).astype(np.float64)
    save_npz(
        path,
        **arrays,
        methods=np.array(list(maps)),
        logits=cpu(logits).astype(np.float32),
        preds=cpu(preds).astype(np.int64),
        targets=cpu(targets).astype(np.int64),
    )


def load_cams(path: str | os.PathLike) -> dict[str, Any]:
    """Read a CAM file as {"maps": {method: N×h×w}, "logits", "preds", "targets", "methods"},
    with "method_preds" {method: N} where each method has its own image set, and
    "feature_shift" where the file has it."""
    raw = load_npz(path)
    methods = [str(m) for m in raw["methods"]]
    own = {m: raw[f"{_PREDS}{m}"] for m in methods if f"{_PREDS}{m}" in raw}
    out = {
        **({"method_preds": own} if own else {}),
        "maps": {m: raw[f"{_PREFIX}{m}"] for m in methods},
        "logits": raw["logits"],
        "preds": raw["preds"],
        "targets": raw["targets"],
        "methods": methods,
    }
    if "feature_shift" in raw:
        out["feature_shift"] = raw["feature_shift"]
    return out


def check_matches(cams: dict[str, Any], cam_path: Any, images: dict[str, Any], images_path: Any):
    """A CAM file must hold one map per evaluation image and one logit per class."""
    n_images, n_classes = len(images["labels"]), len(images["class_names"])
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
