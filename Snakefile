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


wildcard_constraints:
    dataset=r"[a-z][a-z0-9_]*",
    gen=r"vae|glow",
    arch=r"cnn13|resnet18|vgg11_bn",
    model=r"(cnn13|resnet18|vgg11_bn)-(erm|vat|lvat_vae|lvat_glow)",
    noise=r"[a-z_]+",
    attack=r"fgsm|pgd",
    level=r"[0-9]+(\.[0-9]+)?",
    figure=r"[a-z_]+",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/generative.smk"
include: "rules/train.smk"
include: "rules/noise.smk"
include: "rules/cam.smk"
include: "rules/metrics.smk"
include: "rules/stats.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
