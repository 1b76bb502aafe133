"""Adapter for rule `noisy_set`: one corruption at one level of the evaluation subset."""

from camrobust.data.download import DownloadError
from camrobust.io import load_npz, save_npz
from camrobust.logs import script_logging
from camrobust.noise.corruptions import corrupt
from camrobust.noise.official import check_labels, official_corruption

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, expected=(DownloadError,), rule=sm.rule) as log:
    p = sm.params.p
    clean = load_npz(sm.input.images)
    if p.get("source") == "official":
        # The published images of the same test images: rows picked by their CIFAR-10 index.
        rows = clean["source_indices"]
        noisy = official_corruption(sm.input.archive, p["noise"], p["severity"], rows)
        check_labels(sm.input.archive, rows, clean["labels"])
    else:
        noisy = corrupt(
            clean["images"],
            p["noise"],
            **p["strength"],
            seed=(p["seed"], p["dataset"], p["noise"], p["level"]),
            batch_size=p["batch_size"],
        )
    save_npz(sm.output[0], images=noisy)
    log.info("%s %s level %s: %d images", p["dataset"], p["noise"], p["level"], len(noisy))
