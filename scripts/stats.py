"""Adapter for rule `stats`: the statistical test families (docs/metric.md, "Statistics")."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.stats import run_stats

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    frames = run_stats(pd.read_parquet(sm.input[0]), sm.params.p)
    for name, path in sm.output.items():
        with atomic_path(path) as tmp:
            frames[name].to_csv(tmp, index=False)
        log.info("stats %s: %d rows", name, len(frames[name]))
