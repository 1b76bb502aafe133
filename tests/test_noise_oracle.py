# The transcriptions draw from numpy's global RandomState on purpose: the published code does.
# ruff: noqa: NPY002
"""All 19 corruption families against the imagecorruptions package (ImageNet-C constants, 224 px)
and against transcriptions of make_imagenet_c.py / make_cifar_c.py where the package departs
from the published code.

The package's last release cannot be imported as it is today: it imports pkg_resources (gone
from setuptools 81), uses np.float_ (gone from numpy 2) and passes skimage's removed
`multichannel` argument. The `ic` fixture shims those three things for these tests only.

The published random families draw from numpy's global RandomState; the library draws from
one legacy RandomState per image seeded with legacy_seed(derive_seed(*seed, i)), in the same
order, so seeding numpy with that number makes the reference draw the very same numbers.
"""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.filters
from PIL import Image
from scipy import ndimage
from skimage.metrics import structural_similarity

from camrobust.noise import corrupt, corruption_parameter
from camrobust.noise.corruptions import legacy_seed
from camrobust.noise.severities import PUBLISHED_NAMES
from camrobust.seeding import derive_seed

SEED = (0, "oracle")


@pytest.fixture(scope="module")
def ic():
    """imagecorruptions.corruptions, importable and runnable with today's numpy/skimage."""
    with pytest.MonkeyPatch.context() as patch:
        stub = types.ModuleType("pkg_resources")
        stub.resource_filename = lambda module, name: str(
            Path(sys.modules[module].__file__).parent / name
        )
        if "pkg_resources" not in sys.modules:
            patch.setitem(sys.modules, "pkg_resources", stub)
        patch.setattr(np, "float_", np.float64, raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from imagecorruptions import corruptions

        def gaussian(image, sigma=1, multichannel=None, **kwargs):
            if multichannel:
                kwargs["channel_axis"] = -1
            return skimage.filters.gaussian(image, sigma=sigma, **kwargs)

        patch.setattr(corruptions, "gaussian", gaussian)
        yield corruptions


def photos(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Photo-like test images: smooth random colour fields (bicubic from 6×6) plus fine noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=int)
        out[i] = np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255)
    return out


def seed_numpy(i: int) -> None:
    """Put numpy's global generator where the library's generator for image i starts."""
    np.random.seed(legacy_seed(derive_seed(*SEED, i)))


def reference(fn, images: np.ndarray, seeded: bool = True) -> np.ndarray:
    """fn(PIL image, ...) of every image, clipped to [0, 255], as float (no uint8 cast)."""
    out = []
    for i, image in enumerate(images):
        if seeded:
            seed_numpy(i)
        out.append(np.clip(np.asarray(fn(image), dtype=np.float64), 0, 255))
    return np.stack(out)


def ours(images: np.ndarray, noise: str, severity: int, table: str = "imagenetc") -> np.ndarray:
    out = corrupt(images, noise, severity=severity, table=table, seed=SEED, progress=False)
    return out.astype(np.float64)


def package(ic, noise: str, severity: int):
    """The package's function for `noise` at `severity`, on uint8 arrays."""
    function = getattr(ic, PUBLISHED_NAMES[noise])
    return lambda image: function(Image.fromarray(image), severity)


# --- deterministic families: within 1/255 of the package ----------------------------------------

# The package enlarges pixelate's image with NEAREST where the published code uses BOX; enlarging
# by a factor above 1, Pillow's BOX filter picks the one source pixel under each centre too.
DETERMINISTIC = ["gaussian_blur", "defocus_blur", "zoom_blur", "contrast", "brightness", "saturate",
                 "jpeg", "pixelate"]  # fmt: skip


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize("noise", DETERMINISTIC)
def test_deterministic_families_within_one_level_of_the_package(ic, noise, severity):
    images = photos(2, 224, seed=severity)
    expected = reference(package(ic, noise, severity), images, seeded=False)
    assert np.abs(ours(images, noise, severity) - expected).max() <= 1.0


# --- published random families, seeded: equal to the package ------------------------------------

# family -> images per severity at 224 px: the package's glass blur is a Python loop of 48,000
# swaps per iteration, hence one image.
SEEDED = {"glass_blur": 1, "motion_blur": 3, "fog": 3, "spatter": 3}


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize("noise", SEEDED)
def test_seeded_families_equal_the_package_up_to_rounding(ic, noise, severity):
    images = photos(SEEDED[noise], 224, seed=severity)
    expected = reference(package(ic, noise, severity), images)
    # The library rounds to the nearest level; the rest is the same arithmetic.
    assert np.abs(ours(images, noise, severity) - expected).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize("noise", ["glass_blur", "fog", "spatter"])
