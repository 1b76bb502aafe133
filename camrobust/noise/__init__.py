"""Noisy test sets: twelve seeded corruption families and FGSM/PGD adversarial examples."""

from camrobust.noise.adversarial import ATTACKS, attack
from camrobust.noise.corruptions import RANDOM_CORRUPTIONS, corrupt
from camrobust.noise.severities import CORRUPTIONS, SEVERITY_TABLES, corruption_parameter

__all__ = [
    "ATTACKS",
    "CORRUPTIONS",
    "RANDOM_CORRUPTIONS",
    "SEVERITY_TABLES",
    "attack",
    "corrupt",
    "corruption_parameter",
]
