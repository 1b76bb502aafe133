# Helpers and input functions shared by every stage file. Imports nothing heavy (no torch): the
# Snakefile is parsed on every dry run, so this stays fast even for the paper-scale DAG.
import re
import sys
from pathlib import Path

from camrobust import paths
from camrobust.class_map import KINDS as CLASS_MAP_KINDS
from camrobust.config import ConfigError, check_sizes, validate_config
from camrobust.data.cifar10c import is_official, official_files
from camrobust.data.prepare import remote_files
from camrobust.early import cam_work, check_device, layer_channels, preflight
from camrobust.explanation_names import EXPLANATION_ATTACK, LINF_RANDOM
from camrobust.local_gpu import gpus_per_job
from camrobust.names import (
    CLAIMS_TABLES,
    CLEAN,
    CLEAN_LEVEL,
    GENERATIVE_OF,
    STATS_TABLES,
    split_model,
)
from camrobust.report.registry import figure_spec
from camrobust.plan import Plan

try:
    _validated = validate_config(config, workflow.source_path("../config/schema.yaml"))
    # The data's sizes and the checks needing torch (cached; a child process), once per run:
    # a job that Snakemake starts as a process of its own parses this file too.
    _checked = None
    if workflow.is_main_process:
        _checked = preflight(_validated, check_sizes(_validated))
except ConfigError as err:
    sys.exit(str(err))  # one line naming the key, no traceback, before any job
PLAN = Plan(_validated)
config.clear()
config.update(_validated)
if workflow.is_main_process:
    _channels = layer_channels(PLAN, (_checked or {}).get("channels", {}))
    for _line in cam_work(PLAN, _channels):
        print(_line, file=sys.stderr)


# A CUDA device is checked where the jobs run, when a run (not a dry run) starts: a cluster's
# login node may have no GPU, and its jobs are checked on their own nodes.
onstart:
    if workflow.local_exec:
        try:
            check_device(config["device"])
        except ConfigError as err:
            sys.exit(str(err))


R = paths.RESULTS
ENV_TORCH = "../envs/torch.yaml"
ENV_ANALYSIS = "../envs/analysis.yaml"
# The `gpu` resource of the torch rules: 1 where they run on a GPU, 0 on the CPU (see
# camrobust/local_gpu.py). The SLURM profile sets it per rule, whatever the login node has.
GPUS_PER_JOB = gpus_per_job(config["device"])


def one_of(names):
    """A wildcard constraint matching exactly `names` (and nothing when there are none)."""
    return "|".join(re.escape(str(n)) for n in names) or "(?!)"


def all_targets():
    """What the default target asks for: the tables, the stats, the figures and the summary."""
    return [
        paths.table("robustness.csv"),
        paths.table("accuracy.csv"),
        *stats_outputs(),
        *report_outputs(),
        *quality_outputs(),
        *corruption_error_outputs(),
    ]


def corruption_error_outputs():
    """The corruption error table, when a corruption family is configured (not attacks alone)."""
    return [paths.table("corruption_error.csv")] if PLAN.corruptions else []


def quality_files():
    """Every quality job's per-image table (none when both quality families are off)."""
    return expand(paths.quality_file(), dataset=PLAN.datasets, model=PLAN.models)


def quality_outputs():
    """The quality table and its method tests, when a quality family is enabled."""
    if not PLAN.quality_enabled:
        return []
    return [paths.table("quality.csv"), paths.stats_file("quality")]


def _wildcard_path(*parts, names, suffix):
    return Path(*parts, *(f"{{{n}}}" for n in names)).as_posix() + suffix


def log(stage, *names):
    """Log path for a rule, with the same wildcards as its output."""
    return _wildcard_path(R, "logs", stage, names=names, suffix=".log")


def bench(stage, *names):
    """Benchmark path for an expensive rule."""
    return _wildcard_path(R, "benchmarks", stage, names=names, suffix=".tsv")


# ---- input functions and target lists of the stage files ----


def raw_files(wildcards):
    """The downloaded files a dataset is converted from (none for shapes and image folders)."""
    spec = config["datasets"][wildcards.dataset]
    return [paths.raw_file(wildcards.dataset, name) for name in remote_files(spec)]


def download_source(wildcards):
    """(url, md5) of a downloaded file: a dataset's own, or the CIFAR-10-C archive."""
    spec = config["datasets"][wildcards.dataset]
    return {**remote_files(spec), **official_files(spec)}[wildcards.filename]


