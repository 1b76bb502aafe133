"""Optional dependencies of three corruption families, with a one-line error when missing.

frost, spatter and elastic_transform call OpenCV (Canny, distance transform, histogram
equalisation, affine warps: reimplementing them would not reproduce the published bytes), and
frost reads the published frost textures, which the `imagecorruptions` package ships. Both come
with `make install`, or `pip install 'camrobust[corruptions]'` plus `pip install --no-deps
imagecorruptions==1.1.2` (its metadata would pull in the non-headless OpenCV).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

EXTRA = "pip install 'camrobust[corruptions]'"
NEEDS_OPENCV = frozenset({"frost", "spatter", "elastic_transform"})
# make_imagenet_c.py draws randint(5): the sixth texture is shipped but never used.
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")


def opencv(noise: str) -> ModuleType:
    """The cv2 module, or a ValueError naming the package that `noise` needs."""
    try:
        import cv2
    except ImportError:
        raise ValueError(
            f"noise: {noise} needs the package opencv-python-headless ({EXTRA})"
        ) from None
    return cv2


def frost_directory() -> Path:
    """The folder of frost textures inside the installed imagecorruptions package.

    Located without importing the package: its last release imports pkg_resources (gone from
    current setuptools), and only its image files are used here.
    """
    spec = importlib.util.find_spec("imagecorruptions")
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    if folder is None or not all((folder / name).is_file() for name in FROST_FILES):
        raise ValueError(
            "noise: frost needs the package imagecorruptions "
            "(pip install --no-deps imagecorruptions==1.1.2)"
        )
    return folder


@functools.cache
def frost_texture(index: int, scale: float) -> np.ndarray:
    """Frost texture `index` (0-4) as an RGB uint8 array, resized by `scale` as CIFAR-10-C does.

    OpenCV reads it (as the reference does, so the JPEG decoder is the same) and shrinks it with
    cv2.resize(fx=fy=scale), bilinear.
    """
    cv2 = opencv("frost")
    texture = cv2.imread(str(frost_directory() / FROST_FILES[index]))
    if scale != 1:
        texture = cv2.resize(texture, (0, 0), fx=scale, fy=scale)
    texture = np.ascontiguousarray(texture[..., ::-1])
    texture.flags.writeable = False
    return texture


def check_available(noise: str) -> None:
    """Raise the one-line error now if `noise` needs an optional package that is missing."""
    if noise in NEEDS_OPENCV:
        opencv(noise)
    if noise == "frost":
        frost_directory()
