"""Classifier training with the ERM, VAT, LVAT-VAE and LVAT-Glow regularisers."""

from camrobust.train.loop import TrainResult, evaluate_accuracy, train_classifier
from camrobust.train.regularizers import REGULARIZERS
from camrobust.train.settings import GlowSettings, TrainSettings, VAESettings

__all__ = [
    "REGULARIZERS",
    "GlowSettings",
    "TrainResult",
    "TrainSettings",
    "VAESettings",
    "evaluate_accuracy",
    "train_classifier",
]
