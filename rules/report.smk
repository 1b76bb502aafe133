# Figures and the paper-style summary table, each wrapped in report() for `snakemake --report`.


rule figure:
    input:
        robustness=f"{R}/tables/robustness.csv",
        per_image=f"{R}/tables/per_image.parquet",
        stats=stats_outputs(),
    output:
        report(
            f"{R}/report/{{dataset}}/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
    log:
        log("report", "dataset", "figure"),
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=config["report"],
    script:
        "../scripts/figure.py"


rule cam_grid:
    input:
        unpack(cam_grid_input),
    output:
        report(
            f"{R}/report/{{dataset}}/cam_grid/{{model}}.png",
            caption="../report/cam_grid.rst",
            category="CAM grids",
            subcategory="{dataset}",
        ),
    log:
        log("report", "dataset", "model"),
    conda:
        ENV_ANALYSIS
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        p=config["report"],
        noise=PLAN.grid_noise(),
        levels=lambda wc: ["0", *PLAN.levels(PLAN.grid_noise())],
    script:
        "../scripts/cam_grid.py"


rule summary_table:
    input:
        f"{R}/tables/robustness.csv",
    output:
        csv=report(
            f"{R}/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        md=f"{R}/tables/summary.md",
    log:
        f"{R}/logs/tables/summary.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        measure=config["report"]["measure"],
    script:
        "../scripts/summary_table.py"
