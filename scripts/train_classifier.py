"""Adapter for rule `train_classifier`: train one (architecture, regulariser) classifier."""

import csv
import hashlib
import json
from pathlib import Path

import torch

from camrobust.device import resolve_device
from camrobust.io import atomic_path, load_npz, save_json
from camrobust.logs import script_logging
from camrobust.models import build_classifier, save_classifier
from camrobust.models.sources import build_model_entry
from camrobust.seeding import derive_seed
from camrobust.train import train_classifier
from camrobust.train.generative import load_generative
from camrobust.train.schedule import SCHEDULE_KEYS

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    train, test = load_npz(sm.input.train), load_npz(sm.input.test)
    num_classes = len(train["class_names"])
    # Common random numbers: every regulariser of one architecture and training seed starts from
    # the same weights (and sees the same batches), so the seed is a block of the regulariser test.
    init_seed = derive_seed(p["seed"], p["dataset"], p["arch"], "init")
    if "model_source" in p:  # a config `models` entry of mode train, from its checkpoint
        torch.manual_seed(init_seed)  # the weights the checkpoint leaves out, if any
        try:
            model = build_model_entry(p["model_source"], num_classes)
        except (ValueError, ImportError) as err:  # a checkpoint that does not fit: one line
            raise SystemExit(f"models.{p['arch']}: {err}") from None
        entry = p["model_source"]
        hparams = {"arch": entry["name"], "num_classes": num_classes, **entry["kwargs"]}
    else:
        model = build_classifier(
            p["arch"], num_classes=num_classes, seed=init_seed, **p["arch_options"]
        )
        hparams = {"arch": p["arch"], "num_classes": num_classes, **p["arch_options"]}
    generative = load_generative(sm.input.generative[0], device) if sm.input.generative else None
    # The checkpoint name carries a hash of the params: a run killed under another config is
    # never resumed by this one.
    digest = hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:12]
    checkpoint = Path(sm.output.model).parent / f".checkpoint-{digest}.pt"
    result = train_classifier(
        model,
        train["images"],
        train["labels"],
        test["images"],
        test["labels"],
        regularizer=p["regularizer"],
        reg_params=p["reg_params"],
        generative=generative,
        schedule={k: v for k, v in p["training"].items() if k in SCHEDULE_KEYS},
        augment=p["training"]["augment"],
        recalibrate_bn=p["training"]["recalibrate_bn"],
        seed=p["seed"],
        device=device,
        checkpoint_path=checkpoint,
    )
    save_classifier(sm.output.model, result.model, hparams)
    save_json(sm.output.metrics, {**result.metrics, "params": p, "num_classes": num_classes})
    with atomic_path(sm.output.curve) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(result.curve[0]))
        writer.writeheader()
        writer.writerows(result.curve)
    checkpoint.unlink(missing_ok=True)
    log.info("%s: test accuracy %.4f", sm.wildcards.model, result.metrics["test_accuracy"])
