"""Adapter for rule `import_model`: a user's checkpoint as a classifier file, with its accuracy
on the test file (an evaluate-only image folder's holds the evaluation subset alone)."""

import numpy as np
import torch

from camrobust.device import resolve_device
from camrobust.io import load_npz, save_json
from camrobust.logs import script_logging
from camrobust.models import save_classifier
from camrobust.models.sources import build_model_entry
from camrobust.train import evaluate_accuracy

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    test = load_npz(sm.input.test, mmap=True)  # a large split is read a batch at a time
    num_classes = len(test["class_names"])
    try:
        model = build_model_entry(p, num_classes)
    except (ValueError, ImportError) as err:  # a checkpoint that does not fit: one line
        raise SystemExit(f"models.{sm.wildcards.model}: {err}") from None
    model = model.to(device).eval()
    labels = torch.from_numpy(np.array(test["labels"])).long().to(device)
    accuracy = evaluate_accuracy(model, test["images"], labels, batch_size=p["batch_size"])
    save_classifier(
        sm.output.model, model, {"arch": p["name"], "num_classes": num_classes, **p["kwargs"]}
    )
    measured_on = p.get("accuracy_on", "test split")  # set for evaluate-only image folders
    metrics = {"test_accuracy": accuracy, "test_images": len(labels), "measured_on": measured_on}
    save_json(sm.output.metrics, {**metrics, "params": p, "num_classes": num_classes})
    log.info(
        "%s: test accuracy %.4f on the %d images of the %s (evaluated as it is)",
        sm.wildcards.model,
        accuracy,
        len(labels),
        measured_on,
    )
