"""Per-epoch training checkpoints that a killed job resumes from, bit for bit.

A checkpoint holds only tensors and plain Python values (RNG states as uint8 tensors), so it
loads with `torch.load(weights_only=True)`, and is written atomically, so a job killed while
saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from camrobust.io import save_torch

log = logging.getLogger(__name__)

FORMAT = 1


def fingerprint(config: dict[str, Any], *arrays: np.ndarray) -> str:
    """A hash of the training config and (a strided sample of) the data it trains on."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for a in arrays:
        h.update(str((a.shape, a.dtype.str)).encode())
        flat = a.reshape(-1)
        h.update(np.ascontiguousarray(flat[:: max(1, flat.size // 65536)]).tobytes())
    return h.hexdigest()


def weights_digest(module: torch.nn.Module | None) -> str | None:
    """A hash of a module's state (names, shapes, dtypes, values); None for no module. In a
    checkpoint's fingerprint it tells the initial weights, and the generative model, of a run."""
    if module is None:
        return None
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def capture_rng(generators: dict[str, torch.Generator], device: torch.device) -> dict[str, Any]:
    """The states of the named generators and of the global torch RNGs used on `device`."""
    states: dict[str, Any] = {name: g.get_state() for name, g in generators.items()}
    states["torch_cpu"] = torch.get_rng_state()
    if device.type == "cuda":
        states["torch_cuda"] = torch.cuda.get_rng_state(device)
    states["device_type"] = device.type
    return states


def restore_rng(
    states: dict[str, Any], generators: dict[str, torch.Generator], device: torch.device
) -> None:
    """Put back what `capture_rng` saved (device-specific states only on the same device type)."""
    same_device = states.get("device_type") == device.type
    if not same_device:
        log.warning(
            "checkpoint was written on %s, resuming on %s: the run will not be bit-identical",
            states.get("device_type"),
            device.type,
        )
    for name, g in generators.items():
        if g.device.type == "cpu" or same_device:
            g.set_state(states[name])
    torch.set_rng_state(states["torch_cpu"])
    if device.type == "cuda" and same_device:
        torch.cuda.set_rng_state(states["torch_cuda"], device)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` (plus the format version) atomically."""
    save_torch(path, {"format": FORMAT, **state})


def load_checkpoint(
    path: str | os.PathLike | None, expected_fingerprint: str
) -> dict[str, Any] | None:
    """The checkpoint at `path` if it exists and belongs to this run, else None (start afresh)."""
    if path is None or not Path(path).exists():
        return None
    # On the CPU: RNG states must stay there; load_state_dict moves the rest onto the model.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT or state.get("fingerprint") != expected_fingerprint:
        log.warning("ignoring checkpoint %s: it belongs to another configuration or data", path)
        return None
    return state
