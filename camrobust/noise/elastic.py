"""Elastic transform as in make_cifar_c.py / make_imagenet_c.py (not imagecorruptions' variant).

A random affine warp of the three points (centre ± a third of the side), then a smooth random
displacement field (uniform noise blurred by a Gaussian of sigma, times alpha) sampled bilinearly
with mirrored borders. The parameter is (alpha, sigma, affine) in pixels, as the tables store
them. Needs OpenCV (`optional.py`) for the affine warp, whose fixed-point bilinear weights a
scipy warp would not reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from camrobust.noise.optional import opencv


def elastic_transform(
    images: np.ndarray, param: tuple[float, float, float], rngs: Sequence[np.random.RandomState]
) -> np.ndarray:
    """Affine warp then elastic displacement of every image, each with its own generator."""
    cv2 = opencv("elastic_transform")
    alpha, sigma, affine = param
    n, h, w, c = images.shape
    centre = np.float32([h, w]) // 2
    square = min(h, w) // 3
    # (row, column) pairs passed to OpenCV as (x, y), as published (the same for square images).
    source = np.float32(
        [centre + square, [centre[0] + square, centre[1] - square], centre - square]
    )
    rows, cols, chans = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    out = np.empty(images.shape, dtype=np.float32)
    for i, rng in enumerate(rngs):
        image = images[i].astype(np.float32) / 255
        target = source + rng.uniform(-affine, affine, size=source.shape).astype(np.float32)
        matrix = cv2.getAffineTransform(source, target)
        image = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)
        image = image.reshape(h, w, c)
        shifts = [
            (
                ndimage.gaussian_filter(
                    rng.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3
                )
                * alpha
            ).astype(np.float32)[..., None]
            for _ in range(2)
        ]
        dx, dy = shifts
        coords = [rows + dy, cols + dx, chans]
        out[i] = ndimage.map_coordinates(image, coords, order=1, mode="reflect")
    return out
