"""Report stage: paper-style tables and PNG figures of CAM robustness and its statistics."""

from camrobust.report import figures, tables

__all__ = ["figures", "tables"]
