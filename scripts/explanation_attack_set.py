"""Adapter for rule `explanation_attack_set`: one CAM method's attacked images of one model."""

from camrobust.io import save_npz
from camrobust.logs import script_logging
from camrobust.noise.explanation import explanation_attack
from camrobust.noise.inputs import attack_inputs
from camrobust.noise.settings import ExplanationAttackSettings

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    settings = ExplanationAttackSettings.from_config(p)  # a bad value fails before the model
    _, model, clean = attack_inputs(p["device"], sm.input.model, sm.input.images)
    result = explanation_attack(model, clean, settings)
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
