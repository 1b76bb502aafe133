"""Snow, frost, fog and spatter as in make_cifar_c.py / make_imagenet_c.py, batched over images.

Like `blurs.py`: uint8 N×H×W×C in, floats on the [0, 1] scale out (clipping and rounding are
the caller's), one legacy RandomState per image drawn in the reference's order. Frost and
spatter need the optional packages of `optional.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from camrobust.noise.blurs import spatial_gaussian
from camrobust.noise.motion import motion_blur_images
from camrobust.noise.optional import frost_texture, opencv
from camrobust.noise.taps import clipped_zoom_geometry

Rngs = Sequence[np.random.RandomState]
# RGB -> grey weights of OpenCV's COLOR_RGB2GRAY (ITU-R BT.601).
GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)
WATER = np.array([175, 238, 238], dtype=np.float64) / 255  # pale turquoise
MUD = np.array([63, 42, 20], dtype=np.float64) / 255  # mud brown
# Emboss kernel of the water spatter.
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def clipped_zoom(layer: np.ndarray, factor: float) -> np.ndarray:
    """The published clipped zoom of one H×W array, by scipy.ndimage.zoom at order 1."""
    (top0, crop0, _, trim0), (top1, crop1, _, trim1) = (
        clipped_zoom_geometry(size, factor) for size in layer.shape
    )
    zoomed = ndimage.zoom(layer[top0 : top0 + crop0, top1 : top1 + crop1], factor, order=1)
    return zoomed[trim0 : trim0 + layer.shape[0], trim1 : trim1 + layer.shape[1]]


def snow(images: np.ndarray, param: tuple[float, ...], rngs: Rngs) -> np.ndarray:
    """Zoomed, thresholded Gaussian flakes, motion-blurred at [-135, -45) degrees, added twice
    (the layer and its 180-degree rotation) to an image brightened towards 1.5 grey + 0.5.

    As published, the flake layer is stored as 8-bit (truncated) before ImageMagick blurs it,
    and ImageMagick's 8-bit PNG output rounds the blurred layer.
    """
    mean, std, zoom, threshold, radius, sigma, weight = param
    n, h, w, _ = images.shape
    layers = np.empty((n, h, w))
    angles = np.empty(n)
    for i, rng in enumerate(rngs):
        layer = clipped_zoom(rng.normal(size=(h, w), loc=mean, scale=std), zoom)
        layer[layer < threshold] = 0
        layers[i] = layer
        angles[i] = rng.uniform(-135, -45)
    stored = (np.clip(layers, 0, 1) * 255).astype(np.uint8)[..., None] / 255.0
    flakes = np.round(motion_blur_images(stored, radius, sigma, angles) * 255) / 255.0
    x = images.astype(np.float32) / 255
    # Written out rather than a matmul, whose BLAS kernel could depend on the thread count.
    grey = (x[..., 0] * GREY[0] + x[..., 1] * GREY[1] + x[..., 2] * GREY[2])[..., None]
    x = weight * x + (1 - weight) * np.maximum(x, grey * 1.5 + 0.5)
    return x + flakes + flakes[:, ::-1, ::-1]


def frost(images: np.ndarray, param: tuple[float, float, float], rngs: Rngs) -> np.ndarray:
    """c0 x + c1 frost, on the 0-255 scale, with a random crop of one of five frost textures
    (shrunk by the table's texture scale: 0.2 for CIFAR-10-C, 1 for ImageNet-C)."""
    image_weight, frost_weight, scale = param
    n, h, w, _ = images.shape
    # Checked against every texture, so that whether a size works does not depend on the draw.
    textures = [frost_texture(k, float(scale)) for k in range(5)]
    fits = min(t.shape[0] for t in textures), min(t.shape[1] for t in textures)
    if fits[0] <= h or fits[1] <= w:
        raise ValueError(
            f"images: {h}×{w} images do not fit in the frost textures scaled by {scale} "
            f"(the smallest is {fits[0]} rows, {fits[1]} columns); use smaller images"
        )
    out = np.empty(images.shape)
    for i, rng in enumerate(rngs):
        texture = textures[rng.randint(5)]
        top = rng.randint(0, texture.shape[0] - h)
        left = rng.randint(0, texture.shape[1] - w)
        crop = texture[top : top + h, left : left + w]
        out[i] = image_weight * images[i] + frost_weight * crop
    return out / 255.0


def plasma_fractal(size: int, decay: float, rngs: Rngs) -> np.ndarray:
    """Diamond-square height maps (N×size×size, each scaled to [0, 1]), one per generator.

    Each image's uniform draws come in the reference's order (squares, then the two diamond
    sets, per level), so the maps equal the reference's call for call.
    """
    maps = np.empty((len(rngs), size, size))
    maps[:, 0, 0] = 0
    step, wibble = size, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        draws = np.stack([r.uniform(-wibble, wibble, total.shape[1:]) for r in rngs])
        return total / 4 + wibble * draws

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares = squares + np.roll(squares, -1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled_mean(squares)
        centres = maps[:, half:size:step, half:size:step]
        corners = maps[:, 0:size:step, 0:size:step]
        left = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=2))
        maps[:, 0:size:step, half:size:step] = wibbled_mean(left)
        top = (centres + np.roll(centres, 1, axis=2)) + (corners + np.roll(corners, -1, axis=1))
        maps[:, half:size:step, 0:size:step] = wibbled_mean(top)
        step //= 2
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(images: np.ndarray, param: tuple[float, float], rngs: Rngs) -> np.ndarray:
    """x + c0 plasma, rescaled by max / (max + c0) with max the image's brightest value.

    The fractal's side is the smallest power of two covering the image (32 for CIFAR-10-C,
    256 for 224-pixel ImageNet-C, as published), cropped to the image from the top left.
    """
    strength, decay = param
    n, h, w, _ = images.shape
    size = 1 << max(h - 1, w - 1, 1).bit_length()
    layer = plasma_fractal(size, decay, rngs)[:, :h, :w, None]
    x = images / 255.0
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return (x + strength * layer) * peak / (peak + strength)