def test_seeded_families_equal_the_package_at_32_pixels(ic, noise, severity):
    # Same constants, smallest size the package takes: the fractal map is 32 wide here, as in
    # make_cifar_c.py, and glass blur loops over 32-pixel rows.
    images = photos(4, 32, seed=severity)
    expected = reference(package(ic, noise, severity), images)
    assert np.abs(ours(images, noise, severity) - expected).max() <= 0.5 + 1e-6


def published_snow(ic, image: np.ndarray, c: tuple) -> np.ndarray:
    """make_imagenet_c.py's snow with the package's motion blur for ImageMagick's: the flake
    layer trimmed to the image and stored as 8-bit *before* the blur (the package blurs the
    untrimmed float layer), the blurred layer rounded to 8 bits (ImageMagick's PNG)."""
    h = image.shape[0]
    x = image.astype(np.float32) / 255
    layer = np.random.normal(size=(h, h), loc=c[0], scale=c[1])
    layer = ic.clipped_zoom(layer[..., None], c[2])
    trim = (layer.shape[0] - h) // 2
    layer = layer[trim : trim + h, trim : trim + h, 0]
    layer[layer < c[3]] = 0
    layer = (np.clip(layer, 0, 1) * 255).astype(np.uint8).astype(np.float64)
    layer = ic._motion_blur(layer, c[4], c[5], np.random.uniform(-135, -45))
    layer = (np.round(layer) / 255)[..., None]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize(("table", "size"), [("imagenetc", 224), ("cifar10c", 32)])
def test_snow_equals_the_published_pipeline(ic, table, size, severity):
    images = photos(3, size, seed=severity)
    c = corruption_parameter("snow", severity, table)
    expected = reference(lambda im: published_snow(ic, im, c), images)
    assert np.abs(ours(images, "snow", severity, table) - expected).max() <= 0.5 + 1e-4


@pytest.mark.parametrize("severity", range(1, 6))
def test_snow_agrees_with_the_package_inside_the_border(ic, severity):
    images = photos(3, 224, seed=severity)
    expected = reference(package(ic, "snow", severity), images)
    # The package blurs the untrimmed zoomed layer, so within one kernel width of the border
    # (and of the rotated copy's) its edge pixels differ; inside, only the 8-bit storage of the
    # layer before the blur differs (< 1 level per layer, two layers, then rounding).
    band = 2 * corruption_parameter("snow", severity, "imagenetc")[4] + 1
    inside = (slice(None), slice(band, -band), slice(band, -band))
    diff = np.abs(ours(images, "snow", severity) - expected)[inside]
    assert diff.max() <= 2.5 + 1e-4
    assert diff.mean() < 0.5


def test_motion_blur_follows_imagemagick_past_the_border_where_the_package_stops(ic):
    # CIFAR-10-C size, ImageNet-C severity 5: 41 taps on a 32-pixel image. ImageMagick repeats
    # the edge pixel for every tap; the package drops the taps beyond the image.
    images = photos(4, 32)
    expected = reference(package(ic, "motion_blur", 4), images)
    assert np.abs(ours(images, "motion_blur", 4) - expected).max() <= 0.5 + 1e-6
    expected = reference(package(ic, "motion_blur", 5), images)
    assert np.abs(ours(images, "motion_blur", 5) - expected).max() > 1


# --- frost and elastic: transcriptions of the published code ------------------------------------


def published_frost(image: np.ndarray, c: tuple, scale: float) -> np.ndarray:
    """make_cifar_c.py (scale 0.2) / make_imagenet_c.py (scale 1) frost, on the package's files."""
    folder = Path(sys.modules["imagecorruptions"].__file__).parent / "frost"
    name = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"][
        np.random.randint(5)
    ]
    frost = cv2.imread(str(folder / name))
    if scale != 1:
        frost = cv2.resize(frost, (0, 0), fx=scale, fy=scale)
    h, w = image.shape[:2]
    top, left = np.random.randint(0, frost.shape[0] - h), np.random.randint(0, frost.shape[1] - w)
    frost = frost[top : top + h, left : left + w][..., [2, 1, 0]]
    return np.clip(c[0] * image + c[1] * frost, 0, 255)


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize(("table", "size"), [("imagenetc", 224), ("cifar10c", 32)])
def test_frost_equals_the_published_formula(ic, table, size, severity):
    images = photos(6, size, seed=severity)
    c = corruption_parameter("frost", severity, table)
    expected = reference(lambda im: published_frost(im, c[:2], c[2]), images)
    assert np.abs(ours(images, "frost", severity, table) - expected).max() <= 0.5 + 1e-6


