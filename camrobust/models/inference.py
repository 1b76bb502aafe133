"""What an explaining job (CAMs, quality) reads: a classifier and an image set, on the device."""

from __future__ import annotations

import os

from torch import Tensor, nn

from camrobust.data.tensors import to_model_input
from camrobust.device import resolve_device
from camrobust.io import load_npz
from camrobust.models.saved import load_classifier


def classifier_and_images(
    model_path: str | os.PathLike, images_path: str | os.PathLike, device: str
) -> tuple[nn.Module, Tensor]:
    """The classifier of `model_path` and the images of `images_path` (N×C×H×W in [0, 1]), both
    on the device the config names (`auto`: CUDA when present)."""
    where = resolve_device(device)
    model = load_classifier(model_path, where)
    return model, to_model_input(load_npz(images_path)["images"], where)
