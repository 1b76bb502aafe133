"""Accuracy of every model: clean test accuracy and evaluation accuracy under each noise level."""

from __future__ import annotations

import pandas as pd


def accuracy_table(per_image: pd.DataFrame, clean_accuracy: dict[tuple[str, str], float]):
    """One row per (dataset, model, noise, level) with the evaluation accuracy, plus the clean
    evaluation accuracy (level "0") and the full test-set accuracy from training."""
    keys = ["dataset", "model", "arch", "regularizer", "noise"]
    # Predictions do not depend on the CAM method: keep one method's rows.
    one = per_image[per_image["method"] == per_image["method"].iloc[0]]
    noisy = (
        one.assign(correct=one["pred_noisy"] == one["label"])
        .groupby([*keys, "level"], sort=True)["correct"]
        .agg(accuracy="mean", n="size")
        .reset_index()
    )
    clean = (
        one.assign(correct=one["pred_clean"] == one["label"], level="0")
        .drop_duplicates([*keys, "image"])
        .groupby([*keys, "level"], sort=True)["correct"]
        .agg(accuracy="mean", n="size")
        .reset_index()
    )
    table = pd.concat([clean, noisy], ignore_index=True)
    table["test_accuracy"] = [
        clean_accuracy[(d, m)] for d, m in zip(table["dataset"], table["model"], strict=True)
    ]
    return table.sort_values([*keys, "level"], kind="stable").reset_index(drop=True)
