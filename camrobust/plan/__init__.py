"""What the workflow computes, derived from a validated config: the names of what exists (models,
noises, levels: the wildcard space, `names.py`) and, per stage, the slice of the config each
job reads (its `params`, so config edits rerun exactly what changed).

The config comes validated (camrobust/config.py); file names are in camrobust/paths.py. Pure
Python (no torch): the Snakefile builds this on every dry run.
"""

from __future__ import annotations

from typing import Any

from camrobust.plan.cam import CamParams
from camrobust.plan.data import DataParams
from camrobust.plan.metrics import MetricsParams
from camrobust.plan.names import Names, level_name
from camrobust.plan.noise import NoiseParams
from camrobust.plan.report import ReportParams
from camrobust.plan.train import TrainParams, training_seed

__all__ = ["Plan", "level_name", "training_seed"]


class Plan(Names):
    """A run's names, and each stage's job params (`PLAN.train.params(dataset, model)`)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.data = DataParams(self)
        self.train = TrainParams(self)
        self.cam = CamParams(self)
        self.noise = NoiseParams(self, self.cam)
        self.metrics = MetricsParams(self, self.cam)
        self.report = ReportParams(self)
