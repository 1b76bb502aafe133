"""Adapter for rules `robustness_table` and `per_image_table`: concatenate per-job tables."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    parquet = str(sm.output[0]).endswith(".parquet")
    read = pd.read_parquet if parquet else pd.read_csv
    frames = [read(path) for path in sm.input]
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(sm.output[0]) as tmp:
        if parquet:
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
    log.info("%s: %d rows from %d files", sm.output[0], len(table), len(frames))
