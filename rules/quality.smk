# Explanation quality beside robustness (docs/sensitivity-faithfulness.md): Quantus' sensitivity
# metrics and the faithfulness metrics of every CAM method on the clean evaluation images, per
# classifier; then their table with bootstrap intervals and the method tests on them. Only when
# metrics.sensitivity or metrics.faithfulness is enabled.


rule quality:
    input:
        model=paths.model_file("model.pt"),
        images=paths.data_file("eval"),
    output:
        paths.quality_file(),
    log:
        log("quality", "dataset", "model"),
    benchmark:
        bench("quality", "dataset", "model")
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS_PER_JOB,
    params:
        p=lambda wc: PLAN.metrics.quality_params(wc.model),
    script:
        "../scripts/quality.py"


rule quality_table:
    input:
        quality_files(),
    output:
        report(
            paths.table("quality.csv"),
            caption="../report/quality.rst",
            category="Tables",
        ),
    log:
        f"{R}/logs/tables/quality.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        p=PLAN.report.quality_table_params(),
    script:
        "../scripts/quality_table.py"


rule quality_stats:
    input:
        quality_files(),
    output:
        report(
            paths.stats_file("quality"),
            caption="../report/stats_quality.rst",
            category="Statistical tests",
        ),
    log:
        f"{R}/logs/stats/quality.log",
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=PLAN.report.quality_stats_params(),
    script:
        "../scripts/quality_stats.py"
