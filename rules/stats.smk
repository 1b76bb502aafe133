# Statistical tests (docs/metric.md): methods, regularisers (+ mixed model), kept vs flipped, noise types.


rule per_image_table:
    input:
        metric_files("parquet"),
    output:
        paths.table("per_image.parquet"),
    log:
        f"{R}/logs/tables/per_image.log",
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/concat_tables.py"


rule stats:
    input:
        paths.table("per_image.parquet"),
    output:
        **{
            name: report(
                paths.stats_file(name),
                caption=f"../report/stats_{name}.rst",
                category="Statistical tests",
            )
            for name in STATS_TABLES
        },
    log:
        f"{R}/logs/stats/stats.log",
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        p=PLAN.report.stats_params(),
    script:
        "../scripts/stats.py"


# The headline's pre-specified regulariser claims and their sensitivity analyses
# (camrobust/stats/claims.py, sensitivity.py).
rule claims:
    input:
        paths.table("per_image.parquet"),
    output:
        **{
            name: report(
                paths.stats_file(name),
                caption=f"../report/stats_{name}.rst",
                category="Statistical tests",
            )
            for name in CLAIMS_TABLES
        },
    log:
        f"{R}/logs/stats/claims.log",
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        p=PLAN.report.claims_params(),
    script:
        "../scripts/claims.py"
