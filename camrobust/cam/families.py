"""Model families for the CAM engine: the layout of their layer outputs and default target layers.

ViTs (torchvision VisionTransformer; timm models with `num_prefix_tokens`: ViT, DeiT, register
tokens) return N×T×C tokens; Swins (torchvision SwinTransformer; timm models with
`output_fmt == "NHWC"`) return N×h×w×C; everything else is read as N×C×h×w. Models are found
anywhere inside the given one, so wrappers (input normalisation) are seen through.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from camrobust.cam.layers import user_name
from camrobust.cam.layout import LAYOUTS, Layout

_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _is_torchvision(module: nn.Module, cls: str) -> bool:
    """isinstance of a torchvision model class, without importing torchvision (1.4 s a CAM job):
    a torchvision model exists only where torchvision was imported."""
    models = sys.modules.get("torchvision.models")
    return models is not None and isinstance(module, getattr(models, cls))


@dataclass(frozen=True)
class Family:
    """`kind` 'vit', 'swin' or 'cnn'; `root` the full path of the recognised network."""

    kind: str
    root: str = ""
    module: nn.Module | None = None
    prefix_tokens: int = 0


def find_family(model: nn.Module) -> Family:
    """The first recognised transformer inside `model`, else the CNN family."""
    for path, module in model.named_modules():
        if _is_torchvision(module, "VisionTransformer"):
            return Family("vit", path, module, prefix_tokens=1)
        prefix = getattr(module, "num_prefix_tokens", None)
        if isinstance(prefix, int) and not isinstance(prefix, bool):
            return Family("vit", path, module, prefix_tokens=prefix)
        if _is_torchvision(module, "SwinTransformer") or (
            getattr(module, "output_fmt", None) == "NHWC"
        ):
            return Family("swin", path, module)
    return Family("cnn")


def check_override(layout: str | None, prefix_tokens: int | None) -> None:
    """ValueError for a layout override that cannot apply (checked before any forward)."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} or None, not {layout!r}")
    if prefix_tokens is not None:
        if layout != "tokens":
            raise ValueError("prefix_tokens needs layout='tokens'")
        if (
            isinstance(prefix_tokens, bool)
            or not isinstance(prefix_tokens, int)
            or prefix_tokens < 0
        ):
            raise ValueError(f"prefix_tokens must be an integer ≥ 0, got {prefix_tokens!r}")


def choose_layout(
    family: Family, layer: nn.Module, ndim: int, layout: str | None, prefix_tokens: int | None
) -> Layout:
    """The layout of a `ndim`-dimensional layer output: the override, else the family's."""
    check_override(layout, prefix_tokens)
    if layout is not None:
        default = family.prefix_tokens if family.kind == "vit" else 0
        return Layout(layout, default if prefix_tokens is None else prefix_tokens)
    if family.kind == "vit" and ndim == 3:
        return Layout("tokens", family.prefix_tokens)
    # Swin's patch embedding starts with a convolution, whose output is still channels-first.
    if family.kind == "swin" and ndim == 4 and not isinstance(layer, nn.Conv2d):
        return Layout("nhwc")
    return Layout("nchw")


def _child(root: str, *parts: str) -> str:
    return ".".join(p for p in (root, *parts) if p)


def _last(container: nn.Module) -> str:
    return list(dict(container.named_children()))[-1]


def default_target_layer(model: nn.Module, example: Tensor) -> str:
    """The family's default CAM layer, named as `find_layer` takes it.

    ViT: the last block's first norm; Swin: the last stage; CNN: the last N×C×h×w module
    output before global pooling or the first 2-D output (the last convolutional stage), the
    outermost module returning it. `example` (one input batch) is only run for CNNs.
    """
    family = find_family(model)
    net = family.module
    if family.kind == "vit":
        if _is_torchvision(net, "VisionTransformer"):
            layers = net.encoder.layers
            full = _child(family.root, "encoder.layers", _last(layers), "ln_1")
        elif isinstance(getattr(net, "blocks", None), nn.Module) and len(net.blocks):
            full = _child(family.root, "blocks", _last(net.blocks), "norm1")
        else:
            raise ValueError(f"no default target layer for {type(net).__name__}; pass one")
        return user_name(model, full)
    if family.kind == "swin":
        for stages in ("features", "layers", "stages"):
            if isinstance(getattr(net, stages, None), nn.Module) and len(getattr(net, stages)):
                return user_name(model, _child(family.root, stages, _last(getattr(net, stages))))
        raise ValueError(f"no default target layer for {type(net).__name__}; pass one")
    return user_name(model, _last_conv_stage(model, example))


def _last_conv_stage(model: nn.Module, example: Tensor) -> str:
    """Run `example` once and return the CNN rule's module path (see `default_target_layer`)."""
    outputs: list[tuple[str, object]] = []
    stop: list[str] = []

    def record(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if stop:
                return
            if isinstance(module, _POOLS) or (isinstance(output, Tensor) and output.ndim == 2):
                stop.append(name)
            else:
                outputs.append((name, output))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    maps = [(n, o) for n, o in outputs if isinstance(o, Tensor) and o.ndim == 4]
    if not maps:
        raise ValueError(f"{type(model).__name__} has no N×C×H×W layer output; pass target_layer")
    last = maps[-1][1]
    return [n for n, o in maps if o is last][-1]
