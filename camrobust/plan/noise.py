"""The noise stage's params: corrupted, adversarial and explanation-attacked image sets (rules
noisy_set, adversarial_set, explanation_attack_set, linf_random_set); a transfer attack reads
its reference model's adversarial set."""

from __future__ import annotations

from typing import Any

from camrobust.config import severity_table
from camrobust.data.cifar10c import is_official
from camrobust.explanation_names import EXPLANATION_ATTACK
from camrobust.plan.cam import CamParams
from camrobust.plan.names import Names, Stage


class NoiseParams(Stage):
    """The params of the image-set jobs."""

    def __init__(self, names: Names, cam: CamParams) -> None:
        super().__init__(names)
        self.cam = cam  # the explanation attack attacks the maps of the CAM jobs' layer

    def corruption_params(self, dataset: str, noise: str, level: str) -> dict[str, Any]:
        """A corruption level: a severity of the dataset's table (`noise.table`, auto: by its
        image size), or an explicit value (no table); for a dataset with official images, the
        severity whose rows of the archive it reads."""
        kind, value = self.names.corruptions[noise][level]
        if is_official(self.config["datasets"][dataset]):
            return {
                "source": "official",
                "dataset": dataset,
                "noise": noise,
                "level": level,
                "severity": value,
            }
        strength = (
            {"severity": value, "table": self.severity_table(dataset)}
            if kind == "severity"
            else {"value": value}
        )
        return {
            "seed": self.seed,
            "dataset": dataset,
            "noise": noise,
            "level": level,
            "strength": strength,
            "batch_size": self.config["noise"]["batch_size"],
        }

    def severity_table(self, dataset: str) -> str:
        """The severity constants of `dataset`'s corruptions (cifar10c or imagenetc)."""
        size = self.config["datasets"][dataset]["image_size"]
        return severity_table(self.config["noise"]["table"], size)

    def attack_params(self, dataset: str, model: str, attack: str, level: str) -> dict[str, Any]:
        """The budget in the config's unit (1/255 levels) and the attack's own options."""
        spec = self.config["noise"]["adversarial"][attack]
        return {
            "seed": self.seed,
            "dataset": dataset,
            "model": model,
            "device": self.device,
            "attack": attack,
            "level": level,
            "eps": self.names.attacks[attack][level],
            "options": {k: v for k, v in spec.items() if k != "eps"},
            "batch_size": self.config["noise"]["batch_size"],
        }

    # ---- the explanation attack (docs/explanation-attack.md) ---------------------------------
    def explanation_attack_params(
        self, dataset: str, model: str, level: str, method: str
    ) -> dict[str, Any]:
        """One method's attacked set: the budget, the attack's options, and the CAM layer (and a
        user model's layout) whose map it attacks."""
        spec = self.config["noise"]["adversarial"][EXPLANATION_ATTACK]
        return {
            "dataset": dataset,
            "model": model,
            "device": self.device,
            "level": level,
            "eps": self.names.explanation[level],
            "method": method,
            "options": {k: v for k, v in spec.items() if k != "eps"},
            "batch_size": self.config["noise"]["batch_size"],
            **self.cam.layer(model),
        }

    def linf_random_params(self, dataset: str, level: str) -> dict[str, Any]:
        """The random control: one random vertex of the eps-ball per image, seeded."""
        return {
            "seed": self.seed,
            "dataset": dataset,
            "level": level,
            "eps": self.names.explanation[level],
        }
