"""Accuracy of every model: clean test accuracy and evaluation accuracy under each noise level;
with several training seeds, also their mean and standard deviation over the seeds."""

from __future__ import annotations

import pandas as pd

from camrobust.frames import require_columns
from camrobust.names import CLEAN_LEVEL, split_model

KEYS = ("dataset", "model", "arch", "regularizer", "noise")
_NEED = (*KEYS, "level", "image", "label", "pred_clean", "pred_noisy")
POOLED_SEEDS = "all"  # the `seed` of the rows pooled over seeds
SEED_COLUMNS = ("dataset", "model", "seed", "arch", "regularizer", "noise", "level", "accuracy")
SEED_COLUMNS += ("accuracy_sd", "n", "n_seeds", "test_accuracy", "test_accuracy_sd", "classes")
# How a model's outputs were matched to the dataset's classes (camrobust/class_map.py): a trained
# model learned the dataset's classes, so its outputs are them.
IDENTITY = "identity"


def model_seed(model: str) -> str | None:
    """The training seed in a model name (camrobust/names.py): 'resnet18-vat-s2' -> '2', a
    user's model (trained once, elsewhere) -> '0'; None for a name without the seed suffix."""
    try:
        return str(split_model(model).seed)
    except ValueError:
        return None


def _mean_correct(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of correct predictions (`accuracy`) and their count (`n`) per model, noise, level."""
    groups = frame.groupby([*KEYS, "level"], sort=True)["correct"]
    return groups.agg(accuracy="mean", n="size").reset_index()


def accuracy_by_level(per_image: pd.DataFrame) -> pd.DataFrame:
    """Evaluation accuracy and image count per (dataset, model, noise, level); level "0" = clean.

    Predictions do not depend on the CAM method: each (model, noise, level, image) counts once.
    """
    require_columns(per_image, _NEED, "per-image table")
    pairs = per_image.drop_duplicates([*KEYS, "level", "image"])
    pairs = pairs.assign(level=pairs["level"].astype(str))
    noisy = pairs.assign(correct=pairs["pred_noisy"] == pairs["label"])
    clean = pairs.drop_duplicates([*KEYS, "image"]).assign(
        correct=lambda d: d["pred_clean"] == d["label"], level=CLEAN_LEVEL
    )
    table = pd.concat([_mean_correct(clean), _mean_correct(noisy)], ignore_index=True)
    return table.sort_values([*KEYS, "level"], kind="stable").reset_index(drop=True)


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample sd (ddof 1) of `accuracy` and `test_accuracy` over the seeds of each
    (dataset, arch, regulariser, noise, level), as rows with seed "all" and model
    '{arch}-{regularizer}'; `n` sums the images, `n_seeds` counts the seeds (sd empty for one)."""
    keys = ["dataset", "arch", "regularizer", "noise", "level"]
    out = (
        table.groupby(keys, sort=True)
        .agg(
            accuracy=("accuracy", "mean"),
            accuracy_sd=("accuracy", "std"),
            n=("n", "sum"),
            n_seeds=("seed", "nunique"),
            test_accuracy=("test_accuracy", "mean"),
            test_accuracy_sd=("test_accuracy", "std"),
            classes=("classes", "first"),
        )
        .reset_index()
    )
    out.insert(1, "model", out["arch"] + "-" + out["regularizer"])
    out.insert(2, "seed", POOLED_SEEDS)
    return out


def accuracy_table(
    per_image: pd.DataFrame,
    clean_accuracy: dict[tuple[str, str], float],
    classes: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """One row per (dataset, model, noise, level) with the evaluation accuracy, plus the clean
    evaluation accuracy (level "0"), the full test-set accuracy from training, and `classes`:
    how the model's outputs were matched to the dataset's classes (`identity` where not given).
    Accuracy compares the `label` column (the model output of the image's class) with the
    predictions over all of the model's outputs.

    Models named '{arch}-{regularizer}-s{seed}' add a `seed` column and the rows of
    `seed_summary` (mean ± sd over the seeds) after the per-model rows.
    """
    table = accuracy_by_level(per_image)
    keys = list(zip(table["dataset"], table["model"], strict=True))
    table["test_accuracy"] = [clean_accuracy[key] for key in keys]
    table["classes"] = [(classes or {}).get(key, IDENTITY) for key in keys]
    seeds = [model_seed(m) for m in table["model"]]
    if all(s is None for s in seeds):
        return table  # one model per (arch, regulariser): the table of a run without seeds
    if any(s is None for s in seeds):
        plain = table["model"][[s is None for s in seeds]].iloc[0]
        raise ValueError(f"model {plain!r} has no '-s<seed>' suffix while other models do")
    table.insert(2, "seed", seeds)
    table["n_seeds"] = 1
    return pd.concat([table, seed_summary(table)], ignore_index=True)[list(SEED_COLUMNS)]
