"""Quickshift segments of the evaluation images: the regions whose ranking the paper's metric
compares (`rbo.py`, docs/metric.md "The paper's metric").

Each clean evaluation image is segmented once, with `skimage.segmentation.quickshift` on its RGB
pixels (converted to Lab, as Quickshift's authors advise), and the same regions serve the clean
and every noisy map of that image. Quickshift breaks ties between equal densities with random
noise; its generator is seeded per image from the config seed, the dataset and the image index.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from camrobust.seeding import derive_seed


def segment_image(
    image: np.ndarray, *, kernel_size: float, max_dist: float, ratio: float, sigma: float, rng: int
) -> np.ndarray:
    """H×W int32 Quickshift labels 0..m−1 of one H×W×3 uint8 (or [0, 1] float) RGB image."""
    # Imported here: scikit-image is needed by the segmentation job alone.
    from skimage.segmentation import quickshift

    labels = quickshift(
        image,
        kernel_size=kernel_size,
        max_dist=max_dist,
        ratio=ratio,
        sigma=sigma,
        rng=rng,
        convert2lab=True,
        channel_axis=-1,
    )
    return labels.astype(np.int32)


def segment_images(
    images: np.ndarray,
    *,
    kernel_size: float,
    max_dist: float,
    ratio: float,
    sigma: float,
    seed: int,
    dataset: str,
) -> dict[str, np.ndarray]:
    """Quickshift labels of N×H×W×3 images: {"labels": N×H×W int32, "n_regions": N int64}."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape)
        raise ValueError(f"segments: need N×H×W×3 RGB images, got shape {shape}")
    options = {"kernel_size": kernel_size, "max_dist": max_dist, "ratio": ratio, "sigma": sigma}
    labels = np.zeros(images.shape[:3], dtype=np.int32)
    for i, image in enumerate(tqdm(images, desc="quickshift", disable=None)):
        rng = derive_seed(seed, "quickshift", dataset, i) % 2**31  # quickshift takes a C int
        labels[i] = segment_image(image, **options, rng=rng)
    n_regions = labels.reshape(len(labels), -1).max(axis=1).astype(np.int64) + 1
    return {"labels": labels, "n_regions": n_regions}
