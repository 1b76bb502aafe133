"""Throughput of camrobust.noise.corrupt: images/s per family and the time for all severities.

Reference: CIFAR-10-C-style per-image numpy/scipy/skimage/Pillow code for the same operations,
timed in the same process on a subset, so the printed ratio does not depend on the machine load
as much as the absolute numbers do. For glass blur the reference is the published per-pixel
Python loop; for the other published numpy families (motion blur, snow, frost, fog, spatter,
elastic transform) it is the library itself called one image at a time (batch size 1).

    python benchmarks/noise_throughput.py --n 10000 --size 32 [--threads 1]

One torch thread is the default: the operations are small and memory-bound, and on a shared or
oversubscribed CPU a second intra-op thread mostly waits at barriers (measured 5x slower).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from skimage.color import hsv2rgb, rgb2hsv

from camrobust.noise import CORRUPTIONS, corrupt, corruption_parameter
from camrobust.noise.corruptions import IMAGE_CORRUPTIONS, zoom_factors
from camrobust.noise.taps import disk_kernel

# Published families whose reference here is the library one image at a time.
PER_IMAGE = frozenset(IMAGE_CORRUPTIONS) - {"glass_blur"}


def _ref_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    h = x.shape[0]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    zoomed = ndimage.zoom(x[top : top + crop, top : top + crop], (factor, factor, 1), order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim : trim + h, trim : trim + h]


def _ref_glass(x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """make_cifar_c.py's glass blur: blur, per-pixel Python loop of swaps, blur."""
    sigma, delta, iterations = c
    blurred = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="nearest")
    levels = (blurred * 255).astype(np.uint8)
    h, w = levels.shape[:2]
    for _ in range(iterations):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=2)
                levels[row, col], levels[row + dy, col + dx] = (
                    levels[row + dy, col + dx],
                    levels[row, col],
                )
    blurred = ndimage.gaussian_filter(levels / 255.0, (sigma, sigma, 0), mode="nearest")
    return (np.clip(blurred, 0, 1) * 255).astype(np.uint8)


def reference(image: np.ndarray, noise: str, c, rng: np.random.Generator) -> np.ndarray:
    """One image, per-image style, as CIFAR-10-C's generator does it (float64, then uint8)."""
    x = image / 255.0
    if noise in PER_IMAGE:
        return corrupt(image[None], noise, value=c, seed=(0, "ref"), progress=False)[0]
    if noise == "glass_blur":
        return _ref_glass(x, c, rng)
    if noise == "gaussian":
        x = x + rng.normal(size=x.shape, scale=c)
    elif noise == "shot":
        x = rng.poisson(x * c) / c
    elif noise == "impulse":
        hit, salt = rng.random(x.shape) < c, rng.random(x.shape) < 0.5
        x = np.where(hit, salt, x)
    elif noise == "speckle":
        x = x + x * rng.normal(size=x.shape, scale=c)
    elif noise == "gaussian_blur":
        x = ndimage.gaussian_filter(x, sigma=(c, c, 0), mode="nearest")
    elif noise == "defocus_blur":
        x = ndimage.correlate(x, disk_kernel(*c)[:, :, None], mode="mirror")
    elif noise == "zoom_blur":
        factors = zoom_factors(c)
        x = (x + sum(_ref_zoom(x, f) for f in factors)) / (len(factors) + 1)
    elif noise == "contrast":
        mean = x.mean(axis=(0, 1), keepdims=True)
        x = (x - mean) * c + mean
    elif noise in ("brightness", "saturate"):
        hsv = rgb2hsv(x)
        if noise == "brightness":
            hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
        else:
            hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
        x = hsv2rgb(hsv)
    elif noise == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=c)
        return np.asarray(Image.open(buffer))
    elif noise == "pixelate":
        h, w = image.shape[:2]
        small = Image.fromarray(image).resize((int(w * c), int(h * c)), Image.Resampling.BOX)
        return np.asarray(small.resize((w, h), Image.Resampling.BOX))
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="images per set")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--reference-n", type=int, default=300, help="images for the reference")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = np.random.default_rng(0).integers(0, 256, (args.n, args.size, args.size, 3), np.uint8)
    subset = images[: args.reference_n]
    print(
        f"{args.n} images {args.size}x{args.size}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} torch threads; reference on {len(subset)} images"
    )
    print(
        f"{'family':<18}{'images/s':>10}{'s, 5 levels':>13}{'CPU s':>8}{'reference/s':>13}"
        f"{'speed-up':>10}"
    )
    total = cpu_total = 0.0
    for noise in CORRUPTIONS:
        elapsed = cpu = 0.0
        ref_elapsed = 0.0
        for severity in range(1, 6):
            seed = (0, "bench", noise, severity)
            start, cpu_start = time.perf_counter(), time.process_time()
            corrupt(images, noise, severity=severity, table="cifar10c", seed=seed,
                    batch_size=args.batch_size, progress=False)  # fmt: skip
            elapsed += time.perf_counter() - start
            cpu += time.process_time() - cpu_start
            c = corruption_parameter(noise, severity, "cifar10c")
            rng = np.random.default_rng(severity)
            start = time.perf_counter()
            for image in subset:
                reference(image, noise, c, rng)
            ref_elapsed += time.perf_counter() - start
        total += elapsed
        cpu_total += cpu
        rate = 5 * len(images) / elapsed
        ref_rate = 5 * len(subset) / ref_elapsed
        print(
            f"{noise:<18}{rate:>10.0f}{elapsed:>13.1f}{cpu:>8.1f}{ref_rate:>13.0f}"
            f"{rate / ref_rate:>9.1f}x"
        )
    # On a shared machine the CPU time (this process's own) is the steadier figure.
    print(
        f"total for {len(CORRUPTIONS)} families x 5 severities: {total:.1f} s "
        f"({cpu_total:.1f} s CPU)"
    )


if __name__ == "__main__":
    main()
