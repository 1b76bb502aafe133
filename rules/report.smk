# Figures and the paper-style summary table, each wrapped in report() for `snakemake --report`.

FIGURES = [
    "h_heatmap",
    "severity_curves",
    "kept_flipped",
    "average_ranks",
    "accuracy_vs_severity",
    "forest_plot",
]


def report_outputs():
    figures = expand(f"{R}/report/{{dataset}}/{{figure}}.png", dataset=PLAN.datasets, figure=FIGURES)
    grids = expand(
        f"{R}/report/{{dataset}}/cam_grid/{{model}}.png", dataset=PLAN.datasets, model=PLAN.models
    )
    return [*figures, *grids, f"{R}/tables/summary.csv", f"{R}/tables/summary.md"]


rule figure:
    input:
        robustness=f"{R}/tables/robustness.csv",
        per_image=f"{R}/tables/per_image.parquet",
        stats=stats_outputs(),
    output:
        report(
            f"{R}/report/{{dataset}}/{{figure}}.png",
            caption="../report/figure_{figure}.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
    params:
        p=config["report"],
    log:
        log("report", "dataset", "figure"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/figure.py"


def cam_grid_input(wildcards):
    noise = PLAN.grid_noise()
    return {
        "clean_images": f"{R}/data/{wildcards.dataset}/eval.npz",
        "noisy_images": [
            PLAN.noisy_file(R, wildcards.dataset, wildcards.model, noise, lv)
            for lv in PLAN.levels(noise)
        ],
        "cams": PLAN.cam_files(R, wildcards.dataset, wildcards.model, noise),
    }


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
    params:
        p=config["report"],
        noise=PLAN.grid_noise(),
        levels=lambda wc: ["0", *PLAN.levels(PLAN.grid_noise())],
    log:
        log("report", "dataset", "model"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_ANALYSIS
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
    params:
        measure=config["report"]["measure"],
    log:
        f"{R}/logs/tables/summary.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    script:
        "../scripts/summary_table.py"
