# Data stage: download (real sources, and the CIFAR-10-C archive of `noise.source: official`) and
# convert every dataset to the canonical .npz files, plus the seeded, class-stratified evaluation
# subset that every later stage reads.


# Downloads run on the host that has the internet (a login node); `localrule:` rather than a
# `localrules:` list, which would miss the renamed rule when the workflow is used as a module.
rule download:
    output:
        paths.raw_file(),
    log:
        log("download", "dataset", "filename"),
    retries: 2
    localrule: True
    conda:
        ENV_TORCH
    params:
        source=download_source,
    script:
        "../scripts/download.py"


rule prepare_data:
    input:
        raw_files,
    output:
        train=paths.data_file("train"),
        test=paths.data_file("test"),
        eval=paths.data_file("eval"),
    log:
        log("data", "dataset"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=lambda wc: PLAN.data.params(wc.dataset),
    script:
        "../scripts/prepare_data.py"
