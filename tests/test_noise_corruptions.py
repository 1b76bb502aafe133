"""The 19 corruption families against their definitions (scipy, skimage, OpenCV, Pillow oracles)."""

from __future__ import annotations

import io
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage, stats
from skimage.color import hsv2rgb, rgb2hsv

from camrobust.noise import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTIONS,
    RANDOM_CORRUPTIONS,
    SEVERITY_TABLES,
    corrupt,
    corruption_parameter,
    motion,
    optional,
    taps,
    weather,
)
from camrobust.noise import corruptions as C
from camrobust.seeding import derive_seed

SEED = (0, "test", "noise")
GREY = 128 / 255
LEVELS = np.arange(256)


def random_images(n: int = 6, h: int = 20, w: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def mid_grey(n: int = 64) -> np.ndarray:
    return np.full((n, 32, 32, 3), 128, dtype=np.uint8)


def float_layout(images: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """The library's H×W×N×C float tensor and the same values as float64 numpy."""
    x = C.to_float(images)
    return x, x.double().numpy()


def table_values(noise: str) -> list:
    return [v for table in SEVERITY_TABLES.values() for v in table[noise]]


# --- tables and bad input -------------------------------------------------------------------


def test_tables_cover_every_family_with_five_levels():
    assert len(CORRUPTIONS) == 19
    assert set(BENCHMARK_CORRUPTIONS) < set(CORRUPTIONS) and len(BENCHMARK_CORRUPTIONS) == 15
    for table in SEVERITY_TABLES.values():
        assert set(table) == set(CORRUPTIONS)
        assert all(len(levels) == 5 for levels in table.values())
    for name in CORRUPTIONS:
        for severity in range(1, 6):
            assert (
                corruption_parameter(name, severity, "imagenetc")
                == (SEVERITY_TABLES["imagenetc"][name][severity - 1])
            )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise": "rain", "severity": 1}, "noise: unknown corruption 'rain'"),
        ({"noise": "gaussian", "severity": 0}, "severity: must be 1-5"),
        ({"noise": "gaussian", "severity": 6}, "severity: must be 1-5"),
        ({"noise": "gaussian", "severity": 2.5}, "severity: must be an integer"),
        ({"noise": "gaussian", "severity": 1, "table": "cifar100c"}, "table: unknown"),
        ({"noise": "gaussian", "value": -0.1}, "value: .*non-negative"),
        ({"noise": "gaussian", "value": "0.1"}, "value: .*finite numbers"),
        ({"noise": "gaussian", "value": float("nan")}, "value: .*finite numbers"),
        ({"noise": "saturate", "value": (1.0, -0.2)}, "value: .*non-negative"),
        ({"noise": "saturate", "value": 2.0}, "value: saturate takes 2 numbers"),
        ({"noise": "jpeg", "value": 50.5}, "value: jpeg is an integer quality"),
        ({"noise": "impulse", "value": 1.5}, "value: impulse is a fraction"),
        ({"noise": "pixelate", "value": 0}, "value: pixelate is a size fraction"),
        ({"noise": "zoom_blur", "value": (1.0, 0.9, 0.01)}, "value: zoom_blur"),
        ({"noise": "glass_blur", "value": (0.5, 1.5, 1)}, "value: glass_blur needs a whole number"),
        ({"noise": "glass_blur", "value": (0.5, 0, 1)}, "value: glass_blur needs max_delta >= 1"),
        ({"noise": "spatter", "value": (0.6, 0.1, 1, 0.7, 0.5, 2)}, "value: spatter's last number"),
        ({"noise": "snow", "value": (0.1, 0.2, 1)}, "value: snow takes 7 numbers"),
        ({"noise": "fog", "value": (0.5, 0)}, "value: fog needs a wibble decay"),
        ({"noise": "frost", "value": (1, 0.4, 0)}, "value: frost needs a texture scale"),
        ({"noise": "motion_blur", "severity": 1, "seed": None}, "seed: motion_blur draws random"),
        ({"noise": "contrast", "severity": 1, "value": 0.5}, "severity/value: give exactly one"),
        ({"noise": "contrast"}, "severity/value: give exactly one"),
        ({"noise": "gaussian", "severity": 1, "seed": None}, "seed: gaussian draws random"),
        ({"noise": "contrast", "severity": 1, "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    kwargs = {"seed": SEED, "progress": False} | kwargs
    with pytest.raises(ValueError, match=match):
        corrupt(random_images(2), **kwargs)


def test_bad_images_raise():
    with pytest.raises(ValueError, match="images: need a uint8"):
        corrupt(random_images(2).astype(np.float32), "contrast", severity=1)
    with pytest.raises(ValueError, match="images: brightness works in HSV"):
        corrupt(random_images(2)[..., :1], "brightness", severity=1)
    for noise in ("snow", "frost", "spatter"):
        with pytest.raises(ValueError, match=f"images: {noise} is defined on RGB"):
            corrupt(random_images(2)[..., :1], noise, severity=1, seed=SEED)


def test_missing_optional_packages_raise_one_line_naming_them(monkeypatch):
    monkeypatch.setattr(optional.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"^noise: frost needs the package imagecorruptions \("):
        corrupt(random_images(2, 32, 32), "frost", severity=1, seed=SEED, progress=False)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    for noise in ("spatter", "elastic_transform"):
        with pytest.raises(ValueError, match=f"^noise: {noise} needs the package opencv-python"):
            corrupt(random_images(2, 32, 32), noise, severity=1, seed=SEED, progress=False)


def test_frost_refuses_images_larger_than_its_textures():
    with pytest.raises(ValueError, match="images: 400×400 images do not fit in the frost"):
        corrupt(random_images(1, 400, 400), "frost", value=(1, 0.4, 0.2), seed=SEED)


# --- random families: statistics on mid-grey images -----------------------------------------


def stored_moments(cdf) -> tuple[float, float]:
    """Mean and std of round(255 clip(V)) / 255 for a continuous V with distribution `cdf`."""
    edges = np.concatenate([[-np.inf], (LEVELS[:-1] + 0.5) / 255, [np.inf]])
    p = np.diff(cdf(edges))
    mean = p @ (LEVELS / 255)
    return mean, np.sqrt(p @ (LEVELS / 255 - mean) ** 2)


def check_moments(stored: np.ndarray, mean: float, std: float) -> None:
    values = stored / 255.0
    assert values.std() == pytest.approx(std, rel=0.015)
    assert abs(values.mean() - mean) < 5 * std / np.sqrt(values.size)


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_sigma_on_mid_grey(severity):
    c = corruption_parameter("gaussian", severity, "cifar10c")
    stored = corrupt(mid_grey(), "gaussian", severity=severity, seed=SEED, progress=False)
    # Before rounding: N(x, c^2); the oracle adds the exact effect of storing as uint8.
    check_moments(stored, *stored_moments(stats.norm(GREY, c).cdf))
    assert (stored / 255 - GREY).std() == pytest.approx(c, rel=0.03)


@pytest.mark.parametrize("severity", range(1, 6))
def test_shot_variance_is_x_over_c(severity):
    c = corruption_parameter("shot", severity, "cifar10c")
    stored = corrupt(mid_grey(), "shot", severity=severity, seed=SEED, progress=False)
    # Poisson(x c) / c takes the values k / c; each maps to one uint8 level.
    k = np.arange(0, int(GREY * c + 20 * np.sqrt(GREY * c) + 20))
    p = stats.poisson(GREY * c).pmf(k)
    levels = np.round(np.clip(k / c, 0, 1) * 255) / 255
    mean = p @ levels
    check_moments(stored, mean, np.sqrt(p @ (levels - mean) ** 2))
    assert (stored / 255).var() == pytest.approx(GREY / c, rel=0.06)


@pytest.mark.parametrize("severity", range(1, 6))
def test_impulse_changes_a_share_c_half_salt(severity):
    c = corruption_parameter("impulse", severity, "cifar10c")
    noisy = corrupt(mid_grey(), "impulse", severity=severity, seed=SEED, progress=False)
    changed = noisy != 128
    assert set(np.unique(noisy[changed])) <= {0, 255}
    n = changed.size
    assert abs(changed.mean() - c) < 5 * np.sqrt(c * (1 - c) / n)
    salt = (noisy == 255).sum() / changed.sum()
    assert abs(salt - 0.5) < 5 * np.sqrt(0.25 / changed.sum())


@pytest.mark.parametrize("severity", range(1, 6))
def test_speckle_sigma_is_x_times_c(severity):
    c = corruption_parameter("speckle", severity, "cifar10c")
    stored = corrupt(mid_grey(), "speckle", severity=severity, seed=SEED, progress=False)
    check_moments(stored, *stored_moments(stats.norm(GREY, GREY * c).cdf))
    assert (stored / 255 - GREY).std() == pytest.approx(GREY * c, rel=0.03)


def test_speckle_leaves_black_black():
    black = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(corrupt(black, "speckle", severity=5, seed=SEED, progress=False), black)


# --- filters and colour: equal to their reference implementations ---------------------------


@pytest.mark.parametrize("sigma", table_values("gaussian_blur"))
def test_gaussian_blur_equals_scipy_gaussian_filter(sigma):
    x, ref = float_layout(random_images())
    expected = ndimage.gaussian_filter(ref, sigma=(sigma, sigma, 0, 0), mode="nearest", truncate=4)
    np.testing.assert_allclose(C.gaussian_blur(x, sigma).numpy(), expected, atol=2e-6)


def published_disk(radius: float, alias_blur: float) -> np.ndarray:
    """make_imagenet_c.py's disk(), with OpenCV itself doing the anti-alias blur."""
    grid = np.arange(-8, 8 + 1) if radius <= 8 else np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    disk /= np.sum(disk)
    ksize = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)


@pytest.mark.parametrize("param", [*table_values("defocus_blur"), (2, 0.0), (9, 0.3)])
def test_disk_kernel_is_the_published_disk(param):
    expected = published_disk(*param)
    kernel = taps.disk_kernel(*param)
    pad = (expected.shape[0] - kernel.shape[0]) // 2
    assert pad >= 0 and expected.shape[0] == kernel.shape[0] + 2 * pad
    np.testing.assert_allclose(np.pad(kernel, pad), expected, atol=1e-7)


@pytest.mark.parametrize("param", table_values("defocus_blur"))
def test_defocus_blur_equals_scipy_correlate_mirror(param):
    x, ref = float_layout(random_images())
    kernel = taps.disk_kernel(*param)[:, :, None, None]
    expected = ndimage.correlate(ref, kernel, mode="mirror")
    np.testing.assert_allclose(C.defocus_blur(x, param).numpy(), expected, atol=2e-6)


def published_zoom_blur(image: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """make_cifar_c.py's zoom blur of one square H×W×C float32 image, written out with scipy:
    crop ceil(h / f) from (h - crop) // 2, zoom at order 1, trim (zoomed - h) // 2, average."""
    h = image.shape[0]
    total = np.zeros_like(image)
    for f in factors:
        crop = int(np.ceil(h / f))
        top = (h - crop) // 2
        zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (f, f, 1), order=1)
        trim = (zoomed.shape[0] - h) // 2
        total += zoomed[trim : trim + h, trim : trim + h]
    return (image + total) / (len(factors) + 1)


@pytest.mark.parametrize("severity", range(1, 6))
@pytest.mark.parametrize(("table", "size"), [("cifar10c", 32), ("imagenetc", 224)])
def test_zoom_blur_equals_the_published_clipped_zoom(table, size, severity):
    images = random_images(3, size, size, seed=severity)
    param = corruption_parameter("zoom_blur", severity, table)
    factors = np.arange(*param)
    assert C.zoom_factors(param).tolist() == factors.tolist()
    out = C.zoom_blur(C.to_float(images), param).numpy()
    for n, image in enumerate(images):
        expected = published_zoom_blur((image / 255.0).astype(np.float32), factors)
        np.testing.assert_allclose(out[:, :, n], expected, atol=2e-6)


def test_zoom_blur_at_32_pixels_keeps_the_published_quirks():
    # ceil(32 / 1.01) = 32 crops nothing: zooms by 1.00 and 1.01 are both the identity.
    images = random_images(2, 32, 32)
    x = C.to_float(images)
    assert torch.allclose(C.zoom_blur(x, (1.0, 1.015, 0.01)), x, atol=1e-6)
    # 1.02 and 1.03 both crop 31 pixels and zoom them back to 32: the same image.
    once = C.zoom_blur(x, (1.02, 1.025, 0.01))
    assert torch.allclose(once, C.zoom_blur(x, (1.03, 1.035, 0.01)))
    assert not torch.allclose(once, x)


def test_zoom_blur_on_non_square_images_zooms_each_axis_by_its_own_crop():
    images = random_images(2, 20, 28)
    out = C.zoom_blur(C.to_float(images), (1.1, 1.15, 0.1)).numpy()
    for n, image in enumerate(images):
        x = (image / 255.0).astype(np.float32)
        zoomed = x
        for axis, size in enumerate(x.shape[:2]):
            crop = int(np.ceil(size / 1.1))
            top = (size - crop) // 2
            part = np.take(zoomed, np.arange(top, top + crop), axis=axis)
            factors = [1.0, 1.0, 1.0]
            factors[axis] = 1.1
            part = ndimage.zoom(part, factors, order=1)
            trim = (part.shape[axis] - size) // 2
            zoomed = np.take(part, np.arange(trim, trim + size), axis=axis)
        np.testing.assert_allclose(out[:, :, n], (x + zoomed) / 2, atol=2e-6)


@pytest.mark.parametrize("c", table_values("contrast"))
def test_contrast_follows_formula(c):
    images = random_images()
    x, ref = float_layout(images)
    mean = ref.mean(axis=(0, 1), keepdims=True)
    expected = (ref - mean) * c + mean
    np.testing.assert_allclose(C.contrast(x, c).numpy(), expected, atol=1e-6)
    stored = corrupt(images, "contrast", value=c, progress=False).astype(int)
    levels = np.round(np.clip(expected, 0, 1) * 255).transpose(2, 0, 1, 3)
    assert np.abs(stored - levels).max() <= 1
    assert np.mean(stored == levels) > 0.999


def hsv_oracle(images: np.ndarray, channel: int, scale: float, shift: float) -> np.ndarray:
    hsv = rgb2hsv(images / 255.0)
    hsv[..., channel] = np.clip(hsv[..., channel] * scale + shift, 0, 1)
    return hsv2rgb(hsv)


@pytest.mark.parametrize("c", table_values("brightness"))
def test_brightness_follows_skimage_hsv(c):
    images = random_images()
    x, _ = float_layout(images)
    expected = hsv_oracle(images, 2, 1.0, c).transpose(1, 2, 0, 3)
    np.testing.assert_allclose(C.brightness(x, c).numpy(), expected, atol=2e-6)


@pytest.mark.parametrize("param", table_values("saturate"))
def test_saturate_follows_skimage_hsv(param):
    images = random_images()
    x, _ = float_layout(images)
    expected = hsv_oracle(images, 1, *param).transpose(1, 2, 0, 3)
    np.testing.assert_allclose(C.saturate(x, param).numpy(), expected, atol=2e-6)


def pil_pixelate(channel: np.ndarray, c: float) -> np.ndarray:
    h, w = channel.shape
    image = Image.fromarray(channel.astype(np.float32))
    small = image.resize((int(w * c), int(h * c)), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.BOX))


@pytest.mark.parametrize("c", table_values("pixelate"))
@pytest.mark.parametrize("shape", [(32, 32), (20, 28)])
def test_pixelate_equals_pillow_box_resizes(c, shape):
    images = random_images(2, *shape)
    x, ref = float_layout(images)
    out = C.pixelate(x, c).numpy()
    for n in range(2):
        for ch in range(3):
            expected = pil_pixelate(ref[:, :, n, ch], c)
            np.testing.assert_allclose(out[:, :, n, ch], expected, atol=2e-6)


@pytest.mark.parametrize("severity", [1, 5])
@pytest.mark.parametrize("table", ["cifar10c", "imagenetc"])
def test_jpeg_equals_pillow_reencode(severity, table):
    images = random_images(4, 32, 32)
    quality = corruption_parameter("jpeg", severity, table)
    out = corrupt(images, "jpeg", severity=severity, table=table, progress=False)
    for image, got in zip(images, out, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        assert np.array_equal(got, np.asarray(Image.open(buffer)))


def reference_glass_shuffle(image: np.ndarray, delta: int, iterations: int) -> np.ndarray:
    """make_cifar_c.py's pixel loop, tuple swap on numpy views included, on one uint8 image."""
    x = image.copy()
    h, w = x.shape[:2]
    for _ in range(iterations):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dx, dy = np.random.randint(-delta, delta, size=(2,))  # noqa: NPY002
                x[row, col], x[row + dy, col + dx] = x[row + dy, col + dx], x[row, col]
    return x


@pytest.mark.parametrize("param", [(0.0, 1, 2), (0.0, 3, 1), (0.0, 2, 3)])
def test_glass_blur_shuffle_runs_the_references_sequential_loop(param):
    # sigma 0 leaves only the shuffle; non-square images check the row/column bounds.
    images = random_images(3, 20, 28)
    got = corrupt(images, "glass_blur", value=param, seed=SEED, progress=False)
    for i, image in enumerate(images):
        np.random.seed(C.legacy_seed(derive_seed(*SEED, i)))  # noqa: NPY002
        assert np.array_equal(got[i], reference_glass_shuffle(image, *param[1:]))


def test_motion_blur_kernel_is_imagemagicks_line():
    kernel = motion.motion_kernel(3, 1.5)
    assert len(kernel) == 7 and kernel.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        kernel, np.exp(-(np.arange(7) ** 2) / 4.5) / np.exp(-(np.arange(7) ** 2) / 4.5).sum()
    )
    assert [o.tolist() for o in motion.motion_offsets(4, 0.0)] == [[0, 0, 0, 0], [0, 1, 2, 3]]
    assert [o.tolist() for o in motion.motion_offsets(4, 90.0)] == [[0, 1, 2, 3], [0, 0, 0, 0]]
    # A vertical line blurred at 0 degrees (along x) smears to the left: tap i reads x + i.
    image = np.zeros((1, 9, 9, 1))
    image[0, :, 6] = 1
    out = motion.motion_blur_images(image, 3, 1.5, np.array([0.0]))[0, 4, :, 0]
    np.testing.assert_allclose(out[:7], kernel[::-1])
    assert out[7:].sum() == 0


def test_fog_map_is_a_normalised_fractal_and_fog_keeps_the_brightest_value():
    maps = weather.plasma_fractal(32, 2.0, C.legacy_rngs([1, 2]))
    assert maps.shape == (2, 32, 32) and maps.min() == 0 and maps.max() == 1
    assert not np.array_equal(maps[0], maps[1])
    images = random_images(4, 32, 32)
    fogged = weather.fog(images, (1.5, 1.75), C.legacy_rngs([1, 2, 3, 4]))
    peak = images.max(axis=(1, 2, 3)) / 255
    assert np.all(fogged.max(axis=(1, 2, 3)) <= peak * (1 + 1.5) / (peak + 1.5) + 1e-12)


# --- behaviour across severities and the uint8 round trip ------------------------------------


def high_frequency_energy(images: np.ndarray) -> float:
    x = images.astype(float)
    return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=2) ** 2))


