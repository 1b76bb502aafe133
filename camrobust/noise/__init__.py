"""Noisy test sets: the 19 seeded CIFAR-10-C / ImageNet-C corruptions and FGSM/PGD attacks."""

from camrobust.noise.adversarial import ATTACKS, attack
from camrobust.noise.corruptions import RANDOM_CORRUPTIONS, corrupt
from camrobust.noise.severities import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTIONS,
    SEVERITY_TABLES,
    corruption_parameter,
)

__all__ = [
    "ATTACKS",
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTIONS",
    "RANDOM_CORRUPTIONS",
    "SEVERITY_TABLES",
    "attack",
    "corrupt",
    "corruption_parameter",
]
