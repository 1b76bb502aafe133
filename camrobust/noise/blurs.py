"""Glass and motion blur as in make_cifar_c.py / make_imagenet_c.py, batched over images.

These families work on uint8 N×H×W×C arrays in numpy (float64, the reference's precision) and
draw from one legacy numpy RandomState per image, in the reference's order, so that seeding
numpy's global generator the same way reproduces them call for call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from camrobust.noise.motion import motion_blur_images


def spatial_gaussian(
    x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0
) -> np.ndarray:
    """scipy's Gaussian filter over axes 1 and 2 (H, W) of a batch: per image, what
    skimage.filters.gaussian computes (channels, if any, are not mixed)."""
    sigmas = [0.0] * x.ndim
    sigmas[1] = sigmas[2] = sigma
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def glass_blur(
    images: np.ndarray, param: tuple[float, float, float], rngs: Sequence[np.random.RandomState]
) -> np.ndarray:
    """Blur, store as uint8 (truncating), shuffle pixels locally, blur again.

    The parameter is (sigma, max_delta, iterations).

    The reference visits (h, w) for h = H-delta .. delta+1 and w = W-delta .. delta+1 (both
    descending), draws (dx, dy) uniform in [-delta, delta) and runs the tuple assignment
    `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on numpy views: its right side is two views, so
    the second target receives the already-overwritten first one. The net effect is a copy,
    x[h, w] = x[h + dy, w + dx], in visiting order, which is what runs here: the same
    sequence of copies for every image at once (the loop is over positions, vectorised across
    images, so each image sees exactly its own sequential order).
    """
    sigma, delta, iterations = param[0], int(param[1]), int(param[2])
    n, h, w, c = images.shape
    levels = (spatial_gaussian(images / 255.0, sigma) * 255).astype(np.uint8)
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    targets = (rows[:, None] * w + cols[None, :]).ravel()
    if iterations and targets.size:
        draws = np.stack(
            [r.randint(-delta, delta, size=(iterations, targets.size, 2)) for r in rngs]
        )
        sources = targets + draws[..., 1] * w + draws[..., 0]  # N × iterations × positions
        flat = levels.reshape(n, h * w, c)
        image = np.arange(n)
        for it in range(iterations):
            for p, target in enumerate(targets):
                flat[:, target] = flat[image, sources[:, it, p]]
    return spatial_gaussian(levels / 255.0, sigma)


def motion_blur(
    images: np.ndarray, param: tuple[float, float], rngs: Sequence[np.random.RandomState]
) -> np.ndarray:
    """ImageMagick's motion blur (radius, sigma) at an angle drawn uniform in [-45, 45) degrees."""
    angles = np.array([r.uniform(-45, 45) for r in rngs])
    return motion_blur_images(images / 255.0, param[0], param[1], angles)
