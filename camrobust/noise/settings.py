"""The settings of an FGSM/PGD attack and of the explanation attack, checked when built.

Each is built from the params its rule passes (`from_config`); values and defaults come from the
validated config (`noise.adversarial.<attack>`, `noise.batch_size`; config/schema.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from camrobust.explanation_names import EXPLANATION_ATTACK, EXPLANATION_OPTIONS, OBJECTIVES
from camrobust.frozen_config import Items, frozen_items, require_keys, require_positive

if TYPE_CHECKING:
    import torch

# The options each attack reads besides eps (the config's `noise.adversarial.<attack>` keys):
# FGSM is one signed-gradient step of eps from the clean image, so it has none.
ATTACK_OPTIONS: dict[str, tuple[str, ...]] = {
    "fgsm": (),
    "pgd": ("steps", "step_fraction", "random_start"),
}
ATTACKS: tuple[str, ...] = tuple(ATTACK_OPTIONS)


def _budget(key: str, eps: Any) -> int:
    """eps as whole uint8 levels (>= 0), else a ValueError naming `key`."""
    if isinstance(eps, bool) or int(eps) != eps or eps < 0:
        raise ValueError(f"{key}.eps must be a whole number of 1/255 levels >= 0, got {eps!r}")
    return int(eps)


def _seed_parts(seed: Any) -> tuple[Any, ...] | None:
    """The seed's parts as a tuple (one value is one part); None stays None."""
    if seed is None:
        return None
    return tuple(seed) if isinstance(seed, list | tuple) else (seed,)


@dataclass(frozen=True)
class AttackSettings:
    """One FGSM/PGD set: the attack, its budget `eps` in 1/255 levels, its ATTACK_OPTIONS (as
    Items), images per batch, the device, and the seed parts of PGD's random start (None: none).
    """

    name: str
    eps: int
    options: Items
    batch_size: int
    device: str | torch.device
    seed: tuple[Any, ...] | None

    def __post_init__(self) -> None:
        key = f"noise.adversarial.{self.name}"
        if self.name not in ATTACK_OPTIONS:
            raise ValueError(
                f"noise.adversarial: unknown attack {self.name!r}; allowed: {', '.join(ATTACKS)}"
            )
        object.__setattr__(self, "options", frozen_items(self.options))
        object.__setattr__(self, "eps", _budget(key, self.eps))
        object.__setattr__(self, "seed", _seed_parts(self.seed))
        options = dict(self.options)
        if sorted(options) != sorted(ATTACK_OPTIONS[self.name]):
            raise ValueError(f"{key}: reads {list(ATTACK_OPTIONS[self.name])}, got {list(options)}")
        require_positive("noise", batch_size=self.batch_size)
        if self.name == "pgd":
            require_positive(key, steps=options["steps"], step_fraction=options["step_fraction"])
            if options["random_start"] and self.seed is None:
                raise ValueError(f"{key}.random_start needs a seed: (config seed, names...)")

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> AttackSettings:
        """From `Plan.noise.attack_params`: seeded by (seed, dataset, model, attack, level)."""
        names = ("seed", "dataset", "model", "attack", "level")
        require_keys("attack params", params, (*names, "eps", "options", "batch_size", "device"))
        return cls(
            name=params["attack"],
            eps=params["eps"],
            options=params["options"],
            batch_size=params["batch_size"],
            device=params["device"],
            seed=tuple(params[k] for k in names),
        )


@dataclass(frozen=True)
class ExplanationAttackSettings:
    """One method's explanation attack: the budget `eps` in 1/255 levels, the attack's
    EXPLANATION_OPTIONS, the CAM layer (and a user model's layout; None: the family's) whose
    map it attacks, images per batch and the device."""

    method: str
    eps: int
    steps: int
    step_fraction: float
    objective: str
    top_k: int
    softplus_beta: float
    target_layer: str | None
    layout: str | None
    prefix_tokens: int | None
    batch_size: int
    device: str | torch.device

    def __post_init__(self) -> None:
        key = f"noise.adversarial.{EXPLANATION_ATTACK}"
        object.__setattr__(self, "eps", _budget(key, self.eps))
        require_positive(key, steps=self.steps, softplus_beta=self.softplus_beta)
        require_positive("noise", batch_size=self.batch_size)
        if not 0 < self.step_fraction <= 1:
            raise ValueError(f"{key}.step_fraction must lie in (0, 1], got {self.step_fraction!r}")
        if isinstance(self.top_k, bool) or not 1 <= self.top_k <= 99:
            raise ValueError(f"{key}.top_k must be a percentage in 1..99, got {self.top_k!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"{key}.objective: {self.objective!r} is not one of {', '.join(OBJECTIVES)}"
            )

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> ExplanationAttackSettings:
        """From `Plan.noise.explanation_attack_params` (a user's model may add its layout)."""
        keys = ("method", "eps", "options", "target_layer", "batch_size", "device")
        require_keys("explanation attack params", params, keys)
        options = params["options"]
        require_keys(f"noise.adversarial.{EXPLANATION_ATTACK}", options, EXPLANATION_OPTIONS)
        return cls(
            method=params["method"],
            eps=params["eps"],
            **{k: options[k] for k in EXPLANATION_OPTIONS},
            target_layer=params["target_layer"],
            layout=params.get("layout"),
            prefix_tokens=params.get("prefix_tokens"),
            batch_size=params["batch_size"],
            device=params["device"],
        )
