"""Adapter for rule `headline`: the answer of the run in at most 20 lines (Markdown)."""

import pandas as pd

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.report.headline import headline

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]):
    text = headline(
        pd.read_csv(sm.input.robustness, dtype={"level": str}),
        pd.read_csv(sm.input.claims),
        pd.read_csv(sm.input.accuracy, dtype={"level": str}),
        sm.params.p["measure"],
        dict(sm.params.where),
    )
    with atomic_path(sm.output[0]) as tmp:
        tmp.write_text(text)
