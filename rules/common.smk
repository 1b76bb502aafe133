# Helpers and input functions shared by every stage file. Imports nothing heavy (no torch): the
# Snakefile is parsed on every dry run, so this stays fast even for the paper-scale DAG.
import sys
from pathlib import Path

from camrobust.config import ConfigError, validate_config
from camrobust.data.prepare import remote_files
from camrobust.local_gpu import gpus_per_job
from camrobust.report.registry import FIGURES
from camrobust.workflow_plan import CLEAN, GENERATIVE_OF, Plan

try:
    _validated = validate_config(
        config, Path(workflow.basedir) / "config" / "schema.yaml"
    )
    PLAN = Plan(_validated)
except ConfigError as err:
    sys.exit(str(err))  # one line naming the key, no traceback, before any job
config.clear()
config.update(_validated)

R = "results"
ENV_TORCH = "../envs/torch.yaml"
ENV_ANALYSIS = "../envs/analysis.yaml"
# The `gpu` resource of the torch rules: 1 where they run on a GPU, 0 on the CPU (see
# camrobust/local_gpu.py). The SLURM profile sets it per rule, whatever the login node has.
GPUS_PER_JOB = gpus_per_job(config["device"])


def all_targets():
    """What the default target asks for: the tables, the stats, the figures and the summary."""
    return [
        f"{R}/tables/robustness.csv",
        f"{R}/tables/accuracy.csv",
        *stats_outputs(),
        *report_outputs(),
    ]


def _wildcard_path(*parts, names, suffix):
    return Path(*parts, *(f"{{{n}}}" for n in names)).as_posix() + suffix


def log(stage, *names):
    """Log path for a rule, with the same wildcards as its output."""
    return _wildcard_path(R, "logs", stage, names=names, suffix=".log")


def bench(stage, *names):
    """Benchmark path for an expensive rule."""
    return _wildcard_path(R, "benchmarks", stage, names=names, suffix=".tsv")


def fails_first(rule_name):
    """Testing switch: does this rule fail on its first attempt?"""
    return rule_name in config["fail_first_attempt"]


# ---- input functions and target lists of the stage files ----


def raw_files(wildcards):
    """The downloaded files a dataset is converted from (none for shapes and image folders)."""
    spec = config["datasets"][wildcards.dataset]
    return [f"resources/raw/{wildcards.dataset}/{name}" for name in remote_files(spec)]


def generative_input(wildcards):
    """The generative model a latent-space regulariser perturbs in (none for erm and vat)."""
    _, reg = PLAN.split_model(wildcards.model)
    gen = GENERATIVE_OF.get(reg)
    return [f"{R}/generative/{wildcards.dataset}/{gen}.pt"] if gen else []


def cam_input(wildcards):
    """The model, the image set, and (target policy `clean`) the clean CAMs for their targets."""
    files = {
        "model": f"{R}/models/{wildcards.dataset}/{wildcards.model}/model.pt",
        "images": PLAN.noisy_file(
            R, wildcards.dataset, wildcards.model, wildcards.noise, wildcards.level
        ),
    }
    if config["cam"]["target_policy"] == "clean" and wildcards.noise != CLEAN:
        files["clean"] = f"{R}/cams/{wildcards.dataset}/{wildcards.model}/{CLEAN}/0.npz"
    return files


STATS_TABLES = ["methods", "method_ranks", "regularizers", "mixedlm", "flips", "noise"]


def stats_outputs():
    return [f"{R}/stats/{name}.csv" for name in STATS_TABLES]


def report_outputs():
    figures = expand(
        f"{R}/report/{{dataset}}/{{figure}}.png", dataset=PLAN.datasets, figure=FIGURES
    )
    grids = expand(
        f"{R}/report/{{dataset}}/cam_grid/{{model}}.png",
        dataset=PLAN.datasets,
        model=PLAN.models,
    )
    tables = ["summary.csv", "summary.md", "headline.md"]
    return [*figures, *grids, *(f"{R}/tables/{name}" for name in tables)]


def cam_grid_input(wildcards):
    noise = PLAN.grid_noise()
    return {
        "clean_images": f"{R}/data/{wildcards.dataset}/eval.npz",
        "noisy_images": [
            PLAN.noisy_file(R, wildcards.dataset, wildcards.model, noise, lv)
            for lv in PLAN.levels(noise)
        ],
        "cams": PLAN.cam_files(R, wildcards.dataset, wildcards.model, noise),
    }
