"""The 19 corruption families of CIFAR-10-C / ImageNet-C, batched.

Eleven families are functions of an H×W×N×C float tensor (values in [0,1]; spatial dims first
so the filters gather contiguous blocks, see `taps.py`) and its parameter; jpeg goes through
Pillow. `corrupt` drives them over
uint8 N×H×W×C arrays in batches, clips to [0,1] and stores back as uint8 by rounding to the
nearest level (ties to even). CIFAR-10-C truncates instead; rounding keeps an identity operation
exact and avoids truncation's systematic -0.5/255 bias.

The other seven (glass and motion blur, snow, frost, fog, spatter, elastic transform) follow
the published generators step by step in numpy (`blurs.py`, `weather.py`, `elastic.py`): each
image draws from its own legacy numpy RandomState, in the reference's order, so seeding numpy
the same way makes the reference produce the same corruption.

The torch random families draw each image's noise (in its own H×W×C order) from a generator seeded
with (seed parts, image index), and the filters are fixed-order gather-multiply-add taps, so the
bytes depend neither on the batch size nor on the torch thread count.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from camrobust.config import severity_table
from camrobust.data.tensors import unit_float
from camrobust.noise import blurs, elastic, taps, weather
from camrobust.noise.color import hsv_to_rgb, rgb_to_hsv
from camrobust.noise.optional import check_available
from camrobust.noise.severities import Parameter, check_noise, check_value, corruption_parameter
from camrobust.seeding import derive_seed

log = logging.getLogger(__name__)

COLOUR_CORRUPTIONS = frozenset({"brightness", "saturate"})
# Families whose published definitions mix or colour the RGB channels.
RGB_CORRUPTIONS = frozenset({"snow", "frost", "spatter"})


def _per_image(
    x: torch.Tensor,
    seeds: Sequence[int],
    draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
) -> torch.Tensor:
    """draw(image H×W×C, generator) for every image of `x`, one generator seed per image."""
    if len(seeds) != x.shape[2]:
        raise ValueError(f"seeds: need one per image ({x.shape[2]}), got {len(seeds)}")
    images = x.permute(2, 0, 1, 3).contiguous()
    gen = torch.Generator()
    out = torch.empty_like(images)
    for i, seed in enumerate(seeds):
        gen.manual_seed(seed)
        out[i] = draw(images[i], gen)
    return out.permute(1, 2, 0, 3)


def _normal(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(image.shape, generator=gen)


def gaussian_noise(x: torch.Tensor, c: float, seeds: Sequence[int]) -> torch.Tensor:
    """Additive Gaussian noise x + N(0, c^2)."""
    return x + c * _per_image(x, seeds, _normal)


def shot_noise(x: torch.Tensor, c: float, seeds: Sequence[int]) -> torch.Tensor:
    """Poisson (photon) noise Poisson(x c) / c: mean x, variance x / c."""
    return _per_image(x * c, seeds, lambda rate, gen: torch.poisson(rate, generator=gen)) / c


def impulse_noise(x: torch.Tensor, c: float, seeds: Sequence[int]) -> torch.Tensor:
    """Salt and pepper: each channel value is replaced with probability c, by 0 or 1 equally."""

    def draw(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        hit, salt = torch.rand((2, *image.shape), generator=gen)
        return torch.where(hit < c, (salt < 0.5).to(image.dtype), image)

    return _per_image(x, seeds, draw)


def speckle_noise(x: torch.Tensor, c: float, seeds: Sequence[int]) -> torch.Tensor:
    """Multiplicative Gaussian noise x + x N(0, c^2)."""
    return x + x * (c * _per_image(x, seeds, _normal))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter of std `sigma` pixels, as scipy.ndimage.gaussian_filter with
    mode='nearest' and truncate=4 (what CIFAR-10-C gets through skimage.filters.gaussian)."""
    kernel = taps.gaussian_kernel(sigma)
    return taps.correlate1d(taps.correlate1d(x, kernel, 0, "nearest"), kernel, 1, "nearest")


def defocus_blur(x: torch.Tensor, param: tuple[float, float]) -> torch.Tensor:
    """Correlation with CIFAR-10-C's anti-aliased disk (radius, alias sigma), borders mirrored
    (OpenCV filter2D's default BORDER_REFLECT_101, scipy's mode='mirror')."""
    radius, alias_blur = param
    return taps.correlate2d(x, taps.disk_kernel(radius, alias_blur), "mirror")


