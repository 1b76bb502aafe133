"""Adapter for rule `quality_stats`: the CAM-method tests on the sensitivity/faithfulness scores."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.stats.quality import quality_method_tests

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    table = pd.concat([pd.read_parquet(path) for path in sm.input], ignore_index=True)
    tests = quality_method_tests(table, sm.params.p)
    with atomic_path(sm.output[0]) as tmp:
        tests.to_csv(tmp, index=False)
    log.info("%s: %d rows", sm.output[0], len(tests))
