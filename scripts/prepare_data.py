"""Adapter for rule `prepare_data`: canonical train/test/eval files for one dataset."""

from pathlib import Path

import numpy as np

from camrobust.data.download import DownloadError
from camrobust.data.prepare import prepare_dataset
from camrobust.io import save_npz
from camrobust.logs import script_logging

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, expected=(DownloadError,), rule=sm.rule) as log:
    spec = sm.params.p
    raw_dir = Path(sm.input[0]).parent if sm.input else Path("resources/raw") / spec["dataset"]
    data = prepare_dataset(spec, raw_dir, spec["seed"])
    names = np.array(data["class_names"])
    save_npz(sm.output.train, **data["train"].arrays(), class_names=names)
    save_npz(sm.output.test, **data["test"].arrays(), class_names=names)
    save_npz(
        sm.output.eval,
        **data["eval"].arrays(),
        indices=data["eval_indices"],
        source_indices=data["eval_source_indices"],
        class_names=names,
    )
    log.info(
        "%s: %d train, %d test, %d eval images of %d classes",
        spec["dataset"],
        len(data["train"].labels),
        len(data["test"].labels),
        len(data["eval"].labels),
        len(names),
    )
