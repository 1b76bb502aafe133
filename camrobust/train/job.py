"""One training job of the workflow: build the network, train it, write model, metrics and curve.

The rule `train_classifier` hands in the plan's params (`Plan.train.params`) and its file paths;
everything between them is here, so the adapter stays a call. A killed job resumes from the
checkpoint beside its outputs; which run a checkpoint belongs to is decided once, by the
training loop's fingerprint (config, data and the initial weights), never by the file name.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camrobust.device import resolve_device
from camrobust.io import atomic_path, load_npz, save_json
from camrobust.models import build_classifier, save_classifier
from camrobust.models.sources import build_model_entry
from camrobust.seeding import derive_seed
from camrobust.train.generative import load_generative
from camrobust.train.loop import train_classifier
from camrobust.train.settings import TrainSettings

#: The file a training job resumes from, beside its model.pt (removed when the job ends).
CHECKPOINT_NAME = ".checkpoint.pt"


def initial_network(p: dict[str, Any], num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    """The network a job starts from and the hparams stored with it.

    Common random numbers: every regulariser of one architecture and training seed starts from
    the same weights (and sees the same batches), so the seed is a block of the regulariser test.
    """
    init_seed = derive_seed(p["seed"], p["dataset"], p["arch"], "init")
    if "model_source" in p:  # a config `models` entry of mode train, from its checkpoint
        torch.manual_seed(init_seed)  # the weights the checkpoint leaves out, if any
        try:
            model = build_model_entry(p["model_source"], num_classes)
        except (ValueError, ImportError) as err:  # a checkpoint that does not fit: one line
            raise SystemExit(f"models.{p['arch']}: {err}") from None
        entry = p["model_source"]
        return model, {"arch": entry["name"], "num_classes": num_classes, **entry["kwargs"]}
    model = build_classifier(
        p["arch"], num_classes=num_classes, seed=init_seed, **p["arch_options"]
    )
    return model, {"arch": p["arch"], "num_classes": num_classes, **p["arch_options"]}


def run_training_job(
    p: dict[str, Any],
    *,
    train_file: str | os.PathLike,
    test_file: str | os.PathLike,
    generative_file: str | os.PathLike | None,
    model_file: str | os.PathLike,
    metrics_file: str | os.PathLike,
    curve_file: str | os.PathLike,
) -> float:
    """Train the classifier `p` describes and write its three files; its test accuracy."""
    settings = TrainSettings.from_config(p)  # a bad value fails before any data is read
    device = resolve_device(p["device"])
    train, test = load_npz(train_file), load_npz(test_file)
    num_classes = len(train["class_names"])
    model, hparams = initial_network(p, num_classes)
    generative = load_generative(generative_file, device) if generative_file else None
    checkpoint = Path(model_file).parent / CHECKPOINT_NAME
    result = train_classifier(
        model,
        train["images"],
        train["labels"],
        test["images"],
        test["labels"],
        settings,
        generative=generative,
        checkpoint_path=checkpoint,
    )
    save_classifier(model_file, result.model, hparams)
    save_json(metrics_file, {**result.metrics, "params": p, "num_classes": num_classes})
    with atomic_path(curve_file) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(result.curve[0]))
        writer.writeheader()
        writer.writerows(result.curve)
    checkpoint.unlink(missing_ok=True)
    return result.metrics["test_accuracy"]
