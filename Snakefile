# camrobust: how robust are Class Activation Maps to input noise, and does (latent-space) virtual
# adversarial training change that? Stages: rules/*.smk; library: camrobust/; adapters: scripts/.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(
    0, workflow.basedir
)  # the library, also when the package is not installed


# --configfile replaces the embedded default instead of merging into it, so a paper config never
# inherits the default's shapes dataset.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"


# From the validated config: a wildcard matches only what the config names.
wildcard_constraints:
    dataset=one_of(PLAN.datasets),
    gen=one_of(PLAN.generative),
    arch=one_of(PLAN.architectures),
    model=one_of(PLAN.models),
    noise=one_of([CLEAN, *PLAN.noises]),
    attack=one_of(PLAN.attacks),
    level=one_of([CLEAN_LEVEL, *(lv for n in PLAN.noises for lv in PLAN.levels(n))]),
    figure=r"[a-z_]+",


include: "rules/data.smk"
include: "rules/generative.smk"
include: "rules/train.smk"
include: "rules/noise.smk"
include: "rules/cam.smk"
include: "rules/metrics.smk"
include: "rules/stats.smk"
include: "rules/quality.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
