"""Adapter for rule `figure`: one report figure (by name, see camrobust.report.registry)."""

from camrobust.logs import script_logging
from camrobust.report.draw import read_table, write_figure

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]):
    dataset = sm.wildcards.dataset
    table = read_table(sm.input.table, dataset)
    # A Namedlist: `in` would test the values.
    extra = read_table(sm.input.extra, dataset) if "extra" in sm.input.keys() else None  # noqa: SIM118
    write_figure(sm.wildcards.figure, table, sm.output[0], sm.params.p, extra)
