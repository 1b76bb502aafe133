"""Adapter for rule `figure`: one report figure for one dataset."""

from pathlib import Path

import pandas as pd

from camrobust.logs import script_logging
from camrobust.report import figures

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]):
    dataset, name, measure = sm.wildcards.dataset, sm.wildcards.figure, sm.params.p["measure"]

    def read(path):
        table = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
        table = table.astype({"level": str}) if "level" in table else table
        return table[table["dataset"] == dataset] if "dataset" in table else table

    stats = {Path(p).stem: p for p in sm.input.stats}
    out = sm.output[0]
    if name == "h_heatmap":
        figures.h_heatmap(out, read(sm.input.robustness), measure)
    elif name == "severity_curves":
        figures.severity_curves(out, read(sm.input.robustness), measure)
    elif name == "kept_flipped":
        figures.kept_flipped(out, read(sm.input.per_image), measure)
    elif name == "average_ranks":
        figures.average_ranks(out, read(stats["method_ranks"]))
    elif name == "accuracy_vs_severity":
        figures.accuracy_vs_severity(out, read(sm.input.per_image))
    elif name == "forest_plot":
        figures.forest_plot(out, read(stats["mixedlm"]))
    else:
        raise ValueError(f"unknown figure '{name}'")
