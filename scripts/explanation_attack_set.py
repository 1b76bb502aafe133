"""Adapter for rule `explanation_attack_set`: one CAM method's attacked images of one model."""

from camrobust.device import resolve_device
from camrobust.io import load_npz, save_npz
from camrobust.logs import script_logging
from camrobust.models import load_classifier
from camrobust.noise.explanation import explanation_attack

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    model = load_classifier(sm.input.model, device)
    clean = load_npz(sm.input.images)["images"]
    result = explanation_attack(
        model,
        clean,
        p["method"],
        eps=p["eps"],
        **p["options"],
        # A user's model may name its layer's layout; None: from the model family.
        target_layer=p["target_layer"],
        layout=p.get("layout"),
        prefix_tokens=p.get("prefix_tokens"),
        batch_size=p["batch_size"],
        device=device,
    )
    save_npz(
        sm.output[0],
        images=result.images,
        attacked=result.attacked,
        score_clean=result.score_clean,
        score=result.score,
    )
    missed = int((~result.attacked).sum())
    log.info(
        "%s %s eps %s/255: %d images, no kept-class perturbation found for %d",
        p["model"], p["method"], p["level"], len(clean), missed,
    )  # fmt: skip
