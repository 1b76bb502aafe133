"""How many GPUs a torch job of this run holds, decided without importing torch.

The rules declare it as their `gpu` resource. With one `gpu` offered (profiles/default), jobs
that run on a GPU take turns on it, while jobs that run on the CPU hold none and so share the
cores: on a laptop without a GPU, serialising them would leave all but one core idle.
"""

from __future__ import annotations

import glob
import os


def nvidia_gpus_visible() -> bool:
    """An NVIDIA device node exists and CUDA_VISIBLE_DEVICES does not hide every GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def gpus_per_job(device: str) -> int:
    """1 if a job with the config's `device` runs on a GPU here, else 0.

    `auto` follows what torch will find (CUDA when present); `cpu` never holds one, `cuda[:N]`
    always does (and fails at run time where there is none, with a clear error).
    """
    if device == "cpu":
        return 0
    if device.startswith("cuda"):
        return 1
    return int(nvidia_gpus_visible())
