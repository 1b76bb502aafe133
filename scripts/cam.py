"""Adapter for rule `cam`: every configured CAM method for one (model, noise, level) image set."""

import torch

from camrobust.cam import compute_cams
from camrobust.cam.features import feature_shift
from camrobust.cam.placebo import call_seed
from camrobust.cam.store import load_cams, save_cams
from camrobust.data.tensors import to_model_input
from camrobust.io import load_npz
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
    # RandomCAM's draws, one per CAM job (the params carry the seed only when it runs)
    wc = sm.wildcards
    seed = call_seed(p["seed"], wc.dataset, wc.model, wc.noise, wc.level) if "seed" in p else None
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
        seed=seed,
    )
    used = result.preds if targets is None else targets
    shift = None
    if "clean_images" in sm.input.keys():  # noqa: SIM118 (a noisy set: how far it moved the layer)
        clean = to_model_input(load_npz(sm.input.clean_images)["images"], device)
        shift = feature_shift(model, result.layer, clean, images, p["batch_size"])
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
        feature_shift=shift,
    )
    log.info("%s: %d images, %d methods", sm.output[0], len(images), len(result.maps))