@pytest.mark.parametrize("noise", ["gaussian_blur", "defocus_blur", "zoom_blur", "motion_blur"])
def test_blurs_keep_constants_and_remove_detail_with_severity(noise):
    constant = np.full((3, 32, 32, 3), 77, dtype=np.uint8)
    assert np.array_equal(corrupt(constant, noise, severity=5, seed=SEED, progress=False), constant)
    images = random_images(4, 32, 32)
    energy = [high_frequency_energy(images)]
    for severity in range(1, 6):
        blurred = corrupt(images, noise, severity=severity, seed=SEED, progress=False)
        energy.append(high_frequency_energy(blurred))
    # CIFAR-10-C's motion blur (radius, sigma) (6, 2) and (8, 2) differ only in taps weighted
    # below 1e-9 (i >= 13 at sigma 2): severities 3 and 4 give the same images.
    if noise == "motion_blur":
        assert energy[3] == energy[4], energy
        energy = energy[:4] + energy[5:]
    assert all(a > b for a, b in zip(energy, energy[1:], strict=False)), energy


@pytest.mark.parametrize(
    ("noise", "value"),
    [
        ("gaussian", 0.0),
        ("speckle", 0.0),
        ("impulse", 0.0),
        ("gaussian_blur", 0.0),
        ("zoom_blur", (1.0, 1.015, 0.01)),
        ("contrast", 1.0),
        ("brightness", 0.0),
        ("saturate", (1.0, 0.0)),
        ("pixelate", 1.0),
    ],
)
def test_identity_parameters_return_the_input_exactly(noise, value):
    images = random_images()
    out = corrupt(images, noise, value=value, seed=SEED, progress=False)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out, images)


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", CORRUPTIONS)
def test_bytes_do_not_depend_on_batch_size_or_threads(noise):
    images = random_images(24, 32, 32, seed=3)
    reference = corrupt(images, noise, severity=4, seed=SEED, batch_size=256, progress=False)
    assert np.array_equal(
        reference, corrupt(images, noise, severity=4, seed=SEED, batch_size=5, progress=False)
    )
    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        single = corrupt(images, noise, severity=4, seed=SEED, batch_size=7, progress=False)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)
    assert np.array_equal(reference, single)
    assert not np.array_equal(reference, images)


