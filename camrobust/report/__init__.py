"""Report stage: paper-style tables, the headline, and PNG figures of CAM robustness.

Modules: `registry` (the figures by name; light, read by the Snakefile), `figures`, `draw` (a
figure by name to its PNG), `cam_grid`, `tables`, `accuracy`, `headline`. Nothing is imported
here, so that reading the registry does not load matplotlib or scipy; `overlay` (a CAM over its
image, as the CAM grid draws it) loads matplotlib on first use.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads it
    from camrobust.report.cam_grid import overlay

__all__ = ["accuracy", "cam_grid", "draw", "figures", "headline", "overlay", "registry", "tables"]


def __getattr__(name: str) -> Any:
    """Load `overlay` (matplotlib) on first use."""
    if name == "overlay":
        from camrobust.report.cam_grid import overlay

        return overlay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
