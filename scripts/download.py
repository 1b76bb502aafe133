"""Adapter for rule `download`: fetch one file and verify its checksum."""

from camrobust.data.download import DownloadError, fetch
from camrobust.logs import script_logging

with script_logging(snakemake.log[0], expected=(DownloadError,), rule=snakemake.rule):  # noqa: F821
    url, md5 = snakemake.params.source  # noqa: F821
    fetch(url, snakemake.output[0], md5)  # noqa: F821
