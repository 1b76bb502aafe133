"""Where the published CIFAR-10-C archive is and what it holds, torch-free (the Snakefile reads it).

Reading the rows is camrobust/noise/official.py; this module is what the config checks and the
download rule need: the official location, the checksum, and the families the archive holds.
"""

from __future__ import annotations

from typing import Any

CIFAR10C: dict[str, str] = {
    "url": "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar",
    "filename": "CIFAR-10-C.tar",
    "md5": "56bf5dcef84df0e2308c6dcbcbbd8499",
}
# The library's names of the 19 families the archive has an array of (all 15 benchmark ones
# and the 4 extra ones); tests/test_noise_official.py ties them to the published file names.
FAMILIES: tuple[str, ...] = (
    "gaussian", "shot", "impulse", "speckle", "gaussian_blur", "defocus_blur", "zoom_blur",
    "contrast", "brightness", "saturate", "jpeg", "pixelate", "glass_blur", "motion_blur", "snow",
    "frost", "fog", "spatter", "elastic_transform",
)  # fmt: skip


def is_official(spec: dict[str, Any]) -> bool:
    """Whether a (validated) dataset takes its corrupted images from the published archive."""
    return spec["noise"]["source"] == "official"


def official_files(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{file name: (url, md5)} of the archive a dataset's noisy sets need (empty: generated)."""
    if not is_official(spec):
        return {}
    noise = spec["noise"]
    url, md5 = noise["url"] or CIFAR10C["url"], noise["md5"] or CIFAR10C["md5"]
    return {CIFAR10C["filename"]: (url, md5)}
