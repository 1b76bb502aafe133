# Robustness metrics: per-image similarities of clean vs noisy CAMs, and their aggregates.


# The paper's metric ranks regions of the clean images: Quickshift segments, once per dataset
# (planned only while a measure reads them, PLAN.needs_segments).
rule segments:
    input:
        paths.data_file("eval"),
    output:
        paths.segments_file(),
    log:
        log("segments", "dataset"),
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        p=lambda wc: PLAN.metrics.segment_params(wc.dataset),
    script:
        "../scripts/segments.py"


rule metrics:
    input:
        # the images' regions, when a measure ranks them (rbo)
        **({"segments": paths.segments_file()} if PLAN.needs_segments else {}),
        images=paths.data_file("eval"),
        cams=cam_series,
    output:
        per_image=paths.metrics_file("parquet"),
        robustness=paths.metrics_file("robustness.csv"),
    log:
        log("metrics", "dataset", "model", "noise"),
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=lambda wc: PLAN.metrics.params(wc.noise),
    script:
        "../scripts/metrics.py"


rule robustness_table:
    input:
        metric_files("robustness.csv"),
    output:
        report(
            paths.table("robustness.csv"),
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
        per_image=metric_files("parquet"),
        # in the order of the params' row keys
        models=[paths.model_file("metrics.json", d, m) for d, m in PLAN.model_keys()],
    output:
        report(
            paths.table("accuracy.csv"),
            caption="../report/accuracy.rst",
            category="Tables",
        ),
    log:
        f"{R}/logs/tables/accuracy.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        p=PLAN.report.accuracy_params(),
    script:
        "../scripts/accuracy_table.py"


# Corruption error, mCE and relative mCE per model (Hendrycks & Dietterich), from the accuracies.
rule corruption_error_table:
    input:
        rules.accuracy_table.output[0],
    output:
        report(
            paths.table("corruption_error.csv"),
            caption="../report/corruption_error.rst",
            category="Tables",
        ),
    log:
        f"{R}/logs/tables/corruption_error.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        p=PLAN.report.corruption_error_params(),
    script:
        "../scripts/corruption_error_table.py"
