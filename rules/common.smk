# Helpers and input functions shared by every rule file. Imports nothing heavy (no torch): the
# Snakefile is parsed on every dry run, so this stays fast even for the paper-scale DAG.
import sys
from pathlib import Path

from camrobust.config import ConfigError, validate_config
from camrobust.data.prepare import remote_files
from camrobust.workflow_plan import CLEAN, GENERATIVE_OF, Plan

try:
    _validated = validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    PLAN = Plan(_validated)
except ConfigError as err:
    sys.exit(str(err))  # one line naming the key, no traceback, before any job
config.clear()
config.update(_validated)

R = "results"
ENV_TORCH = "../envs/torch.yaml"
ENV_ANALYSIS = "../envs/analysis.yaml"


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    gen=r"vae|glow",
    arch=r"cnn13|resnet18|vgg11_bn",
    model=r"(cnn13|resnet18|vgg11_bn)-(erm|vat|lvat_vae|lvat_glow)",
    noise=r"[a-z_]+",
    attack=r"fgsm|pgd",
    level=r"[0-9]+(\.[0-9]+)?",
    figure=r"[a-z_]+",


def all_targets():
    """Everything `rule all` asks for: the tables, the stats, the figures and the summary."""
    return [
        f"{R}/tables/robustness.csv",
        f"{R}/tables/accuracy.csv",
        *stats_outputs(),
        *report_outputs(),
    ]


def log(stage, *names):
    """Log path for a rule, with the same wildcards as its output."""
    return f"{R}/logs/{stage}/" + "/".join(f"{{{n}}}" for n in names) + ".log"


def bench(stage, *names):
    """Benchmark path for an expensive rule."""
    return f"{R}/benchmarks/{stage}/" + "/".join(f"{{{n}}}" for n in names) + ".tsv"


def fails_first(rule_name):
    """Testing switch: does this rule fail on its first attempt?"""
    return rule_name in config["fail_first_attempt"]
