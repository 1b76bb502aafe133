"""Severity tables (CIFAR-10-C and ImageNet-C constants) and validation of explicit parameters.

The constants are those of Hendrycks & Dietterich's `make_cifar_c.py` / `make_imagenet_c.py`
(see docs/corruptions.md). Zoom-blur factors are `numpy.arange(start, stop, step)` of the
stored triple, exactly as the original generators call it (so `(1, 1.06, 0.01)` yields seven
factors, 1.00 to 1.06, because of floating-point rounding in `arange`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

CORRUPTIONS: tuple[str, ...] = (
    "gaussian",
    "shot",
    "impulse",
    "speckle",
    "gaussian_blur",
    "defocus_blur",
    "zoom_blur",
    "contrast",
    "brightness",
    "saturate",
    "jpeg",
    "pixelate",
)

Parameter = float | int | tuple[float, ...]

SEVERITY_TABLES: dict[str, dict[str, tuple[Parameter, ...]]] = {
    "cifar10c": {
        "gaussian": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot": (500, 250, 100, 75, 50),
        "impulse": (0.01, 0.02, 0.03, 0.05, 0.07),
        "speckle": (0.06, 0.10, 0.12, 0.16, 0.20),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "zoom_blur": (
            (1, 1.06, 0.01),
            (1, 1.11, 0.01),
            (1, 1.16, 0.01),
            (1, 1.21, 0.01),
            (1, 1.26, 0.01),
        ),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
        "jpeg": (80, 65, 58, 50, 40),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    },
    "imagenetc": {
        "gaussian": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot": (60, 25, 12, 5, 3),
        "impulse": (0.03, 0.06, 0.09, 0.17, 0.27),
        "speckle": (0.15, 0.20, 0.35, 0.45, 0.60),
        "gaussian_blur": (1, 2, 3, 4, 6),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "zoom_blur": (
            (1, 1.11, 0.01),
            (1, 1.16, 0.01),
            (1, 1.21, 0.02),
            (1, 1.26, 0.02),
            (1, 1.31, 0.03),
        ),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
        "jpeg": (25, 18, 15, 10, 7),
        "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    },
}

# How many numbers each family's parameter holds (1 = a scalar).
_ARITY = {"defocus_blur": 2, "zoom_blur": 3, "saturate": 2}


def check_noise(noise: object) -> str:
    """Return `noise` if it names a corruption family, else raise a ValueError listing them."""
    if noise not in CORRUPTIONS:
        raise ValueError(f"noise: unknown corruption {noise!r}; allowed: {', '.join(CORRUPTIONS)}")
    return noise  # type: ignore[return-value]


def corruption_parameter(noise: str, severity: int, table: str = "cifar10c") -> Parameter:
    """The parameter of corruption `noise` at `severity` (1-5) in `table` (cifar10c/imagenetc)."""
    check_noise(noise)
    if table not in SEVERITY_TABLES:
        raise ValueError(f"table: unknown {table!r}; allowed: {', '.join(SEVERITY_TABLES)}")
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise ValueError(f"severity: must be an integer 1-5, got {severity!r}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity: must be 1-5, got {severity}")
    return SEVERITY_TABLES[table][noise][int(severity) - 1]


def _number(noise: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"value: {noise} needs finite numbers, got {value!r}")
    if value < 0:
        raise ValueError(f"value: {noise} parameters must be non-negative, got {value!r}")
    return float(value)


def check_value(noise: str, value: object) -> Parameter:
    """Validate an explicit parameter of `noise`; return it normalised (tuples for pairs)."""
    check_noise(noise)
    arity = _ARITY.get(noise, 1)
    if arity == 1:
        if isinstance(value, Sequence) and not isinstance(value, str):
            raise ValueError(f"value: {noise} takes one number, got {value!r}")
        number = _number(noise, value)
        if noise == "shot" and number == 0:
            raise ValueError("value: shot needs a photon count c > 0, got 0")
        if noise == "impulse" and number > 1:
            raise ValueError(f"value: impulse is a fraction in [0, 1], got {number}")
        if noise == "pixelate" and not 0 < number <= 1:
            raise ValueError(f"value: pixelate is a size fraction in (0, 1], got {number}")
        if noise == "jpeg":
            if number != int(number) or not 1 <= number <= 100:
                raise ValueError(f"value: jpeg is an integer quality 1-100, got {value!r}")
            return int(number)
        return number
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != arity:
        raise ValueError(f"value: {noise} takes {arity} numbers, got {value!r}")
    numbers_ = tuple(_number(noise, v) for v in value)
    if noise == "zoom_blur":
        start, stop, step = numbers_
        if start <= 0 or step <= 0 or stop <= start:
            raise ValueError(
                f"value: zoom_blur is (start > 0, stop > start, step > 0), got {value!r}"
            )
    return numbers_
