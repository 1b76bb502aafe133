"""Adapter for rule `segments`: Quickshift regions of a dataset's clean evaluation images."""

from camrobust.io import load_npz, save_npz
from camrobust.logs import script_logging
from camrobust.metrics.segments import segment_images

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = dict(sm.params.p)
    images = load_npz(sm.input[0])["images"]
    segments = segment_images(images, **p)
    save_npz(sm.output[0], **segments)
    counts = segments["n_regions"]
    log.info(
        "%s: %d images, %d to %d regions (median %d)",
        p["dataset"],
        len(counts),
        counts.min(),
        counts.max(),
        sorted(counts)[len(counts) // 2],
    )
    if (counts < 2).any():  # one region: both maps rank it first, so rbo is 1 for every pair
        log.warning(
            "%d images have a single region: rbo = 1 for each of their pairs", (counts < 2).sum()
        )
