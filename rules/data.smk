# Data stage: download (real sources) and convert every dataset to the canonical .npz files,
# plus the seeded, class-stratified evaluation subset that every later stage reads.


localrules:
    download,


def raw_files(wildcards):
    """The downloaded files a dataset is converted from (none for shapes and image folders)."""
    spec = config["datasets"][wildcards.dataset]
    return [f"resources/raw/{wildcards.dataset}/{name}" for name in remote_files(spec)]


rule download:
    output:
        "resources/raw/{dataset}/{filename}",
    params:
        source=lambda wc: remote_files(config["datasets"][wc.dataset])[wc.filename],
    log:
        log("download", "dataset", "filename"),
    retries: 2
    conda:
        ENV_TORCH
    script:
        "../scripts/download.py"


rule prepare_data:
    input:
        raw_files,
    output:
        train=f"{R}/data/{{dataset}}/train.npz",
        test=f"{R}/data/{{dataset}}/test.npz",
        eval=f"{R}/data/{{dataset}}/eval.npz",
    params:
        spec=lambda wc: PLAN.data_params(wc.dataset),
        fail_first=fails_first("prepare_data"),
    log:
        log("data", "dataset"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV_TORCH
    script:
        "../scripts/prepare_data.py"
