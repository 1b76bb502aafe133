"""Adapter for rule `prepare_data`: canonical train/test/eval files for one dataset."""

from pathlib import Path

from camrobust.data.download import DownloadError
from camrobust.data.prepare import write_dataset
from camrobust.logs import script_logging

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, expected=(DownloadError,), rule=sm.rule) as log:
    spec = sm.params.p
    raw_dir = Path(sm.input[0]).parent if sm.input else Path("resources/raw") / spec["dataset"]
    outputs = {split: sm.output[split] for split in ("train", "test", "eval")}
    for line in write_dataset(spec, raw_dir, outputs).lines():
        log.info("%s", line)
