# camrobust: how robust are Class Activation Maps to input noise, and does (latent-space) virtual
# adversarial training change that? Stages: rules/*.smk; library: camrobust/; adapters: scripts/.
# The library (camrobust/) is imported from this folder, which Snakemake puts on sys.path for a
# Snakefile read from a local path (also as a module); a module read from a git host needs the
# package installed. The workflow's own files are found from the Snakefile that names them
# (workflow.current_basedir, workflow.source_path), never workflow.basedir: in a module that is
# the host workflow's folder.
from snakemake.utils import min_version

min_version("9.0")


# --configfile replaces the embedded default instead of merging into it, so a paper config never
# inherits the default's shapes dataset. (Ignored in a module given a `config:`.)
if not workflow.overwrite_configfiles:

    configfile: workflow.current_basedir.join("config/config.yaml").get_path_or_uri(True)


include: "rules/common.smk"


# The first rule, so the default target without `default_target:`, which would also take over a
# host workflow's default when this workflow is used as a module.
rule all:
    input:
        all_targets(),


# From the validated config: a wildcard matches only what the config names.
wildcard_constraints:
    dataset=one_of(PLAN.datasets),
    gen=one_of(PLAN.generative),
    seed=one_of(PLAN.training_seeds),
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
