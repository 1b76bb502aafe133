"""Adapter for rule `adversarial_set`: FGSM or PGD images against one trained classifier."""

from camrobust.io import save_npz
from camrobust.logs import script_logging
from camrobust.noise.adversarial import attack
from camrobust.noise.inputs import attack_inputs
from camrobust.noise.settings import AttackSettings

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    settings = AttackSettings.from_config(p)  # a bad value fails before the model loads
    _, model, clean = attack_inputs(p["device"], sm.input.model, sm.input.images)
    adv = attack(model, clean, settings)
    save_npz(sm.output[0], images=adv)
    log.info("%s %s eps %s/255: %d images", p["model"], p["attack"], p["level"], len(adv))
