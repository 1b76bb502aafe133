"""camrobust: robustness of Class Activation Maps to input noise.

The public API lives in the subpackages (docs/api.md); nothing is imported here, so that a
subpackage loads only what it needs.
"""

__all__ = ["cam", "data", "metrics", "models", "noise", "quality", "report", "stats", "train"]