@pytest.mark.parametrize("noise", sorted(RANDOM_CORRUPTIONS))
def test_random_families_follow_the_seed(noise):
    images = random_images(8, 16, 16)
    a = corrupt(images, noise, severity=3, seed=(0, "shapes", noise, "3"), progress=False)
    b = corrupt(images, noise, severity=3, seed=(0, "shapes", noise, "3"), progress=False)
    c = corrupt(images, noise, severity=3, seed=(1, "shapes", noise, "3"), progress=False)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # Each image draws its own noise: identical inputs still get different noise.
    same = np.repeat(images[:1], 2, axis=0)
    pair = corrupt(same, noise, severity=3, seed=SEED, progress=False)
    assert not np.array_equal(pair[0], pair[1])


def test_table_auto_picks_the_constants_by_image_size_as_the_workflow():
    """`noise.table: auto` in the library too: CIFAR-10-C's up to 32 pixels, ImageNet-C's above."""
    for size, table in ((32, "cifar10c"), (33, "imagenetc"), (64, "imagenetc")):
        images = random_images(2, size, size)
        auto = corrupt(images, "contrast", severity=2, progress=False)
        other = "imagenetc" if table == "cifar10c" else "cifar10c"
        assert np.array_equal(auto, corrupt(images, "contrast", severity=2, table=table))
        assert not np.array_equal(auto, corrupt(images, "contrast", severity=2, table=other))
