"""Choosing the torch device from the config's `device` key (or passing a torch.device through)."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA when present, else CPU; `cuda` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device: '{name}' was asked for but no CUDA GPU is available")
    return torch.device(name)
