"""Adapter for rule `claims`: the headline's regulariser claims and their sensitivity analyses."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.names import REFERENCE
from camrobust.stats.claims import run_claims

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    frames = run_claims(pd.read_parquet(sm.input[0]), sm.params.p, REFERENCE)
    for name, path in sm.output.items():
        with atomic_path(path) as tmp:
            frames[name].to_csv(tmp, index=False)
        log.info("%s: %d rows", name, len(frames[name]))
