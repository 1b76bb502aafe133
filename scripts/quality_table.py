"""Adapter for rule `quality_table`: per model × method × metric means with bootstrap intervals."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.metrics.equivalence import mark_placebos
from camrobust.quality import summarize_quality

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    p = sm.params.p
    table = pd.concat([pd.read_parquet(path) for path in sm.input], ignore_index=True)
    summary = summarize_quality(table, n_boot=p["bootstrap"], ci=p["ci"], seed=p["seed"])
    summary = mark_placebos(summary)
    with atomic_path(sm.output[0]) as tmp:
        summary.to_csv(tmp, index=False)
    log.info("%s: %d rows from %d models", sm.output[0], len(summary), len(sm.input))
