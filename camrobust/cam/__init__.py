"""CAM engine: every CAM method from one batched, device-resident pass (no Snakemake needed)."""

from camrobust.cam.engine import CamResult, compute_cams
from camrobust.cam.layers import resolve_layer
from camrobust.cam.methods import METHODS
from camrobust.cam.normalize import normalize_maps

__all__ = ["METHODS", "CamResult", "compute_cams", "normalize_maps", "resolve_layer"]
