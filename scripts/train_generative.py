"""Adapter for rule `train_generative`: train the VAE or the Glow of one dataset."""

from camrobust.device import resolve_device
from camrobust.io import load_npz
from camrobust.logs import script_logging
from camrobust.train.generative import save_generative, train_glow, train_vae

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = dict(sm.params.p)
    seed, dataset, device = p.pop("seed"), p.pop("dataset"), resolve_device(p.pop("device"))
    images = load_npz(sm.input[0])["images"]
    train = train_vae if sm.wildcards.gen == "vae" else train_glow
    model, history = train(images, **p, seed=seed, device=device)
    save_generative(sm.output[0], model, hparams=p, history=history)
    log.info("%s %s: final %s", dataset, sm.wildcards.gen, history[-1] if history else "-")
