"""Writing a matplotlib Figure to a PNG at a given resolution, atomically."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from camrobust.io import atomic_path


def save_png(fig: Figure, path: str | os.PathLike, dpi: int) -> None:
    """Write `fig` as PNG at `dpi` (temporary name, then rename: no half-written file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
