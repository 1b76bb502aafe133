"""Accuracy of every model: clean test accuracy and evaluation accuracy under each noise level."""

from __future__ import annotations

import pandas as pd

KEYS = ("dataset", "model", "arch", "regularizer", "noise")
_NEED = (*KEYS, "level", "image", "label", "pred_clean", "pred_noisy")


def _mean_correct(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of correct predictions (`accuracy`) and their count (`n`) per model, noise, level."""
    groups = frame.groupby([*KEYS, "level"], sort=True)["correct"]
    return groups.agg(accuracy="mean", n="size").reset_index()


def accuracy_by_level(per_image: pd.DataFrame) -> pd.DataFrame:
    """Evaluation accuracy and image count per (dataset, model, noise, level); level "0" = clean.

    Predictions do not depend on the CAM method: each (model, noise, level, image) counts once.
    """
    missing = [c for c in _NEED if c not in per_image.columns]
    if missing:
        raise ValueError(f"per-image table lacks columns: {', '.join(missing)}")
    pairs = per_image.drop_duplicates([*KEYS, "level", "image"])
    pairs = pairs.assign(level=pairs["level"].astype(str))
    noisy = pairs.assign(correct=pairs["pred_noisy"] == pairs["label"])
    clean = pairs.drop_duplicates([*KEYS, "image"]).assign(
        correct=lambda d: d["pred_clean"] == d["label"], level="0"
    )
    table = pd.concat([_mean_correct(clean), _mean_correct(noisy)], ignore_index=True)
    return table.sort_values([*KEYS, "level"], kind="stable").reset_index(drop=True)


def accuracy_table(
    per_image: pd.DataFrame, clean_accuracy: dict[tuple[str, str], float]
) -> pd.DataFrame:
    """One row per (dataset, model, noise, level) with the evaluation accuracy, plus the clean
    evaluation accuracy (level "0") and the full test-set accuracy from training."""
    table = accuracy_by_level(per_image)
    table["test_accuracy"] = [
        clean_accuracy[(d, m)] for d, m in zip(table["dataset"], table["model"], strict=True)
    ]
    return table
