# Statistical tests (METRIC.md): methods, regularisers (+ mixed model), kept vs flipped, noise types.

STATS_TABLES = ["methods", "method_ranks", "regularizers", "mixedlm", "flips", "noise"]


def stats_outputs():
    return [f"{R}/stats/{name}.csv" for name in STATS_TABLES]


rule per_image_table:
    input:
        PLAN.metric_files(R, "parquet"),
    output:
        f"{R}/tables/per_image.parquet",
    log:
        f"{R}/logs/tables/per_image.log",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/concat_tables.py"


rule stats:
    input:
        f"{R}/tables/per_image.parquet",
    output:
        **{
            name: report(
                f"{R}/stats/{name}.csv",
                caption=f"../report/stats_{name}.rst",
                category="Statistical tests",
            )
            for name in STATS_TABLES
        },
    params:
        p=config["stats"],
    log:
        f"{R}/logs/stats/stats.log",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/stats.py"
