"""Names the workflow plans with, without importing torch or pandas: model names, CAM target
layers, the clean level, the reference regulariser and the results tables, read by the Snakefile
and the library alike.

A model is one (architecture, regulariser, training seed) and is named `{arch}-{reg}-s{seed}`
(`resnet18-lvat_vae-s0`); a model of the config's `models` map (a checkpoint evaluated as it is)
keeps the user's name, which has no hyphen, and splits into (its name, "pretrained", 0). This
module builds and splits those names, for the plan, the rules' wildcards and the scripts alike.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The default CAM target layer of each architecture: the last convolutional block before the
# pooling head (the classifiers in camrobust/models/ name their modules accordingly).
TARGET_LAYERS: dict[str, str] = {
    "cnn13": "features.conv9",
    "resnet18": "layer4",
    "vgg11_bn": "features.conv8",
}
# The CAM methods that draw random numbers, so their jobs read the config seed (torch-free copy
# of the engine's `methods.BATCH_MAPS` entries with needs_seed; tests/test_cam.py keeps them equal).
RANDOM_METHODS = frozenset({"randomcam"})
# Channels of each default target layer at width 1; `scaled` gives them at another width (the
# run's CAM work is estimated from them before any job, without building a model).
TARGET_CHANNELS: dict[str, int] = {"cnn13": 128, "resnet18": 512, "vgg11_bn": 512}
# Architectures whose head has no dropout layer, so `architectures.<name>.dropout` is an error.
ARCHS_WITHOUT_DROPOUT: tuple[str, ...] = ("resnet18",)
# Which generative model each latent-space regulariser perturbs in.
GENERATIVE_OF: dict[str, str] = {"lvat_vae": "vae", "lvat_glow": "glow"}

# The noise name of an attack crafted on a seed's reference model and applied to every model of
# the seed (noise.transfer): "fgsm" -> "fgsm_transfer".
TRANSFER_SUFFIX = "_transfer"


def transfer_noise(attack: str) -> str:
    """The noise name of `attack`'s transfer from the reference model ('fgsm_transfer')."""
    return f"{attack}{TRANSFER_SUFFIX}"


# The clean evaluation set: its noise name, and its level (level 0 of every noise's series).
CLEAN = "clean"
CLEAN_LEVEL = "0"
# The regulariser every other one is compared with (stats, claims and the headline).
REFERENCE = "erm"
# The results tables (results/stats/<name>.csv) of the stats job, in the order it writes them,
# and of the claims job; the headline reads the claims table.
STATS_TABLES: tuple[str, ...] = (
    "methods",
    "method_ranks",
    "regularizers",
    "mixedlm",
    "flips",
    "noise",
)
CLAIMS_TABLE = "claims"
SENSITIVITY_TABLE = "sensitivity"
CLAIMS_TABLES: tuple[str, ...] = (CLAIMS_TABLE, SENSITIVITY_TABLE)

# The regulariser and seed columns of a user's model: it was trained elsewhere, once.
PRETRAINED = "pretrained"
_USER_MODEL = re.compile(r"[a-z][a-z0-9_]*")  # the schema's pattern of `models` names
_MODEL = re.compile(r"(?P<arch>[a-z0-9_]+)-(?P<regularizer>[a-z0-9_]+)-s(?P<seed>[0-9]+)")


class ModelName(NamedTuple):
    """The parts of a model name."""

    arch: str
    regularizer: str
    seed: int


def model_name(arch: str, regularizer: str, seed: int) -> str:
    """'resnet18', 'vat', 1 -> 'resnet18-vat-s1'."""
    return f"{arch}-{regularizer}-s{seed}"


def is_user_model(name: str) -> bool:
    """Whether `name` is a `models` entry's name (no hyphen) rather than a trained model's."""
    return _USER_MODEL.fullmatch(name) is not None


def split_model(name: str) -> ModelName:
    """'resnet18-vat-s1' -> ModelName('resnet18', 'vat', 1), a user's 'vit' -> ModelName('vit',
    'pretrained', 0); anything else is a ValueError."""
    if is_user_model(name):
        return ModelName(name, PRETRAINED, 0)
    match = _MODEL.fullmatch(name)
    if match is None:
        raise ValueError(
            f"model name {name!r} is not '<arch>-<regularizer>-s<seed>' nor a `models` name"
        )
    return ModelName(match["arch"], match["regularizer"], int(match["seed"]))


def scaled(channels: int, width: float) -> int:
    """Channel count `channels` times the width multiplier, rounded, at least 1."""
    return max(1, int(round(channels * width)))
