"""Adapter for rule `corruption_error_table`: corruption errors, mCE and relative mCE."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.report.corruption_error import corruption_error_table

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], rule=sm.rule) as log:
    p = sm.params.p
    accuracy = pd.read_csv(sm.input[0], dtype={"level": str, "seed": str})
    table = corruption_error_table(accuracy, corruptions=p["corruptions"], reference=p["reference"])
    with atomic_path(sm.output[0]) as tmp:
        table.to_csv(tmp, index=False)
    undefined = int(table["ce"].isna().sum())
    log.info("corruption error table: %d rows, %d without a CE (see note)", len(table), undefined)