def published_elastic(image: np.ndarray, c: tuple) -> np.ndarray:
    """make_imagenet_c.py's elastic transform (affine warp, then the smoothed displacement)."""
    x = image.astype(np.float32) / 255
    h, w = x.shape[:2]
    centre = np.float32([h, w]) // 2
    third = min(h, w) // 3
    src = np.float32([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    dst = src + np.random.uniform(-c[2], c[2], size=src.shape).astype(np.float32)
    x = cv2.warpAffine(
        x, cv2.getAffineTransform(src, dst), (w, h), borderMode=cv2.BORDER_REFLECT_101
    )
    dx, dy = (
        (
            skimage.filters.gaussian(
                np.random.uniform(-1, 1, (h, w)), c[1], mode="reflect", truncate=3
            )
            * c[0]
        ).astype(np.float32)
        for _ in range(2)
    )
    cols, rows, chans = np.meshgrid(np.arange(w), np.arange(h), np.arange(3))
    coords = [(rows + dy[..., None]).ravel(), (cols + dx[..., None]).ravel(), chans.ravel()]
    warped = ndimage.map_coordinates(x, coords, order=1, mode="reflect").reshape(x.shape)
    return np.clip(warped, 0, 1) * 255


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize(("table", "size", "n"), [("imagenetc", 224, 2), ("cifar10c", 32, 6)])
def test_elastic_transform_equals_the_published_formula(table, size, n, severity):
    # imagecorruptions' elastic_transform is another transform (no affine step, other
    # constants), so the published one is the oracle here.
    images = photos(n, size, seed=severity)
    c = corruption_parameter("elastic_transform", severity, table)
    expected = reference(lambda im: published_elastic(im, c), images)
    assert np.abs(ours(images, "elastic_transform", severity, table) - expected).max() <= 0.5 + 1e-4


# --- torch random families and frost: statistics against the package ---------------------------


def statistics(images: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per image: mean, standard deviation and SSIM to the clean image (data range 255)."""
    rows = []
    for image, original in zip(images, clean, strict=True):
        ssim = structural_similarity(image, original, channel_axis=-1, data_range=255)
        rows.append([image.mean(), image.std(), ssim])
    return np.array(rows)


STATISTICAL = ["gaussian", "shot", "impulse", "speckle"]


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize("noise", STATISTICAL)
def test_random_families_match_the_package_statistics(ic, noise, severity):
    # Per image, the mean and standard deviation average 150,528 values: their draw-to-draw
    # spread is ~0.1%, so each image must agree within 2%. SSIM is a mean of local scores that
    # falls to ~0.05 at severity 5, where one image's draw-to-draw spread reaches ~5%; its mean
    # over the images must agree within 2% (measured: under 1% with 12 images; 200 images of
    # the package's 224-pixel noise take minutes on one core, hence 12).
    images = photos(12, 224, seed=severity)
    expected = reference(package(ic, noise, severity), images, seeded=False)
    got = statistics(ours(images, noise, severity), images.astype(np.float64))
    want = statistics(expected, images.astype(np.float64))
    np.testing.assert_allclose(got[:, :2], want[:, :2], rtol=0.02)
    np.testing.assert_allclose(got.mean(axis=0), want.mean(axis=0), rtol=0.02)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_frost_matches_the_package_statistics(ic, severity):
    # Same texture (the first draw), but the package enlarges it by 1.1 (bicubic) before the
    # crop and so crops elsewhere: only the statistics over many images compare. With 20
    # images the means over images differed by up to 1.96%, with 60 by up to 1.4%.
    images = photos(60, 224, seed=severity)
    expected = reference(package(ic, "frost", severity), images)
    got = statistics(ours(images, "frost", severity), images.astype(np.float64))
    want = statistics(expected, images.astype(np.float64))
    np.testing.assert_allclose(got.mean(axis=0), want.mean(axis=0), rtol=0.02)
