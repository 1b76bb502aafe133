"""Adapter for rule `metrics`: per-image CAM similarities and their aggregates for one noise."""

from camrobust.cam.store import check_matches, load_cams
from camrobust.io import atomic_path, load_npz
from camrobust.logs import script_logging
from camrobust.metrics import aggregate, per_image_table
from camrobust.names import split_model

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    images = load_npz(sm.input.images)
    levels = {}
    for level, path in zip(p["levels"], sm.input.cams, strict=True):
        levels[level] = load_cams(path)
        check_matches(levels[level], path, images, sm.input.images)
    clean = levels.pop("0")
    model = split_model(sm.wildcards.model)
    # `label` is the model output of each image's class (a user's model may map the classes).
    labels = images["labels"]
    if clean["label_map"] is not None:
        labels = clean["label_map"][labels]
    table = per_image_table(
        clean=clean,
        noisy=levels,
        labels=labels,
        masks=images.get("masks"),
        image_size=images["images"].shape[1:3],
        measures=p["measures"],
        keys={
            "dataset": sm.wildcards.dataset,
            "model": sm.wildcards.model,
            "arch": model.arch,
            "regularizer": model.regularizer,
            "seed": model.seed,
            "noise": sm.wildcards.noise,
        },
    )
    robust = aggregate(
        table, measures=p["measures"], n_boot=p["bootstrap"], ci=p["ci"], seed=p["seed"]
    )
    with atomic_path(sm.output.per_image) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(sm.output.robustness) as tmp:
        robust.to_csv(tmp, index=False)
    log.info("%s %s: %d per-image rows", sm.wildcards.model, sm.wildcards.noise, len(table))
