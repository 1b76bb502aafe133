"""Classifier files: weights and the build kwargs, so that one file rebuilds any classifier, the
project's own (camrobust/models/registry.py) and wrapped torchvision/timm ones
(camrobust/models/sources.py) alike."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from camrobust.io import save_torch
from camrobust.models.registry import build_classifier, check_architecture, cpu_state, plain_data
from camrobust.models.sources import build_model

CLASSIFIER_FORMAT = "camrobust-classifier-v1"


def save_classifier(path: str | os.PathLike, model: nn.Module, hparams: dict[str, Any]) -> None:
    """Write weights + the build kwargs (+ the caller's hparams) atomically, rebuildable alone."""
    arch = getattr(model, "build_config", None)
    if arch is None:
        name = hparams.get("name", hparams.get("arch"))
        check_architecture(str(name))
        arch = {k: hparams[k] for k in ("num_classes", "width", "top_bn") if k in hparams}
        arch["name"] = name
    payload = {
        "format": CLASSIFIER_FORMAT,
        "arch": plain_data(arch, "the build kwargs"),
        "hparams": plain_data(hparams, "hparams"),
        "state_dict": cpu_state(model),
    }
    save_torch(path, payload)


def load_classifier(path: str | os.PathLike, device: str | torch.device) -> nn.Module:
    """Rebuild a saved classifier on `device` in eval mode; `model.hparams` is the stored dict."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path} is not a classifier file written by save_classifier")
    arch = dict(payload["arch"])
    # A torchvision/timm network (it has a source) is rebuilt in its pixel-space wrapper.
    model = build_model(**arch) if "source" in arch else build_classifier(arch.pop("name"), **arch)
    model.load_state_dict(payload["state_dict"])
    model.hparams = payload["hparams"]
    return model.to(device).eval()