def _water(liquid: np.ndarray, intensity: float) -> np.ndarray:
    """The water mask of one image: thresholded liquid times an embossed distance to its edges."""
    cv2 = opencv("spatter")
    # The reference casts liquid * 255 to uint8; clipping first keeps values above 1 at 255.
    liquid = np.clip(liquid * 255, 0, 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    dist = cv2.filter2D(dist, cv2.CV_8U, EMBOSS)
    mask = liquid * cv2.blur(dist, (3, 3)).astype(np.float32)
    peak = mask.max()
    # An image without any liquid edge gets no water (the reference divides 0 by 0).
    return mask / peak * np.float32(intensity) if peak > 0 else mask


def spatter(images: np.ndarray, param: tuple[float, ...], rngs: Rngs) -> np.ndarray:
    """Blurred, thresholded Gaussian liquid: water (embossed, pale turquoise, added) or mud
    (a blurred mask, brown, blended over the image)."""
    mean, std, sigma, threshold, intensity, mud = param
    h, w = images.shape[1:3]
    x = images.astype(np.float32) / 255
    liquid = np.stack([r.normal(size=(h, w), loc=mean, scale=std) for r in rngs])
    liquid = spatial_gaussian(liquid, sigma)
    liquid[liquid < threshold] = 0
    if mud:
        mask = spatial_gaussian((liquid > threshold).astype(np.float32), intensity)
        mask[mask < 0.8] = 0
        mask = mask[..., None]
        return x * (1 - mask) + MUD.astype(np.float32) * mask
    masks = np.stack([_water(layer, intensity) for layer in liquid])[..., None]
    return x + masks * WATER.astype(np.float32)
