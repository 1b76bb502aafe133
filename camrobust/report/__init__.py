"""Report stage: paper-style tables, the headline, and PNG figures of CAM robustness.

Modules: `registry` (the figures by name; light, read by the Snakefile), `figures`, `cam_grid`,
`tables`, `accuracy`, `headline`. Nothing is imported here, so that reading the registry does
not load matplotlib or scipy.
"""

__all__ = ["accuracy", "cam_grid", "figures", "headline", "registry", "tables"]
