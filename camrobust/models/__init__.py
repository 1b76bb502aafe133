"""Classifier architectures (CNN-13, ResNet-18, VGG-11-BN) and the generative models of LVAT."""

from camrobust.models.glow import Glow, quantise
from camrobust.models.registry import (
    ARCHITECTURES,
    TARGET_LAYERS,
    build_classifier,
    default_target_layer,
    load_classifier,
    save_classifier,
)
from camrobust.models.vae import VAE

__all__ = [
    "ARCHITECTURES",
    "TARGET_LAYERS",
    "VAE",
    "Glow",
    "build_classifier",
    "default_target_layer",
    "load_classifier",
    "quantise",
    "save_classifier",
]
