"""Adapter for rule `cam_explanation_attack`: each attacked method's maps on its own image set."""

import torch

from camrobust.cam import compute_cams
from camrobust.cam.store import load_cams, save_cams
from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.explanation_names import left_out_reason
from camrobust.io import load_npz
from camrobust.logs import script_logging
from camrobust.models import load_classifier

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    for method in p["left_out"]:
        log.info("%s: left out of the explanation attack (%s)", method, left_out_reason(method))
    device = resolve_device(p["device"])
    model = load_classifier(sm.input.model, device)
    # Target policy `clean`: the attacked maps explain the clean prediction.
    targets = None
    if "clean" in sm.input.keys():  # noqa: SIM118 (a Namedlist: `in` would test the values)
        targets = torch.from_numpy(load_cams(sm.input.clean)["preds"]).to(device)
    results = {}
    for method, path in zip(p["methods"], sm.input.sets, strict=True):
        attacked = load_npz(path)
        results[method] = compute_cams(
            model,
            target_layer=p["target_layer"],
            images=to_model_input(attacked["images"], device),
            methods=[method],
            targets=targets,
            batch_size=p["batch_size"],
            autocast=p["autocast"],
            # A user's model may name its layer's layout; None: from the model family.
            layout=p.get("layout"),
            prefix_tokens=p.get("prefix_tokens"),
        )
        missed, n = int((~attacked["attacked"]).sum()), len(attacked["attacked"])
        log.info("%s: no kept-class perturbation found for %d of %d images", method, missed, n)
    first = results[p["methods"][0]]
    save_cams(
        sm.output[0],
        {method: result.maps[method] for method, result in results.items()},
        first.logits,
        first.preds,
        first.targets,
        method_preds={method: result.preds for method, result in results.items()},
        nonfinite={method: result.nonfinite[method] for method, result in results.items()},
        class_map=getattr(model, "hparams", {}).get("class_map"),
    )
    log.info("%s: %d attacked methods", sm.output[0], len(results))
