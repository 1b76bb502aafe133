"""Adapter for rule `accuracy_table`: accuracy per model and noise level."""

import json
from pathlib import Path

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.report.accuracy import accuracy_table

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    per_image = pd.concat([pd.read_parquet(p) for p in sm.input.per_image], ignore_index=True)
    clean, classes = {}, {}
    # The plan's (dataset, model) of each model file, in the inputs' order.
    for key, path in zip(map(tuple, sm.params.p["models"]), sm.input.models, strict=True):
        metrics = json.loads(Path(path).read_text())
        clean[key] = metrics["test_accuracy"]
        if "classes" in metrics:  # a user's model: how its outputs met the dataset's classes
            classes[key] = metrics["classes"]
    table = accuracy_table(per_image, clean, classes)
    with atomic_path(sm.output[0]) as tmp:
        table.to_csv(tmp, index=False)
    log.info("accuracy table: %d rows", len(table))
