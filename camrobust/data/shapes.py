"""The synthetic `shapes` dataset: ten shape classes on textured, noisy backgrounds, with masks.

Every image draws its class-independent nuisances (colours, size, position, rotation, background
texture, pixel noise) from one seeded generator, so the same seed gives byte-identical arrays and
the only thing that tells the classes apart is the outline inside the ground-truth mask.
"""

from __future__ import annotations

import numpy as np

from camrobust.seeding import numpy_rng

CLASS_NAMES = (
    "circle",
    "ring",
    "square",
    "triangle",
    "star",
    "cross",
    "ellipse",
    "crescent",
    "lshape",
    "semicircle",
)


def _regular_polygon(k: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    outer = _regular_polygon(points, 1.0, np.pi / 2)
    inner_pts = _regular_polygon(points, inner, np.pi / 2 + np.pi / points)
    return np.stack([outer, inner_pts], axis=1).reshape(-1, 2)


# Outlines in a local frame where the shape fits the unit disc.
_POLYGONS = {
    "square": np.array([[-0.75, -0.75], [0.75, -0.75], [0.75, 0.75], [-0.75, 0.75]]),
    "triangle": _regular_polygon(3, 1.0, np.pi / 2),
    "star": _star(),
    "cross": np.array(
        [[-0.3, -0.95], [0.3, -0.95], [0.3, -0.3], [0.95, -0.3], [0.95, 0.3], [0.3, 0.3],
         [0.3, 0.95], [-0.3, 0.95], [-0.3, 0.3], [-0.95, 0.3], [-0.95, -0.3], [-0.3, -0.3]]
    ),
    "lshape": np.array([[-0.7, -0.9], [-0.15, -0.9], [-0.15, 0.35], [0.7, 0.35], [0.7, 0.9],
                        [-0.7, 0.9]]),
}  # fmt: skip


def _inside_polygon(u: np.ndarray, v: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over pixels and edges."""
    x0, y0 = poly[:, 0][:, None], poly[:, 1][:, None]
    x1, y1 = np.roll(poly[:, 0], -1)[:, None], np.roll(poly[:, 1], -1)[:, None]
    u, v = u.ravel()[None, :], v.ravel()[None, :]
    straddles = (y0 > v) != (y1 > v)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (v - y0) * (x1 - x0) / (y1 - y0)
    crossings = np.sum(straddles & (u < x_cross), axis=0)
    return crossings % 2 == 1


def shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of shape `name` at local coordinates (u, v) (unit-disc scale)."""
    rho2 = u**2 + v**2
    if name == "circle":
        return rho2 <= 0.8**2
    if name == "ring":
        return (rho2 <= 1.0) & (rho2 >= 0.55**2)
    if name == "ellipse":
        return (u / 1.0) ** 2 + (v / 0.45) ** 2 <= 1.0
    if name == "crescent":
        return (rho2 <= 0.9**2) & ((u - 0.45) ** 2 + v**2 > 0.7**2)
    if name == "semicircle":
        return (rho2 <= 0.95**2) & (v >= -0.15)
    if name in _POLYGONS:
        return _inside_polygon(u, v, _POLYGONS[name]).reshape(u.shape)
    raise ValueError(f"unknown shape '{name}'; allowed: {', '.join(CLASS_NAMES)}")


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An object colour clearly brighter than the background colour.

    One contrast polarity keeps the task about outlines rather than about inverting colours,
    so small classifiers reach high accuracy quickly.
    """
    lum = np.array([0.299, 0.587, 0.114])
    while True:
        fg, bg = rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)
        if fg @ lum - bg @ lum > 0.3:
            return fg, bg


def _background(rng: np.random.Generator, base: np.ndarray, size: int) -> np.ndarray:
    """A base colour modulated by two random gratings (texture)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    texture = np.zeros((size, size))
    for _ in range(2):
        freq = rng.uniform(1.0, 4.0)
        angle = rng.uniform(0, np.pi)
        phase = rng.uniform(0, 2 * np.pi)
        texture += np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
    return base[None, None, :] + 0.08 * texture[..., None]


def draw_shape(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (float H×W×3 in [0,1]) and its mask (bool H×W) for class `label`."""
    radius = rng.uniform(0.25, 0.42) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    # Moderate rotations: enough nuisance that position and pose vary, few enough that small
    # CNNs separate the ten outlines from a few thousand images.
    angle = rng.uniform(-np.pi / 6, np.pi / 6)
    fg, bg = _colour_pair(rng)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = (xx - cx) / radius, (yy - cy) / radius
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    mask = shape_mask(CLASS_NAMES[label], u, v)
    image = _background(rng, bg, size)
    image[mask] = fg
    image += rng.normal(0.0, 0.03, image.shape)
    return np.clip(image, 0.0, 1.0), mask


def make_shapes(n: int, size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """`n` class-balanced shape images: uint8 N×H×W×3 images, int64 labels, uint8 N×H×W masks."""
    if n < 1 or size < 8:
        raise ValueError(f"shapes: need n >= 1 and size >= 8, got n={n}, size={size}")
    rng = numpy_rng(seed, "shapes")
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        image, mask = draw_shape(rng, int(label), size)
        images[i] = np.round(image * 255).astype(np.uint8)
        masks[i] = mask
    return {"images": images, "labels": labels, "masks": masks}
