"""CIFAR-like images for tests that need natural-image statistics without the data set:
Gaussian fields with a 1/f amplitude spectrum (1/f² power, as natural images), strongly
correlated colour channels, and CIFAR-10's per-channel mean and standard deviation."""

from __future__ import annotations

import numpy as np

# CIFAR-10 training set, per channel on the [0, 1] scale.
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465])
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616])


def cifar_like(n: int, seed: int, size: int = 32) -> np.ndarray:
    """`n` uint8 N×size×size×3 images: a shared luminance field plus weaker colour fields."""
    rng = np.random.default_rng(seed)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij"))
    amplitude = 1.0 / np.maximum(f * size, 1.0)

    def fields(k: int) -> np.ndarray:
        spec = rng.standard_normal((n, k, size, size // 2 + 1)) + 1j * rng.standard_normal(
            (n, k, size, size // 2 + 1)
        )
        out = np.fft.irfft2(spec * amplitude, s=(size, size))
        return out / out.std()

    luminance, colour = fields(1), fields(3)
    x = 0.9 * luminance + 0.45 * colour  # channel correlation ≈ 0.8, as in CIFAR-10
    x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3), keepdims=True)
    x = CIFAR_MEAN[:, None, None] + CIFAR_STD[:, None, None] * x
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
