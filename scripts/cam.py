"""Adapter for rule `cam`: every configured CAM method for one (model, noise, level) image set."""

import torch

from camrobust.cam import compute_cams
from camrobust.cam.store import load_cams, save_cams
from camrobust.logs import script_logging
from camrobust.models.inference import classifier_and_images

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    model, images = classifier_and_images(sm.input.model, sm.input.images, p["device"])
    device = images.device
    # Target policy `clean`: the noisy maps explain the clean prediction.
    targets = None
    if "clean" in sm.input.keys():  # noqa: SIM118 (a Namedlist: `in` would test the values)
        targets = torch.from_numpy(load_cams(sm.input.clean)["preds"]).to(device)
    result = compute_cams(
        model,
        target_layer=p["target_layer"],
        images=images,
        methods=p["methods"],
        targets=targets,
        batch_size=p["batch_size"],
        autocast=p["autocast"],
        # A user's model may name its layer's layout; None: from the model family.
        layout=p.get("layout"),
        prefix_tokens=p.get("prefix_tokens"),
    )
    used = result.preds if targets is None else targets
    # A user's model names its outputs and the output of each dataset label (import_model).
    class_map = getattr(model, "hparams", {}).get("class_map")
    save_cams(
        sm.output[0],
        result.maps,
        result.logits,
        result.preds,
        used,
        nonfinite=result.nonfinite,
        class_map=class_map,
    )
    log.info("%s: %d images, %d methods", sm.output[0], len(images), len(result.maps))
