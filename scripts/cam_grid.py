"""Adapter for rule `cam_grid`: CAMs of a few images, clean and at each level of one noise."""

import numpy as np
import torch

from camrobust.cam import normalize_maps
from camrobust.cam.methods import PLACEBOS
from camrobust.cam.store import load_cams
from camrobust.io import load_npz
from camrobust.logs import script_logging
from camrobust.report.cam_grid import build_cam_grid, pick_images
from camrobust.report.figures import method_label
from camrobust.report.png import save_png

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]) as log:
    p = sm.params.p
    clean = load_npz(sm.input.clean_images, mmap=True)  # a few images of each set are read
    # The same images for every model of the dataset: seeded by the dataset, not the model.
    pick = pick_images(clean["labels"], p["images"], p["seed"], sm.wildcards.dataset)
    log.info("grid images %s of classes %s", pick.tolist(), clean["labels"][pick].tolist())
    views = [
        clean["images"][pick],
        *(load_npz(f, mmap=True)["images"][pick] for f in sm.input.noisy_images),
    ]
    cams = [load_cams(f) for f in sm.input.cams]
    methods = cams[0]["methods"]
    size = tuple(clean["images"].shape[1:3])

    def normalized(maps: np.ndarray) -> np.ndarray:
        return normalize_maps(torch.from_numpy(maps[pick]).float(), size=size).numpy()

    maps = np.stack([np.stack([normalized(c["maps"][m]) for c in cams]) for m in methods])
    fig = build_cam_grid(
        np.stack(views),
        maps,
        np.stack([c["preds"][pick] for c in cams]),
        cams[0]["output_names"] or [str(c) for c in clean["class_names"]],
        [method_label(m, PLACEBOS) for m in methods],
        [f"{p['noise']} {lv}" for lv in p["levels"]],
        dpi=p["dpi"],
    )
    save_png(fig, sm.output[0], p["dpi"])
