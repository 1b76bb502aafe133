"""Noisy test sets: the 19 seeded CIFAR-10-C / ImageNet-C corruptions and FGSM/PGD attacks.

The severity tables are imported here (pure Python: the config checks read them before any
job); the corruptions and attacks, which need torch, load on first use.
"""

from typing import TYPE_CHECKING, Any

from camrobust.noise.severities import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTIONS,
    SEVERITY_TABLES,
    corruption_parameter,
)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from camrobust.noise.adversarial import attack
    from camrobust.noise.corruptions import RANDOM_CORRUPTIONS, corrupt
    from camrobust.noise.settings import ATTACKS, AttackSettings, ExplanationAttackSettings

__all__ = [
    "ATTACKS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTIONS",
    "RANDOM_CORRUPTIONS",
    "SEVERITY_TABLES",
    "AttackSettings",
    "ExplanationAttackSettings",
    "attack",
    "corrupt",
    "corruption_parameter",
]
_LAZY = {
    "ATTACKS": "settings",
    "AttackSettings": "settings",
    "ExplanationAttackSettings": "settings",
    "attack": "adversarial",
    "RANDOM_CORRUPTIONS": "corruptions",
    "corrupt": "corruptions",
}


def __getattr__(name: str) -> Any:
    """Load the torch-based corruptions and attacks on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"camrobust.noise.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
