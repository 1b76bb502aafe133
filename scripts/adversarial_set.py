"""Adapter for rule `adversarial_set`: FGSM or PGD images against one trained classifier."""

from camrobust.device import resolve_device
from camrobust.io import load_npz, save_npz
from camrobust.logs import script_logging
from camrobust.models import load_classifier
from camrobust.noise.adversarial import attack

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    model = load_classifier(sm.input.model, device)
    clean = load_npz(sm.input.images)["images"]
    adv = attack(
        model,
        clean,
        p["attack"],
        eps=p["eps"],
        options=p["options"],
        seed=(p["seed"], p["dataset"], p["model"], p["attack"], p["level"]),
        batch_size=p["batch_size"],
        device=device,
    )
    save_npz(sm.output[0], images=adv)
    log.info("%s %s eps %s/255: %d images", p["model"], p["attack"], p["level"], len(adv))
