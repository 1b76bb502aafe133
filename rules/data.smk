# Data stage: download (real sources) and convert every dataset to the canonical .npz files,
# plus the seeded, class-stratified evaluation subset that every later stage reads.


localrules:
    download,


rule download:
    output:
        "resources/raw/{dataset}/{filename}",
    log:
        log("download", "dataset", "filename"),
    retries: 2
    conda:
        ENV_TORCH
    params:
        source=lambda wc: remote_files(config["datasets"][wc.dataset])[wc.filename],
    script:
        "../scripts/download.py"


rule prepare_data:
    input:
        raw_files,
    output:
        train=f"{R}/data/{{dataset}}/train.npz",
        test=f"{R}/data/{{dataset}}/test.npz",
        eval=f"{R}/data/{{dataset}}/eval.npz",
    log:
        log("data", "dataset"),
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=lambda wc: PLAN.data_params(wc.dataset),
        fail_first=fails_first("prepare_data"),
    script:
        "../scripts/prepare_data.py"
