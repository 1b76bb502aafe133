"""The metrics stage's params: how the maps are compared (rules metrics, segments) and judged on
their own (rule quality, docs/sensitivity-faithfulness.md)."""

from __future__ import annotations

from typing import Any

from camrobust.names import CLEAN_LEVEL
from camrobust.plan.cam import CamParams
from camrobust.plan.names import QUALITY_SECTIONS, Names, Stage

# The metrics.rbo keys of the segmentation job (Quickshift's); the metrics jobs read the rest.
SEGMENT_KEYS = ("kernel_size", "max_dist", "ratio", "sigma")


class MetricsParams(Stage):
    """The params of the metrics, segmentation and quality jobs."""

    def __init__(self, names: Names, cam: CamParams) -> None:
        super().__init__(names)
        self.cam = cam  # a quality job computes maps as the CAM jobs do

    def params(self, noise: str) -> dict[str, Any]:
        """A metrics job: the measures, the bootstrap, and (rbo) how regions are ranked; the
        segmentation keys reach it through the segments file, not as params."""
        skip = {*QUALITY_SECTIONS, "rbo"}
        metrics = {k: v for k, v in self.config["metrics"].items() if k not in skip}
        if self.names.needs_segments:
            rbo = self.config["metrics"]["rbo"]
            metrics["rbo"] = {k: v for k, v in rbo.items() if k not in SEGMENT_KEYS}
        return {"seed": self.seed, "levels": [CLEAN_LEVEL, *self.names.levels(noise)], **metrics}

    def segment_params(self, dataset: str) -> dict[str, Any]:
        """The segmentation job (docs/metric.md): Quickshift's options and its tie-breaking seed."""
        rbo = self.config["metrics"]["rbo"]
        return {"seed": self.seed, "dataset": dataset, **{k: rbo[k] for k in SEGMENT_KEYS}}

    def quality_options(self, section: str) -> dict[str, Any] | None:
        """A family's options for `evaluate_quality`, None when switched off."""
        spec = self.config["metrics"][section]
        if not spec["enabled"]:
            return None
        return {k: v for k, v in spec.items() if k != "enabled"}

    def quality_params(self, model: str) -> dict[str, Any]:
        """A quality job: both families' options (with their image counts) and the engine's."""
        cam = self.cam.params(model)
        return {
            "seed": self.seed,
            "sensitivity": self.quality_options("sensitivity"),
            "faithfulness": self.quality_options("faithfulness"),
            # the cam jobs' engine settings (a user model's layout too), but the target policy
            **{k: v for k, v in cam.items() if k != "target_policy"},
        }
