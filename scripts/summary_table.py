"""Adapter for rule `summary_table`: the paper-style table (CSV and Markdown)."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.report import tables

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]):
    robust = pd.read_csv(sm.input.robustness, dtype={"level": str})
    measure = sm.params.p["measure"]
    summary = tables.lead_summary(robust, measure)
    summary = tables.with_method_notes(summary, robust)
    if "quality" in sm.input.keys():  # noqa: SIM118 (a Namedlist: `in` would test the values)
        summary = tables.with_quality(summary, pd.read_csv(sm.input.quality))
    with atomic_path(sm.output.csv) as tmp:
        summary.to_csv(tmp)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(
            tables.summary_caption(summary, measure) + "\n" + tables.to_markdown(summary) + "\n"
        )
