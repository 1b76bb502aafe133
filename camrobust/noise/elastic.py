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

from camrobust.noise.blurs import spatial_gaussian
from camrobust.noise.optional import opencv
from camrobust.noise.taps import boundary_index


def bilinear_reflect(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of N×H×W×C `images` at N×H×W (row, col) points, borders half-sample
    symmetric: scipy.ndimage.map_coordinates(order=1, mode='reflect') per image and channel,
    vectorised over the batch (scipy's per-point cost is ~10x this)."""
    n, h, w, c = images.shape
    top, left = np.floor(rows), np.floor(cols)
    fy, fx = (rows - top)[..., None], (cols - left)[..., None]
    r0, r1 = (
        (np.arange(n)[:, None, None] * h + boundary_index(top + k, h, "reflect")) * w
        for k in (0, 1)
    )
    c0, c1 = (boundary_index(left + k, w, "reflect") for k in (0, 1))
    flat = images.reshape(-1, c)  # np.take on flat rows: ~10x faster than fancy indexing

    def at(row: np.ndarray, col: np.ndarray) -> np.ndarray:
        return np.take(flat, row + col, axis=0)

    upper = (1 - fx) * at(r0, c0) + fx * at(r0, c1)
    lower = (1 - fx) * at(r1, c0) + fx * at(r1, c1)
    return (1 - fy) * upper + fy * lower


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
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    warped = np.empty(images.shape, dtype=np.float32)
    noise = np.empty((n, 2, h, w))  # the dx and dy fields' uniform draws, in the reference's order
    for i, rng in enumerate(rngs):
        image = images[i].astype(np.float32) / 255
        target = source + rng.uniform(-affine, affine, size=source.shape).astype(np.float32)
        matrix = cv2.getAffineTransform(source, target)
        image = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)
        warped[i] = image.reshape(h, w, c)
        noise[i] = rng.uniform(-1, 1, size=(2, h, w))
    # One filter call for all fields: per field the same numbers as one call each.
    fields = spatial_gaussian(noise.reshape(2 * n, h, w), sigma, "reflect", 3) * alpha
    dx, dy = fields.astype(np.float32).reshape(n, 2, h, w).transpose(1, 0, 2, 3)
    return bilinear_reflect(warped, rows + dy.astype(np.float64), cols + dx.astype(np.float64))
