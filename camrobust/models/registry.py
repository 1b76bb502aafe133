"""Classifier architectures by name, their default CAM target layers, and the plain-data helpers
that saving a model needs (camrobust/models/saved.py saves and loads classifiers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from camrobust.models import cnn13, resnet, vgg
from camrobust.names import TARGET_LAYERS

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "cnn13": cnn13.CNN13,
    "resnet18": resnet.ResNet18,
    "vgg11_bn": vgg.VGG11BN,
}


def check_architecture(name: str) -> None:
    """A clear error for an architecture name the registry does not know."""
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
    check_architecture(name)
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
    check_architecture(name)
    return TARGET_LAYERS[name]


def plain_data(obj: Any, what: str) -> Any:
    """A JSON-like copy of `obj` (dicts, lists, numbers, strings), loadable with weights_only."""
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must hold only plain JSON-like values: {err}") from None


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
