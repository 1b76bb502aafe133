"""Adapter for rule `quality`: sensitivity and faithfulness of every CAM method for one model."""

from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.io import atomic_path, load_npz
from camrobust.logs import script_logging
from camrobust.models import load_classifier
from camrobust.names import split_model
from camrobust.quality import evaluate_quality

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    device = resolve_device(p["device"])
    model = load_classifier(sm.input.model, device)
    # each family takes the first metrics.<family>.images of these
    images = to_model_input(load_npz(sm.input.images)["images"], device)
    name = split_model(sm.wildcards.model)
    table = evaluate_quality(
        model,
        p["target_layer"],
        images,
        p["methods"],
        {
            "dataset": sm.wildcards.dataset,
            "model": sm.wildcards.model,
            "arch": name.arch,
            "regularizer": name.regularizer,
        },
        sensitivity_options=p["sensitivity"],
        faithfulness_options=p["faithfulness"],
        seed=p["seed"],
        batch_size=p["batch_size"],
        autocast=p["autocast"],
    )
    with atomic_path(sm.output[0]) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%s: %d per-image rows", sm.output[0], len(table))
