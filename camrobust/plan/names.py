"""The names a run plans: its datasets, models, training seeds, noises and their levels, figures
(the wildcard space), read from a validated config."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from camrobust.columns import REGION_MEASURES
from camrobust.explanation_names import (
    EXPLANATION_ATTACK,
    LINF_RANDOM,
    attacked_methods,
)
from camrobust.names import (
    GENERATIVE_OF,
    model_name,
    split_model,
    transfer_noise,
)
from camrobust.report.registry import FIGURES, figure_spec

QUALITY_SECTIONS = ("sensitivity", "faithfulness")  # the metrics sections of the quality job


def level_name(value: int | float) -> str:
    """A noise level as a file-name-safe decimal string (severity 3 -> '3', 0.05 -> '0.05')."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(float(value))), "f")


class Names:
    """What a validated config makes exist: the values each wildcard takes."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.seed = config["seed"]
        self.device = config["device"]
        self.datasets = list(config["datasets"])
        # The user's models of mode train are trained like the architectures, by their names.
        trained = [n for n, spec in config["models"].items() if spec["mode"] == "train"]
        self.architectures = [*config["architectures"], *trained]
        self.regularizers = list(config["regularizers"])
        self.trained_models = [
            model_name(a, r, s)
            for a in self.architectures
            for r in self.regularizers
            for s in config["training"]["seeds"]
        ]
        # The user's checkpoints evaluated as they are (rule import_model), by their own names.
        self.user_models = [n for n in config["models"] if n not in trained]
        self.models = [*self.trained_models, *self.user_models]
        # The generative models the configured latent-space regularisers need (none when
        # nothing is trained).
        regularizers = self.regularizers if self.trained_models else []
        self.generative = sorted({GENERATIVE_OF.get(r) for r in regularizers} - {None})
        noise = config["noise"]
        # noise -> {level name: (kind, value)} where kind is "severity" or "value"
        self.corruptions: dict[str, dict[str, tuple[str, int | float]]] = {}
        for name, spec in noise["corruptions"].items():
            kind, values = next(iter(spec.items()))
            kind = "severity" if kind == "severities" else "value"
            self.corruptions[name] = {level_name(v): (kind, v) for v in values}
        self.attacks: dict[str, dict[str, int]] = {
            name: {level_name(e): e for e in spec["eps"]}
            for name, spec in noise["adversarial"].items()
            if spec is not None
        }
        # The explanation attack makes one image set per CAM method (its own rules); its random
        # control linf_random shares its budgets. {level name: eps}, empty when not configured.
        self.explanation: dict[str, int] = self.attacks.pop(EXPLANATION_ATTACK, {})
        # transfer noise -> its attack, crafted on each seed's reference model (noise.transfer)
        self.transfers = {transfer_noise(a): a for a in noise["transfer"]["attacks"]}

    # ---- models ------------------------------------------------------------------------------
    @property
    def training_seeds(self) -> list[int]:
        """The training seeds; each has its own generative models."""
        return list(self.config["training"]["seeds"])

    def model_keys(self) -> list[tuple[str, str]]:
        """Every (dataset, model) the run evaluates, datasets first: the accuracy table's model
        files, in the order of its inputs."""
        return [(dataset, model) for dataset in self.datasets for model in self.models]

    def evaluate_only(self, dataset: str) -> bool:
        """Whether `dataset` is an image folder that no model trains on: its test file then holds
        the evaluation subset alone, the only images the run reads (docs/pipeline.md)."""
        source = self.config["datasets"][dataset]["source"]
        return source == "imagefolder" and not self.trained_models

    # ---- noises and their levels -------------------------------------------------------------
    @property
    def noises(self) -> list[str]:
        """Every noise a CAM is computed under: corruptions, then attacks and their transfers,
        then the explanation attack's random control and the explanation attack."""
        return [*self.corruptions, *self.attacks, *self.transfers, *self.explanation_noises]

    @property
    def explanation_noises(self) -> list[str]:
        """linf_random and explanation_attack where the explanation attack is configured."""
        return [LINF_RANDOM, EXPLANATION_ATTACK] if self.explanation else []

    @property
    def explanation_methods(self) -> list[str]:
        """The configured CAM methods the explanation attack attacks (one image set each)."""
        return attacked_methods(self.config["cam"]["methods"]) if self.explanation else []

    def levels(self, noise: str) -> list[str]:
        """Level names of `noise` in config order."""
        if noise in self.explanation_noises:
            return list(self.explanation)
        noise = self.transfers.get(noise, noise)  # a transfer has its attack's levels
        table = self.corruptions if noise in self.corruptions else self.attacks
        return list(table[noise])

    def transfer_reference(self, model: str) -> str:
        """The model a transfer attack against `model` is crafted on: the reference regulariser's
        model of its architecture and training seed; a user's model (no seed block) is its own."""
        if model in self.user_models:
            return model
        arch, _, seed = split_model(model)
        return model_name(arch, self.config["noise"]["transfer"]["reference"], seed)

    def cam_noise(self, model: str, noise: str) -> str:
        """The noise whose CAM files hold `model`'s maps under `noise`: a transfer against its
        own reference model is that model's own attack, computed once."""
        if noise in self.transfers and self.transfer_reference(model) == model:
            return self.transfers[noise]
        return noise

    # ---- which optional jobs run -------------------------------------------------------------
    @property
    def needs_segments(self) -> bool:
        """Whether a measure reads the images' regions (rbo): else no segmentation job."""
        return any(m in REGION_MEASURES for m in self.config["metrics"]["measures"])

    @property
    def quality_enabled(self) -> bool:
        """Whether any quality family runs (else there are no quality jobs at all)."""
        return any(self.config["metrics"][s]["enabled"] for s in QUALITY_SECTIONS)

    @property
    def faithfulness_enabled(self) -> bool:
        return bool(self.config["metrics"]["faithfulness"]["enabled"])

    # ---- the report --------------------------------------------------------------------------
    @property
    def figures(self) -> list[str]:
        """The report figures; those comparing regularisers only where the models have two
        (a run of the user's checkpoints alone has one, `pretrained`: nothing to compare), those
        drawn from the quality table only with the faithfulness metrics on, those of one noise
        only where it is configured."""
        groups = {split_model(m).regularizer for m in self.models}
        measured = set(self.config["metrics"]["measures"])
        return [
            f
            for f in FIGURES
            if (len(groups) > 1 or not figure_spec(f).compares_regularizers)
            and (figure_spec(f).extra != "quality" or self.faithfulness_enabled)
            and set(figure_spec(f).measures) <= measured
            and figure_spec(f).noise in (None, *self.noises)
        ]

    def grid_noise(self) -> str:
        """The noise shown in the CAM grid figures."""
        return self.config["report"]["grid_noise"] or self.noises[0]


class Stage:
    """One stage's job params: slices of the config, over the run's names."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.config = names.config
        self.seed = names.seed
        self.device = names.device
