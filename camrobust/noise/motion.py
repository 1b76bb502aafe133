"""ImageMagick's motion blur (MagickMotionBlurImage), which the published generators call via Wand.

ImageMagick builds a one-sided line kernel: width = 2 ceil(radius) + 1 taps with Gaussian weights
exp(-i^2 / (2 sigma^2)) for i = 0..width-1, normalised to sum 1; tap i reads the pixel at offset
(ceil(i cos(angle) - 0.5), ceil(i sin(angle) - 0.5)) (x, y), with edge pixels repeated beyond
the border (ImageMagick's default virtual-pixel method). Each image gets its own angle.
"""

from __future__ import annotations

import math

import numpy as np


def motion_kernel(radius: float, sigma: float) -> np.ndarray:
    """The normalised one-sided Gaussian weights of ImageMagick's motion blur."""
    width = 2 * math.ceil(radius) + 1
    i = np.arange(width, dtype=np.float64)
    kernel = np.exp(-(i**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    return kernel / kernel.sum()


def motion_offsets(width: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """(dy, dx) integer offsets of the `width` taps along `angle` degrees."""
    point_x = width * math.sin(math.radians(angle))
    point_y = width * math.cos(math.radians(angle))
    hypot = math.hypot(point_x, point_y)
    i = np.arange(width)
    dx = np.ceil(i * point_y / hypot - 0.5).astype(np.int64)
    dy = np.ceil(i * point_x / hypot - 0.5).astype(np.int64)
    return dy, dx


def motion_blur_images(
    x: np.ndarray, radius: float, sigma: float, angles: np.ndarray
) -> np.ndarray:
    """Motion-blur each image of an N×H×W×C float array along its own angle (degrees).

    Taps are added in kernel order, image by image, as shifted windows of an edge-padded copy.
    """
    kernel = motion_kernel(radius, sigma)
    pad = len(kernel)
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    for i, angle in enumerate(angles):
        dys, dxs = motion_offsets(len(kernel), float(angle))
        for weight, dy, dx in zip(kernel, dys, dxs, strict=True):
            out[i] += weight * padded[i, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    return out