def class_map_file(wildcards):
    """A user's model's mapping file, where `classes` names one: editing it reruns the import."""
    classes = config["models"][wildcards.model]["classes"]
    return [] if classes in CLASS_MAP_KINDS else [classes]


def noisy_set_input(wildcards):
    """The clean evaluation subset, and the published archive for official images."""
    files = {"images": paths.data_file("eval", wildcards.dataset)}
    if is_official(config["datasets"][wildcards.dataset]):
        files["archive"] = paths.official_archive(wildcards.dataset)
    return files


def generative_input(wildcards):
    """The generative model a latent-space regulariser perturbs in, the one of the model's own
    training seed (none for erm and vat)."""
    model = split_model(wildcards.model)
    gen = GENERATIVE_OF.get(model.regularizer)
    return [paths.generative_file(wildcards.dataset, gen, model.seed)] if gen else []


def image_set(dataset, model, noise, level):
    """The image set a CAM job explains (a transfer attack: its reference model's attack)."""
    if noise in PLAN.transfers:
        reference = PLAN.transfer_reference(model)
        return paths.adversarial_set(dataset, reference, PLAN.transfers[noise], level)
    return paths.image_set(dataset, model, noise, level, attack=noise in PLAN.attacks)


def cam_input(wildcards):
    """The model, the image set, and (target policy `clean`) the clean CAMs for their targets."""
    ds, model, noise = wildcards.dataset, wildcards.model, wildcards.noise
    files = {
        "model": paths.model_file("model.pt", ds, model),
        "images": image_set(ds, model, noise, wildcards.level),
    }
    if config["cam"]["target_policy"] == "clean" and noise != CLEAN:
        files["clean"] = paths.cams(ds, model, CLEAN, CLEAN_LEVEL)
    if noise != CLEAN:  # how far the noise moves the CAM layer's activations
        files["clean_images"] = paths.data_file("eval", ds)
    return files


def explanation_cam_input(wildcards):
    """The model, each attacked method's image set (in the params' order), and (target policy
    `clean`) the clean CAMs."""
    ds, model = wildcards.dataset, wildcards.model
    files = {
        "model": paths.model_file("model.pt", ds, model),
        "sets": [
            paths.explanation_attack_set(ds, model, wildcards.level, method)
            for method in PLAN.explanation_methods
        ],
    }
    if config["cam"]["target_policy"] == "clean":
        files["clean"] = paths.cams(ds, model, CLEAN, CLEAN_LEVEL)
    return files


def cam_series(wildcards):
    """The clean CAMs and those of every level of the noise: what a metrics job compares."""
    return paths.cam_series(
        wildcards.dataset,
        wildcards.model,
        PLAN.cam_noise(wildcards.model, wildcards.noise),
        PLAN.levels(wildcards.noise),
    )


def metric_files(suffix):
    """Every metrics job's file of one kind (`parquet` or `robustness.csv`)."""
    return expand(
        paths.metrics_file(suffix),
        dataset=PLAN.datasets,
        model=PLAN.models,
        noise=PLAN.noises,
    )


def stats_outputs():
    """The stats job's tables and the claims job's (camrobust/names.py names them)."""
    return [paths.stats_file(name) for name in [*STATS_TABLES, *CLAIMS_TABLES]]


def report_outputs():
    figures = expand(paths.figure(), dataset=PLAN.datasets, figure=PLAN.figures)
    grids = expand(
        paths.cam_grid(),
        dataset=PLAN.datasets,
        model=PLAN.models,
    )
    tables = ["summary.csv", "summary.md", "headline.md"]
    return [*figures, *grids, *(paths.table(name) for name in tables)]


def cam_grid_input(wildcards):
    noise = PLAN.grid_noise()
    ds, model = wildcards.dataset, wildcards.model
    return {
        "clean_images": paths.data_file("eval", ds),
        "noisy_images": [image_set(ds, model, noise, lv) for lv in PLAN.levels(noise)],
        "cams": paths.cam_series(
            ds, model, PLAN.cam_noise(model, noise), PLAN.levels(noise)
        ),
    }


def figure_input(wildcards):
    """A figure's table, and its second one (`extra`) if it draws from two."""
    tables = {
        "robustness": paths.table("robustness.csv"),
        "per_image": paths.table("per_image.parquet"),
        "quality": paths.table("quality.csv"),
        **{name: paths.stats_file(name) for name in STATS_TABLES},
    }
    spec = figure_spec(wildcards.figure)
    extra = {"extra": tables[spec.extra]} if spec.extra else {}
    return {"table": tables[spec.table], **extra}
