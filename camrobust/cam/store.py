"""The CAM stage's file format: raw maps per method (float16), logits, predictions, targets."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from camrobust.io import load_npz, save_npz

_PREFIX = "maps_"


def save_cams(
    path: str | os.PathLike,
    maps: dict[str, Any],
    logits: Any,
    preds: Any,
    targets: Any,
    feature_shift: Any = None,
) -> None:
    """Write one CAM file; tensors are moved to the CPU, maps stored as float16. A noisy set's
    file may also hold each image's `feature_shift` (camrobust.cam.features)."""

    def cpu(t: Any) -> np.ndarray:
        return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)

    arrays = {f"{_PREFIX}{m}": cpu(v).astype(np.float16) for m, v in maps.items()}
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
    with "feature_shift" where the file has it."""
    raw = load_npz(path)
    methods = [str(m) for m in raw["methods"]]
    out = {
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