def zoom_factors(param: tuple[float, float, float]) -> np.ndarray:
    """The zoom factors numpy.arange(start, stop, step), as CIFAR-10-C computes them."""
    return np.arange(*param)


def zoom_blur(x: torch.Tensor, param: tuple[float, float, float]) -> torch.Tensor:
    """Mean of the image and its clipped zooms by each factor, as published (`taps.zoom_taps`).

    The reference zooms float32 images; here the taps run in the tensor's dtype, axis by axis.
    """
    factors = zoom_factors(param)
    total = x.clone()
    for factor in factors:
        zoomed = taps.apply_taps(x, *taps.zoom_taps(x.shape[0], float(factor)), 0)
        total += taps.apply_taps(zoomed, *taps.zoom_taps(x.shape[1], float(factor)), 1)
    return total / (len(factors) + 1)


def contrast(x: torch.Tensor, c: float) -> torch.Tensor:
    """(x - mean) c + mean, with the mean per image and channel (as CIFAR-10-C).

    The float64 sum is exact for images that came from uint8, so it is order-independent.
    """
    mean = x.double().sum(dim=(0, 1)).div(x.shape[0] * x.shape[1]).to(x.dtype)
    return (x - mean) * c + mean


def brightness(x: torch.Tensor, c: float) -> torch.Tensor:
    """Add c to the HSV value channel (clipped to [0,1])."""
    hsv = rgb_to_hsv(x)
    hsv[..., 2] = torch.clamp(hsv[..., 2] + c, 0.0, 1.0)
    return hsv_to_rgb(hsv)


def saturate(x: torch.Tensor, param: tuple[float, float]) -> torch.Tensor:
    """Scale the HSV saturation by c0 and add c1 (clipped to [0,1])."""
    hsv = rgb_to_hsv(x)
    hsv[..., 1] = torch.clamp(hsv[..., 1] * param[0] + param[1], 0.0, 1.0)
    return hsv_to_rgb(hsv)


def pixelate(x: torch.Tensor, c: float) -> torch.Tensor:
    """Pillow BOX resize to int(c * size) and BOX back to the size, per axis (CIFAR-10-C)."""
    for dim in (0, 1):
        size = x.shape[dim]
        small = max(int(size * c), 1)
        if small == size:  # Pillow skips a same-size resize along an axis
            continue
        x = taps.apply_taps(x, *taps.box_taps(size, small), dim)
        x = taps.apply_taps(x, *taps.box_taps(small, size), dim)
    return x


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode each uint8 H×W×C image as a Pillow JPEG at `quality` and decode it back."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[i] = np.asarray(decoded).reshape(image.shape)
    return out


FLOAT_CORRUPTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": gaussian_noise,
    "shot": shot_noise,
    "impulse": impulse_noise,
    "speckle": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "defocus_blur": defocus_blur,
    "zoom_blur": zoom_blur,
    "contrast": contrast,
    "brightness": brightness,
    "saturate": saturate,
    "pixelate": pixelate,
}


# The published families on uint8 N×H×W×C arrays, each image with its own legacy generator.
IMAGE_CORRUPTIONS: dict[str, Callable[..., np.ndarray]] = {
    "glass_blur": blurs.glass_blur,
    "motion_blur": blurs.motion_blur,
    "snow": weather.snow,
    "frost": weather.frost,
    "fog": weather.fog,
    "spatter": weather.spatter,
    "elastic_transform": elastic.elastic_transform,
}
RANDOM_CORRUPTIONS = frozenset({"gaussian", "shot", "impulse", "speckle", *IMAGE_CORRUPTIONS})


# Reused generators, per thread: creating a RandomState costs ~100x more than reseeding one.
_GENERATORS = threading.local()


def legacy_seed(seed: int) -> int:
    """The 32-bit seed of a legacy RandomState: the low half of a 63-bit derived seed."""
    return seed & 0xFFFFFFFF


def legacy_rngs(seeds: Sequence[int]) -> list[np.random.RandomState]:
    """One legacy numpy RandomState per seed, seeded with `legacy_seed` (valid until the
    thread's next call).

    Legacy, because the published generators draw from numpy's global RandomState:
    np.random.seed(legacy_seed(s)) makes them draw the very numbers drawn here.
    """
    pool = _GENERATORS.__dict__.setdefault("pool", [])
    while len(pool) < len(seeds):
        pool.append(np.random.RandomState(0))
    for rng, seed in zip(pool, seeds, strict=False):
        rng.seed(legacy_seed(seed))
    return pool[: len(seeds)]


