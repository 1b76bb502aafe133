"""The published evaluation transform of a torchvision or timm architecture, read offline.

torchvision: the `transforms` of the architecture's DEFAULT weights (`ImageClassification`:
resize size, crop size, interpolation); timm: the pretrained config (`input_size`, `crop_pct`,
`interpolation`; timm resizes to floor(crop / crop_pct)). Nothing is downloaded: both are
metadata shipped with the packages. An image folder's images are prepared with the transform its
models agree on (`preprocess: auto`, docs/model-sources.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from camrobust.data.imagefolder import EvalTransform


def _torchvision_transform(name: str) -> EvalTransform | None:
    import torchvision  # imported here: the project's own models do not need it

    try:
        weights = torchvision.models.get_model_weights(name)
    except ValueError:  # no published weights (e.g. the VisionTransformer class)
        return None
    default = getattr(weights, "DEFAULT", None)
    if default is None:
        return None
    preset = default.transforms()
    resize, crop = getattr(preset, "resize_size", None), getattr(preset, "crop_size", None)
    if not resize or not crop:
        return None
    mode = getattr(preset, "interpolation", None)
    return EvalTransform(int(resize[0]), int(crop[0]), str(getattr(mode, "value", mode)))


def _timm_transform(name: str) -> EvalTransform | None:
    import timm

    cfg = timm.get_pretrained_cfg(name)
    if cfg is None or getattr(cfg, "crop_mode", "center") != "center":
        return None
    crop = int(cfg.input_size[-1])
    crop_pct = cfg.crop_pct or 0.875  # timm's DEFAULT_CROP_PCT where a config leaves it out
    interpolation = cfg.interpolation or "bilinear"
    return EvalTransform(math.floor(crop / crop_pct), crop, interpolation, crop_pct)


def published_transform(source: str, name: str) -> EvalTransform | None:
    """The architecture's published evaluation transform; None where it has none (the
    project's own models, torchvision's transformer classes, timm models without weights)."""
    if source == "torchvision":
        return _torchvision_transform(name)
    if source == "timm":
        return _timm_transform(name)
    return None


def agreed_transform(models: Sequence[Sequence[str]], size: int, key: str) -> EvalTransform | None:
    """The one published transform of `models` ((source, name) pairs) at `size`-pixel crops,
    None if none has one; ValueError naming `key` and the models' transforms if they differ."""
    found = {}
    for source, name in models:
        transform = published_transform(source, name)
        if transform is not None:
            found[f"{source} {name}"] = transform.at(size)
    if len(set(found.values())) > 1:
        shown = "; ".join(f"{model}: {t.describe()}" for model, t in found.items())
        raise ValueError(
            f"{key}: the models' published evaluation transforms differ ({shown}); set "
            "preprocess to one of them ({resize, crop, interpolation}) or to square"
        )
    return next(iter(found.values()), None)
