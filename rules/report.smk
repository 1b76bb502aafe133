# Figures, CAM grids, the paper-style summary table and the headline, each wrapped in report()
# for `snakemake --report`. Each rule's params are exactly the config keys it reads.
from camrobust.report.headline import REGULARIZER_TABLE
from camrobust.report.registry import figure_params, figure_spec

# The file of each table a figure can draw (see camrobust/report/registry.py).
FIGURE_TABLES = {
    "robustness": rules.robustness_table.output[0],
    "per_image": rules.per_image_table.output[0],
    **{name: getattr(rules.stats.output, name) for name in STATS_TABLES},
}
# The keys the CAM grids read: how many images, their seed, the noise and its levels, dpi.
CAM_GRID_PARAMS = {
    "images": config["report"]["grid_images"],
    "seed": config["seed"],
    "noise": PLAN.grid_noise(),
    "levels": PLAN.levels(PLAN.grid_noise()),
    "dpi": config["report"]["dpi"],
}


rule figure:
    input:
        table=lambda wc: FIGURE_TABLES[figure_spec(wc.figure).table],
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
        p=lambda wc: figure_params(wc.figure, config["report"]),
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
        p=CAM_GRID_PARAMS,
    script:
        "../scripts/cam_grid.py"


rule summary_table:
    input:
        rules.robustness_table.output[0],
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


rule headline:
    input:
        robustness=rules.robustness_table.output[0],
        regularizers=getattr(rules.stats.output, REGULARIZER_TABLE),
        accuracy=rules.accuracy_table.output[0],
    output:
        report(
            f"{R}/tables/headline.md",
            caption="../report/headline.rst",
            category="Answer",
        ),
    log:
        f"{R}/logs/tables/headline.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        measure=config["report"]["measure"],
        # Plain strings: a rule's output object would carry the rule into the script's pickle.
        where={
            "summary": str(rules.summary_table.output.md),
            "stats": f"{R}/stats/",
            "per_image": str(rules.per_image_table.output[0]),
            "report": f"{R}/report.html",
        },
    script:
        "../scripts/headline.py"