def to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×C array -> float32 H×W×N×C tensor in [0,1]."""
    return unit_float(
        torch.from_numpy(np.ascontiguousarray(images)).permute(1, 2, 0, 3).contiguous()
    )


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float H×W×N×C tensor -> uint8 N×H×W×C array: clipped to [0,1], rounded to nearest."""
    levels = torch.round(torch.clamp(x, 0.0, 1.0) * 255.0).to(torch.uint8)
    return levels.permute(2, 0, 1, 3).contiguous().numpy()


def store_uint8(y: np.ndarray) -> np.ndarray:
    """Float N×H×W×C array on the [0,1] scale -> uint8, clipped and rounded like `to_uint8`."""
    return np.round(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_images(images: object, noise: str) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        kind = getattr(images, "dtype", type(images).__name__)
        shape = getattr(images, "shape", "?")
        raise ValueError(f"images: need a uint8 N×H×W×C array, got {kind} of shape {shape}")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"images: need 1 or 3 channels last, got shape {images.shape}")
    if noise in COLOUR_CORRUPTIONS and images.shape[-1] != 3:
        raise ValueError(f"images: {noise} works in HSV and needs 3 channels, got {images.shape}")
    if noise in RGB_CORRUPTIONS and images.shape[-1] != 3:
        raise ValueError(
            f"images: {noise} is defined on RGB and needs 3 channels, got {images.shape}"
        )
    return images


def _seed_parts(seed: object, noise: str) -> tuple[object, ...]:
    if seed is None:
        raise ValueError(f"seed: {noise} draws random numbers; pass seed=(config seed, names...)")
    if isinstance(seed, (list, tuple)):
        return tuple(seed)
    return (seed,)


def resolve_parameter(
    noise: str, severity: int | None, table: str, value: object | None
) -> Parameter:
    """The parameter to use: `value` if given, else the `table` constant at `severity`."""
    check_noise(noise)
    if (severity is None) == (value is None):
        raise ValueError(f"severity/value: give exactly one for {noise}, got {severity=}, {value=}")
    if value is not None:
        return check_value(noise, value)
    return corruption_parameter(noise, severity, table)  # type: ignore[arg-type]


def corrupt(
    images: np.ndarray,
    noise: str,
    severity: int | None = None,
    table: str = "auto",
    value: object | None = None,
    seed: object = None,
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Corrupt uint8 N×H×W×C `images` with `noise` at a severity (1-5) or an explicit value.

    A severity indexes `table`'s constants: cifar10c, imagenetc, or auto (`noise.table`'s
    default) for CIFAR-10-C's on images of up to 32 pixels and ImageNet-C's above.
    `seed` (a tuple of parts, e.g. (config seed, dataset, noise, level)) is required by the
    random families; image i draws from derive_seed(*seed, i) (a torch Generator or, for the
    published numpy families, `legacy_rng`), so the output is byte-identical
    for any `batch_size` or thread count. Returns a new uint8 array of the same shape. The work is
    many small memory-bound tensor ops: on a busy CPU, one torch thread per job is fastest.
    """
    # `auto`, as in the workflow: CIFAR-10-C's constants up to 32 pixels, ImageNet-C's above.
    table = severity_table(table, max(np.shape(images)[1:3], default=0))
    param = resolve_parameter(noise, severity, table, value)
    check_available(noise)
    images = _check_images(images, noise)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
    parts = _seed_parts(seed, noise) if noise in RANDOM_CORRUPTIONS else ()
    log.info("corrupting %d images with %s (parameter %s)", len(images), noise, param)
    out = np.empty_like(images)
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=noise, unit="batch", disable=None if progress else True):
        stop = min(start + batch_size, len(images))
        batch = images[start:stop]
        if noise == "jpeg":
            out[start:stop] = jpeg(batch, param)  # type: ignore[arg-type]
            continue
        if noise in IMAGE_CORRUPTIONS:
            rngs = legacy_rngs([derive_seed(*parts, i) for i in range(start, stop)])
            out[start:stop] = store_uint8(IMAGE_CORRUPTIONS[noise](batch, param, rngs))
            continue
        x = to_float(batch)
        if noise in RANDOM_CORRUPTIONS:
            seeds = [derive_seed(*parts, i) for i in range(start, stop)]
            y = FLOAT_CORRUPTIONS[noise](x, param, seeds)
        else:
            y = FLOAT_CORRUPTIONS[noise](x, param)
        out[start:stop] = to_uint8(y)
    return out
