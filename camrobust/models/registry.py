"""Classifier architectures by name, their default CAM target layers, and saving/loading them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from camrobust.io import save_torch
from camrobust.models import cnn13, resnet, vgg
from camrobust.names import TARGET_LAYERS

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "cnn13": cnn13.CNN13,
    "resnet18": resnet.ResNet18,
    "vgg11_bn": vgg.VGG11BN,
}
CLASSIFIER_FORMAT = "camrobust-classifier-v1"


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        )


def build_classifier(
    name: str,
    num_classes: int = 10,
    width: float = 1.0,
    top_bn: bool = False,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """A fresh classifier taking float N×C×H×W in [0, 1]; remembers its build kwargs for saving.

    With `seed`, the initial weights come from that seed (the global RNG is left untouched), so a
    training job started twice begins from the same weights.
    """
    _check_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer ≥ 2, got {num_classes!r}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = ARCHITECTURES[name](num_classes=num_classes, width=width, top_bn=top_bn, **kwargs)
    model.build_config = dict(
        name=name, num_classes=num_classes, width=float(width), top_bn=bool(top_bn), **kwargs
    )
    return model


def default_target_layer(name: str) -> str:
    """Dotted module path whose output the CAM methods explain (last conv block before pooling)."""
    _check_name(name)
    return TARGET_LAYERS[name]


def plain_data(obj: Any, what: str) -> Any:
    """A JSON-like copy of `obj` (dicts, lists, numbers, strings), loadable with weights_only."""
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must hold only plain JSON-like values: {err}") from None


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_classifier(path: str | os.PathLike, model: nn.Module, hparams: dict[str, Any]) -> None:
    """Write weights + the build kwargs (+ the caller's hparams) atomically, rebuildable alone."""
    arch = getattr(model, "build_config", None)
    if arch is None:
        name = hparams.get("name", hparams.get("arch"))
        _check_name(str(name))
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
    if "source" in arch:  # a torchvision/timm network in its pixel-space wrapper
        from camrobust.models.sources import build_model  # sources builds on this module

        model = build_model(**arch)
    else:
        model = build_classifier(arch.pop("name"), **arch)
    model.load_state_dict(payload["state_dict"])
    model.hparams = payload["hparams"]
    return model.to(device).eval()
