# Figures, CAM grids, the paper-style summary table and the headline, each wrapped in report()
# for `snakemake --report`. Each rule's params are exactly the config keys it reads.
from camrobust.names import CLAIMS_TABLE


rule figure:
    input:
        unpack(figure_input),
    output:
        report(
            paths.figure(),
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
        p=lambda wc: PLAN.report.figure_params(wc.figure),
    script:
        "../scripts/figure.py"


rule cam_grid:
    input:
        unpack(cam_grid_input),
    output:
        report(
            paths.cam_grid(),
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
        p=PLAN.report.cam_grid_params(),
    script:
        "../scripts/cam_grid.py"


rule summary_table:
    input:
        **({"quality": rules.quality_table.output[0]} if PLAN.quality_enabled else {}),
        robustness=rules.robustness_table.output[0],
        # the quality columns, when a quality family is enabled
    output:
        csv=report(
            paths.table("summary.csv"),
            caption="../report/summary.rst",
            category="Tables",
        ),
        md=paths.table("summary.md"),
    log:
        f"{R}/logs/tables/summary.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        p=PLAN.report.summary_params(),
    script:
        "../scripts/summary_table.py"


rule headline:
    input:
        robustness=rules.robustness_table.output[0],
        claims=getattr(rules.claims.output, CLAIMS_TABLE),
        accuracy=rules.accuracy_table.output[0],
    output:
        report(
            paths.table("headline.md"),
            caption="../report/headline.rst",
            category="Answer",
        ),
    log:
        f"{R}/logs/tables/headline.log",
    localrule: True
    conda:
        ENV_ANALYSIS
    params:
        p=PLAN.report.summary_params(),
        # Plain strings: a rule's output object would carry the rule into the script's pickle.
        where={
            "summary": str(rules.summary_table.output.md),
            "stats": f"{paths.STATS}/",
            "per_image": str(rules.per_image_table.output[0]),
            "report": paths.REPORT_HTML,
        },
    script:
        "../scripts/headline.py"
