"""Adapter for rule `train_generative`: train the VAE or the Glow of one dataset."""

from camrobust.io import load_npz
from camrobust.logs import script_logging
from camrobust.train.generative import save_generative, train_glow, train_vae
from camrobust.train.settings import GlowSettings, VAESettings

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    vae = sm.wildcards.gen == "vae"
    settings = VAESettings.from_config(p) if vae else GlowSettings.from_config(p)
    images = load_npz(sm.input[0])["images"]
    model, history = (train_vae if vae else train_glow)(images, settings)
    # Stored with the model: the `generative.<gen>` keys (seed, dataset, device name the job).
    hparams = {k: v for k, v in p.items() if k not in ("seed", "dataset", "device")}
    save_generative(sm.output[0], model, hparams=hparams, history=history)
    log.info("%s %s: final %s", p["dataset"], sm.wildcards.gen, history[-1] if history else "-")
