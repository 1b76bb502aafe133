"""What an attack job starts from: its device, the trained classifier and the clean images."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from camrobust.device import resolve_device
from camrobust.io import load_npz
from camrobust.models import load_classifier


class AttackInputs(NamedTuple):
    device: torch.device
    model: nn.Module
    clean: np.ndarray


def attack_inputs(
    device: str, model_file: str | os.PathLike, images_file: str | os.PathLike
) -> AttackInputs:
    """The device `device` names ("auto", "cpu", "cuda"), the classifier of `model_file` on it and
    the images of `images_file`."""
    resolved = resolve_device(device)
    return AttackInputs(
        resolved, load_classifier(model_file, resolved), load_npz(images_file)["images"]
    )
