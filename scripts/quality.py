"""Adapter for rule `quality`: sensitivity and faithfulness of every CAM method for one model."""

from camrobust.io import atomic_path
from camrobust.logs import script_logging
from camrobust.models.inference import classifier_and_images
from camrobust.names import split_model
from camrobust.quality import evaluate_quality

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    # each family measures the first metrics.<family>.images of these
    model, images = classifier_and_images(sm.input.model, sm.input.images, p["device"])
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
        # A user's model may name its layer's layout; None: from the model family.
        layout=p.get("layout"),
        prefix_tokens=p.get("prefix_tokens"),
    )
    with atomic_path(sm.output[0]) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%s: %d per-image rows", sm.output[0], len(table))
