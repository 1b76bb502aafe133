"""Adapter for rule `metrics`: per-image CAM similarities and their aggregates for one noise."""

from camrobust.cam.store import check_matches, load_cams, only_methods
from camrobust.explanation_names import EXPLANATION_ATTACK
from camrobust.io import atomic_path, load_npz
from camrobust.logs import script_logging
from camrobust.metrics import aggregate, make_regions, per_image_table
from camrobust.metrics.equivalence import same_as, with_method_columns
from camrobust.names import CLEAN_LEVEL, split_model

sm = snakemake  # noqa: F821
with script_logging(sm.log[0], sm.threads, rule=sm.rule) as log:
    p = sm.params.p
    images = load_npz(sm.input.images)
    levels = {}
    for level, path in zip(p["levels"], sm.input.cams, strict=True):
        levels[level] = load_cams(path)
        check_matches(levels[level], path, images, sm.input.images)
    clean = levels.pop(CLEAN_LEVEL)  # the plan puts the clean CAMs first
    if sm.wildcards.noise == EXPLANATION_ATTACK:  # the methods it attacks (their CAM job's log)
        clean = only_methods(clean, next(iter(levels.values()))["methods"])
    model = split_model(sm.wildcards.model)
    regions = None
    if "segments" in sm.input.keys():  # noqa: SIM118 (a Namedlist: `in` would test the values)
        segments = load_npz(sm.input.segments)["labels"]
        if segments.shape != images["images"].shape[:3]:
            raise ValueError(
                f"{sm.input.segments}: labels of shape {segments.shape} do not match the "
                f"images of {sm.input.images} ({images['images'].shape[:3]})"
            )
        regions = make_regions(segments, **p["rbo"])
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
        regions=regions,
    )
    robust = aggregate(
        table, measures=p["measures"], n_boot=p["bootstrap"], ci=p["ci"], seed=p["seed"]
    )
    # The model's groups of identical maps, from its clean images (the same in every noise's job)
    groups = same_as(clean["maps"], images["images"].shape[1:3])
    table, robust = (with_method_columns(t, groups) for t in (table, robust))
    for group in sorted(set(groups.values()) - {""}):
        twins = [m for m, first in groups.items() if first == group]
        log.info("same maps on every clean image: %s = %s", group, " = ".join(twins))
    with atomic_path(sm.output.per_image) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(sm.output.robustness) as tmp:
        robust.to_csv(tmp, index=False)
    log.info("%s %s: %d per-image rows", sm.wildcards.model, sm.wildcards.noise, len(table))
