"""Adapter for rule `import_model`: a user's checkpoint as a classifier file, with its accuracy
on the test file (an evaluate-only image folder's holds the evaluation subset alone), the
dataset's labels mapped to the model's outputs by the entry's `classes`."""

import numpy as np
import torch

from camrobust.class_map import resolve_class_map
from camrobust.device import resolve_device
from camrobust.io import load_npz, save_json
from camrobust.logs import script_logging
from camrobust.models import save_classifier
from camrobust.models.sources import build_model_entry, checkpoint_outputs
from camrobust.train import evaluate_accuracy

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    test = load_npz(sm.input.test, mmap=True)  # a large split is read a batch at a time
    folders = [str(c) for c in test["class_names"]]
    try:  # a checkpoint or mapping that does not fit: one line
        outputs = checkpoint_outputs(p)
        class_map = resolve_class_map(p["classes"], folders, outputs)
        model = build_model_entry(p, outputs)
    except (ValueError, ImportError) as err:
        raise SystemExit(f"models.{sm.wildcards.model}: {err}") from None
    model = model.to(device).eval()
    mapped = np.asarray(class_map.indices)[np.array(test["labels"])]
    labels = torch.from_numpy(mapped).long().to(device)
    accuracy = evaluate_accuracy(model, test["images"], labels, batch_size=p["batch_size"])
    hparams = {"arch": p["name"], "num_classes": outputs, **p["kwargs"]}
    save_classifier(sm.output.model, model, {**hparams, "class_map": class_map.as_dict()})
    measured_on = p.get("accuracy_on", "test split")  # set for evaluate-only image folders
    metrics = {"test_accuracy": accuracy, "test_images": len(labels), "measured_on": measured_on}
    metrics["classes"] = class_map.how
    save_json(sm.output.metrics, {**metrics, "params": p, "num_classes": outputs})
    log.info(
        "%s: test accuracy %.4f on the %d images of the %s (evaluated as it is; %d outputs, "
        "classes %s)",
        sm.wildcards.model,
        accuracy,
        len(labels),
        measured_on,
        outputs,
        class_map.how,
    )
