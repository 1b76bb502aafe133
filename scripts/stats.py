"""Adapter for rule `stats`: the families of statistical tests on the per-image table."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.stats import run_stats

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    p = sm.params.p
    per_image = pd.read_parquet(sm.input[0])
    frames = run_stats(
        per_image,
        measures=tuple(p["measures"]),
        alpha=p["alpha"],
        correction=p["correction"],
        min_pairs=p["min_pairs"],
    )
    for name, path in sm.output.items():
        with atomic_path(path) as tmp:
            frames[name].to_csv(tmp, index=False)
        log.info("stats %s: %d rows", name, len(frames[name]))
