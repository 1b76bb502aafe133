"""Classifiers (the project's CNN-13, ResNet-18, VGG-11-BN; torchvision and timm models from a
name and a checkpoint) and the generative models of LVAT."""

from camrobust.models.glow import Glow, quantise
from camrobust.models.pixel_space import PixelSpaceModel, Preprocessing
from camrobust.models.registry import (
    ARCHITECTURES,
    TARGET_LAYERS,
    build_classifier,
    default_target_layer,
)
from camrobust.models.saved import load_classifier, save_classifier
from camrobust.models.sources import SOURCES, build_model
from camrobust.models.vae import VAE

__all__ = [
    "ARCHITECTURES",
    "SOURCES",
    "TARGET_LAYERS",
    "VAE",
    "Glow",
    "PixelSpaceModel",
    "Preprocessing",
    "build_classifier",
    "build_model",
    "default_target_layer",
    "load_classifier",
    "quantise",
    "save_classifier",
]
