# Robustness metrics: per-image similarities of clean vs noisy CAMs, and their aggregates.


rule metrics:
    input:
        images=f"{R}/data/{{dataset}}/eval.npz",
        cams=lambda wc: PLAN.cam_files(R, wc.dataset, wc.model, wc.noise),
    output:
        per_image=f"{R}/metrics/{{dataset}}/{{model}}/{{noise}}.parquet",
        robustness=f"{R}/metrics/{{dataset}}/{{model}}/{{noise}}.robustness.csv",
    log:
        log("metrics", "dataset", "model", "noise"),
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=PLAN.metrics_params(),
        levels=lambda wc: ["0", *PLAN.levels(wc.noise)],
        fail_first=fails_first("metrics"),
    script:
        "../scripts/metrics.py"


rule robustness_table:
    input:
        PLAN.metric_files(R, "robustness.csv"),
    output:
        report(
            f"{R}/tables/robustness.csv",
            caption="../report/robustness.rst",
            category="Tables",
        ),
    log:
        f"{R}/logs/tables/robustness.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/concat_tables.py"


rule accuracy_table:
    input:
        per_image=PLAN.metric_files(R, "parquet"),
        models=expand(
            f"{R}/models/{{dataset}}/{{model}}/metrics.json",
            dataset=PLAN.datasets,
            model=PLAN.models,
        ),
    output:
        report(
            f"{R}/tables/accuracy.csv",
            caption="../report/accuracy.rst",
            category="Tables",
        ),
    log:
        f"{R}/logs/tables/accuracy.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/accuracy_table.py"
