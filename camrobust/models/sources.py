"""Classifiers from a source and a name: torchvision, timm (optional) or the project's own.

Weights are never downloaded: networks are constructed with random weights (torchvision
`weights=None`, timm `pretrained=False`) and, given `checkpoint`, filled from a local state dict.
Every model takes images in [0, 1]; torchvision and timm networks are wrapped in a
`PixelSpaceModel` that applies their published preprocessing, the project's own standardise
their input themselves.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from camrobust.models.checkpoints import load_checkpoint, read_state_dict
from camrobust.models.common import INPUT_MEAN, INPUT_STD, MIN_IMAGE_SIZE
from camrobust.models.pixel_space import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PixelSpaceModel,
    Preprocessing,
)
from camrobust.models.registry import ARCHITECTURES, build_classifier

SOURCES = ("torchvision", "timm", "camrobust")
_DEFAULT_SIZE = 224


def _unknown(source: str, name: str, known: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    return ValueError(
        f"{source} has no classification model {name!r}; closest: {', '.join(close) or 'none'}"
    )


def _torchvision_size(name: str) -> int:
    """The crop size of the architecture's published weights (read from torchvision's
    metadata, nothing downloaded); 224 where none are published."""
    import torchvision  # imported here: the project's own models do not need it (1.4 s a job)

    try:
        weights = torchvision.models.get_model_weights(name)
    except ValueError:
        return _DEFAULT_SIZE
    default = getattr(weights, "DEFAULT", None)
    transforms = getattr(default, "transforms", None)
    size = getattr(transforms, "keywords", {}).get("crop_size", _DEFAULT_SIZE)
    return int(size[0] if isinstance(size, list | tuple) else size)


# torchvision's transformer classes, built from their constructor options (`kwargs`) where the
# named builders (vit_b_16, swin_t, ...) fix depth and width: a model of any size, tiny ones too.
TORCHVISION_CLASSES = ("VisionTransformer", "SwinTransformer")


def _torchvision_net(
    name: str, num_classes: int, input_size: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Preprocessing]:
    import torchvision  # imported here: the project's own models do not need it (1.4 s a job)

    known = [*torchvision.models.list_models(module=torchvision.models), *TORCHVISION_CLASSES]
    if name not in known:
        raise _unknown("torchvision", name, known)
    size = input_size or (_DEFAULT_SIZE if name in TORCHVISION_CLASSES else _torchvision_size(name))
    if name.startswith("vit_") or name == "VisionTransformer":
        kwargs = {"image_size": size, **kwargs}  # the position embedding fixes the input size
    try:
        if name in TORCHVISION_CLASSES:
            net = getattr(torchvision.models, name)(num_classes=num_classes, **kwargs)
        else:
            net = torchvision.models.get_model(
                name, weights=None, num_classes=num_classes, **kwargs
            )
    except TypeError as err:  # an option the constructor does not take, or one it lacks
        raise ValueError(f"kwargs {sorted(kwargs)} do not fit torchvision {name}: {err}") from None
    return net, Preprocessing(IMAGENET_MEAN, IMAGENET_STD, size)


def _timm_net(
    name: str, num_classes: int, input_size: int | None, kwargs: dict[str, Any]
) -> tuple[nn.Module, Preprocessing]:
    try:
        import timm
    except ImportError:
        raise ImportError(
            "models from source 'timm' need the optional dependency: pip install 'camrobust[timm]'"
        ) from None
    if not timm.is_model(name):
        raise _unknown("timm", name, timm.list_models())
    if input_size is not None:
        # ViT-like models fix their patch grid at construction; CNNs take any size.
        try:
            net = timm.create_model(
                name, pretrained=False, num_classes=num_classes, img_size=input_size, **kwargs
            )
        except TypeError:
            net = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    else:
        net = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    cfg = net.pretrained_cfg
    size = input_size or int(cfg.get("input_size", (3, _DEFAULT_SIZE, _DEFAULT_SIZE))[-1])
    mean = tuple(cfg.get("mean", IMAGENET_MEAN))
    std = tuple(cfg.get("std", IMAGENET_STD))
    return net, Preprocessing(mean, std, size)


_WRAPPED = {"torchvision": _torchvision_net, "timm": _timm_net}


def build_model(
    source: str,
    name: str,
    num_classes: int,
    checkpoint: str | os.PathLike | None = None,
    *,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """A classifier of `name` from `source` taking [0, 1] images, `checkpoint` loaded if given.

    `input_size`, `mean`, `std` override the architecture's published preprocessing (ImageNet
    statistics and the weights' crop size for torchvision, the pretrained config for timm; the
    project's own keep their fixed standardisation). Extra `kwargs` go to the constructor.
    The result has `.preprocessing` and, for saving with save_classifier, `.build_config`.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown model source {source!r}; known: {', '.join(SOURCES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer ≥ 2, got {num_classes!r}")
    architecture = f"{source}:{name} with {num_classes} classes"
    if source == "camrobust":
        if mean is not None or std is not None:
            raise ValueError("the project's own models keep their fixed standardisation")
        if name not in ARCHITECTURES:
            raise _unknown("camrobust", name, list(ARCHITECTURES))
        model = build_classifier(name, num_classes, **kwargs)
        if checkpoint is not None:
            load_checkpoint(model, checkpoint, architecture)
        channels = len(IMAGENET_MEAN)
        model.preprocessing = Preprocessing(
            (INPUT_MEAN,) * channels, (INPUT_STD,) * channels, input_size or MIN_IMAGE_SIZE
        )
        return model
    net, published = _WRAPPED[source](name, num_classes, input_size, dict(kwargs))
    if checkpoint is not None:
        load_checkpoint(net, checkpoint, architecture)
    preprocessing = Preprocessing(
        tuple(float(v) for v in (mean if mean is not None else published.mean)),
        tuple(float(v) for v in (std if std is not None else published.std)),
        published.input_size,
    )
    model = PixelSpaceModel(net, preprocessing)
    model.build_config = dict(
        source=source, name=name, num_classes=num_classes, **preprocessing.as_dict(), **kwargs
    )
    return model


def build_model_entry(entry: dict[str, Any], num_classes: int) -> nn.Module:
    """The classifier of a config `models` entry as the plan passes it (source, name, checkpoint,
    input_size, mean, std, kwargs): for rules import_model and train_classifier alike."""
    return build_model(
        entry["source"],
        entry["name"],
        num_classes,
        entry["checkpoint"],
        input_size=entry["input_size"],
        mean=entry["mean"],
        std=entry["std"],
        **entry["kwargs"],
    )


def _entry_builder(entry: dict[str, Any]) -> Callable[[int], nn.Module]:
    """The entry's architecture without weights, for a given class count."""
    return lambda num_classes: build_model(
        entry["source"],
        entry["name"],
        num_classes,
        input_size=entry["input_size"],
        **entry["kwargs"],
    )


def without_weights(build: Callable[[int], nn.Module], num_classes: int) -> nn.Module:
    """`build(num_classes)` on the meta device (no memory, no initialisation), or on the CPU
    where a constructor reads values of the tensors it creates (timm's drop-path rates)."""
    try:
        with torch.device("meta"):
            return build(num_classes)
    except (RuntimeError, NotImplementedError):
        return build(num_classes)


def network_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict a checkpoint of `model` holds: its network's, without the pixel-space
    wrapper (whose buffers are not saved)."""
    return model.get_submodule(getattr(model, "layer_root", "")).state_dict()


def checkpoint_outputs(entry: dict[str, Any], state: dict[str, torch.Tensor] | None = None) -> int:
    """How many outputs the entry's checkpoint (or its `state`, already read) has: the size of
    its classifier head, found as the state-dict entries whose shape follows the class count
    (ValueError naming the file)."""
    build = _entry_builder(entry)
    two, three = (network_state(without_weights(build, k)) for k in (2, 3))
    head = [key for key, tensor in two.items() if tensor.shape != three[key].shape]
    state = read_state_dict(entry["checkpoint"]) if state is None else state
    for key in head:
        if key in state and state[key].ndim == two[key].ndim:
            sizes = zip(two[key].shape, three[key].shape, strict=True)
            dim = next(d for d, (a, b) in enumerate(sizes) if a != b)
            return int(state[key].shape[dim])
    raise ValueError(
        f"checkpoint {entry['checkpoint']} holds no classifier head of "
        f"{entry['source']}:{entry['name']} (none of {', '.join(head)})"
    )
