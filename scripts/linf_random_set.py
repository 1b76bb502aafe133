"""Adapter for rule `linf_random_set`: the explanation attack's random control at one budget."""

from camrobust.explanation_names import LINF_RANDOM
from camrobust.io import load_npz, save_npz
from camrobust.logs import script_logging
from camrobust.noise.explanation import random_vertex

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    clean = load_npz(sm.input.images)["images"]
    noisy = random_vertex(clean, p["eps"], seed=(p["seed"], p["dataset"], LINF_RANDOM, p["level"]))
    save_npz(sm.output[0], images=noisy)
    log.info("%s %s eps %s/255: %d images", p["dataset"], LINF_RANDOM, p["level"], len(noisy))
