"""Severity tables (CIFAR-10-C and ImageNet-C constants, 19 families); explicit parameter checks.

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
    "glass_blur",
    "motion_blur",
    "snow",
    "frost",
    "fog",
    "spatter",
    "elastic_transform",
)

# The 15 benchmark corruptions of CIFAR-10-C / ImageNet-C; the other four are the extra
# ("validation") ones: speckle, gaussian_blur, saturate and spatter.
BENCHMARK_CORRUPTIONS: tuple[str, ...] = (
    "gaussian",
    "shot",
    "impulse",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg",
)

# The family names of the published code (its function names, CIFAR-10-C's file names and
# imagecorruptions' names), where they differ from the library's.
PUBLISHED_NAMES: dict[str, str] = {name: name for name in CORRUPTIONS} | {
    "gaussian": "gaussian_noise",
    "shot": "shot_noise",
    "impulse": "impulse_noise",
    "speckle": "speckle_noise",
    "jpeg": "jpeg_compression",
}

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
        # (sigma, max_delta, iterations)
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        # ImageMagick's (radius, sigma)
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        # (mean, std, zoom, threshold, blur radius, blur sigma, image weight)
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
        # (image weight, frost weight, texture scale): CIFAR-10-C shrinks the textures to 0.2
        "frost": (
            (1, 0.2, 0.2),
            (1, 0.3, 0.2),
            (0.9, 0.4, 0.2),
            (0.85, 0.4, 0.2),
            (0.75, 0.45, 0.2),
        ),
        # (strength, wibble decay)
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        # (mean, std, sigma, threshold, intensity, mud): mud 0 = water, 1 = mud
        "spatter": (
            (0.62, 0.1, 0.7, 0.7, 0.5, 0),
            (0.65, 0.1, 0.8, 0.7, 0.5, 0),
            (0.65, 0.3, 1, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1),
            (0.65, 0.1, 0.5, 0.68, 0.6, 1),
        ),
        # (alpha, sigma, affine) in pixels: make_cifar_c.py writes them as 32 * fraction
        "elastic_transform": (
            (32 * 0, 32 * 0, 32 * 0.08),
            (32 * 0.05, 32 * 0.2, 32 * 0.07),
            (32 * 0.08, 32 * 0.06, 32 * 0.06),
            (32 * 0.1, 32 * 0.04, 32 * 0.05),
            (32 * 0.1, 32 * 0.03, 32 * 0.03),
        ),
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
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "snow": (
            (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
            (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
            (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
        ),
        "frost": ((1, 0.4, 1), (0.8, 0.6, 1), (0.7, 0.7, 1), (0.65, 0.7, 1), (0.6, 0.75, 1)),
        "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
        "spatter": (
            (0.65, 0.3, 4, 0.69, 0.6, 0),
            (0.65, 0.3, 3, 0.68, 0.6, 0),
            (0.65, 0.3, 2, 0.68, 0.5, 0),
            (0.65, 0.3, 1, 0.65, 1.5, 1),
            (0.67, 0.4, 1, 0.65, 1.5, 1),
        ),
        # make_imagenet_c.py scales by 244 (meant 224, it says; the constants are as published)
        "elastic_transform": (
            (244 * 2, 244 * 0.7, 244 * 0.1),
            (244 * 2, 244 * 0.08, 244 * 0.2),
            (244 * 0.05, 244 * 0.01, 244 * 0.02),
            (244 * 0.07, 244 * 0.01, 244 * 0.02),
            (244 * 0.12, 244 * 0.01, 244 * 0.02),
        ),
    },
}

# How many numbers each family's parameter holds (1 = a scalar).
_ARITY = {
    "defocus_blur": 2,
    "zoom_blur": 3,
    "saturate": 2,
    "glass_blur": 3,
    "motion_blur": 2,
    "snow": 7,
    "frost": 3,
    "fog": 2,
    "spatter": 6,
    "elastic_transform": 3,
}
# Parameters that count something and must be whole numbers (position in the tuple).
_INTEGER_PARTS = {"glass_blur": (1, 2), "spatter": (5,)}


def check_noise(noise: object) -> str:
    """Return `noise` if it names a corruption family, else raise a ValueError listing them."""
    if noise not in CORRUPTIONS:
        raise ValueError(f"noise: unknown corruption {noise!r}; allowed: {', '.join(CORRUPTIONS)}")
    return noise  # type: ignore[return-value]


def corruption_parameter(noise: str, severity: int, table: str) -> Parameter:
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
    for part in _INTEGER_PARTS.get(noise, ()):
        if numbers_[part] != int(numbers_[part]):
            raise ValueError(
                f"value: {noise} needs a whole number at position {part + 1}, got {value!r}"
            )
    if noise == "spatter" and numbers_[5] not in (0, 1):
        raise ValueError(f"value: spatter's last number is 0 (water) or 1 (mud), got {value!r}")
    if noise == "glass_blur" and numbers_[1] < 1:
        raise ValueError(f"value: glass_blur needs max_delta >= 1, got {value!r}")
    if noise == "fog" and numbers_[1] <= 0:
        raise ValueError(f"value: fog needs a wibble decay > 0, got {value!r}")
    if noise == "frost" and numbers_[2] <= 0:
        raise ValueError(f"value: frost needs a texture scale > 0, got {value!r}")
    if noise == "zoom_blur":
        start, stop, step = numbers_
        if start <= 0 or step <= 0 or stop <= start:
            raise ValueError(
                f"value: zoom_blur is (start > 0, stop > start, step > 0), got {value!r}"
            )
    return numbers_
