"""Adapter for rule `cam_grid`: CAMs of a few images, clean and at each level of one noise."""

import numpy as np
import torch

from camrobust.cam import normalize_maps
from camrobust.cam.store import load_cams
from camrobust.io import load_npz
from camrobust.logs import script_logging
from camrobust.report import figures

sm = snakemake  # noqa: F821
with script_logging(sm.log[0]):
    n = sm.params.p["grid_images"]
    clean = load_npz(sm.input.clean_images)
    views = [clean["images"][:n], *(load_npz(p)["images"][:n] for p in sm.input.noisy_images)]
    cams = [load_cams(p) for p in sm.input.cams]
    methods = cams[0]["methods"]
    size = tuple(clean["images"].shape[1:3])
    maps = np.stack(
        [
            np.stack(
                [
                    normalize_maps(torch.from_numpy(c["maps"][m][:n]).float(), size=size).numpy()
                    for c in cams
                ]
            )
            for m in methods
        ]
    )
    preds = np.stack([c["preds"][:n] for c in cams])
    figures.cam_grid(
        sm.output[0],
        np.stack(views),
        maps,
        preds,
        [str(c) for c in clean["class_names"]],
        methods,
        [f"{sm.params.noise} {lv}" for lv in sm.params.levels[1:]],
    )
