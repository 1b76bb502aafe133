"""Classifier training with the ERM, VAT, LVAT-VAE and LVAT-Glow regularisers."""

from camrobust.train.loop import TrainResult, evaluate_accuracy, train_classifier
from camrobust.train.regularizers import REGULARIZERS

__all__ = ["REGULARIZERS", "TrainResult", "evaluate_accuracy", "train_classifier"]
