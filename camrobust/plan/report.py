"""The report stage's params: the tables, the statistical tests, the claims, the figures and the
summary (rules of rules/metrics.smk's tables, rules/quality.smk's table and tests,
rules/stats.smk, rules/report.smk)."""

from __future__ import annotations

from typing import Any

from camrobust.plan.names import Stage
from camrobust.report.registry import figure_spec


class ReportParams(Stage):
    """The params of the jobs that summarise the per-job results."""

    # ---- tables ------------------------------------------------------------------------------
    def accuracy_params(self) -> dict[str, Any]:
        """The accuracy table: the (dataset, model) row key of each of its model files, in order
        (so the job reads them from the plan, not back from the paths)."""
        return {"models": [list(key) for key in self.names.model_keys()]}

    def corruption_error_params(self) -> dict[str, Any]:
        """The corruption error table: the corruption families (not the attacks) and the
        reference, a regulariser or a `models` entry (camrobust/report/corruption_error.py)."""
        name = self.config["report"]["corruption_error_reference"]
        kind = "model" if name in self.config["models"] else "regularizer"
        corruptions = list(self.names.corruptions)
        return {"corruptions": corruptions, "reference": {"kind": kind, "name": name}}

    def quality_table_params(self) -> dict[str, Any]:
        """The quality summary: the bootstrap of the robustness table."""
        metrics = self.config["metrics"]
        return {"seed": self.seed, "bootstrap": metrics["bootstrap"], "ci": metrics["ci"]}

    def summary_params(self) -> dict[str, Any]:
        """The summary table and the headline: the similarity measure they show."""
        return {"measure": self.config["report"]["measure"]}

    # ---- statistical tests and claims --------------------------------------------------------
    def stats_params(self) -> dict[str, Any]:
        """The tests on the robustness measures: the stats section as it is."""
        return dict(self.config["stats"])

    def quality_stats_params(self) -> dict[str, Any]:
        """The method tests on the quality metrics: the stats options but the measures."""
        return {k: v for k, v in self.config["stats"].items() if k != "measures"}

    def claims_params(self) -> dict[str, Any]:
        """The headline claims: their measure (the headline's), the test level and the fewest
        images a cell needs, δ, and the randomisation test's arrangements and seed."""
        stats = self.config["stats"]
        return {
            "alpha": stats["alpha"],
            "min_pairs": stats["min_pairs"],
            "measure": self.config["report"]["measure"],
            "seed": self.seed,
            **self.config["claims"],
        }

    # ---- figures -----------------------------------------------------------------------------
    def figure_params(self, figure: str) -> dict[str, Any]:
        """A figure's resolution, and the similarity measure it plots if it plots one."""
        report = self.config["report"]
        uses_measure = figure_spec(figure).uses_measure
        return {"dpi": report["dpi"], **({"measure": report["measure"]} if uses_measure else {})}

    def cam_grid_params(self) -> dict[str, Any]:
        """A CAM grid: how many images and their seed, the noise and its levels, resolution."""
        noise = self.names.grid_noise()
        report = self.config["report"]
        return {
            "images": report["grid_images"],
            "seed": self.seed,
            "noise": noise,
            "levels": self.names.levels(noise),
            "dpi": report["dpi"],
        }
