"""Linear filters and resamplers as explicit (index, weight) taps, applied by gather-multiply-add.

Images are laid out H×W×(batch...) here, spatial dims first, so that every gather along a
spatial dim copies whole contiguous blocks (gathering along the last dim of N×C×H×W is much
slower). Every output value is the same fixed-order sum of elementwise products whatever the
batch size or thread count, so results are bit-identical across both (a BLAS matmul or a conv2d
kernel may pick another summation order for another batch shape, which can flip a rounding).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def boundary_index(index: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Map out-of-range indices into [0, size) like scipy.ndimage's `nearest`/`reflect`/`mirror`."""
    index = np.asarray(index, dtype=np.int64)
    if mode == "nearest":
        return np.clip(index, 0, size - 1)
    if mode == "reflect":  # d c b a | a b c d | d c b a (half-sample symmetric)
        period = 2 * size
        folded = np.mod(index, period)
        return np.where(folded < size, folded, period - 1 - folded)
    if mode == "mirror":  # d c b | a b c d | c b a (OpenCV's BORDER_REFLECT_101)
        if size == 1:
            return np.zeros_like(index)
        period = 2 * size - 2
        folded = np.mod(index, period)
        return np.where(folded < size, folded, period - folded)
    raise ValueError(f"mode: unknown boundary mode {mode!r}; allowed: nearest, reflect, mirror")


def _shape_along(x: torch.Tensor, dim: int, length: int) -> list[int]:
    shape = [1] * x.dim()
    shape[dim] = length
    return shape


def apply_taps(x: torch.Tensor, index: np.ndarray, weight: np.ndarray, dim: int) -> torch.Tensor:
    """out[..., i, ...] = sum_t weight[i, t] * x[..., index[i, t], ...] along `dim`."""
    idx = torch.as_tensor(index, dtype=torch.long, device=x.device)
    w = torch.tensor(weight, dtype=x.dtype, device=x.device)
    shape = _shape_along(x, dim, index.shape[0])
    out = x.index_select(dim, idx[:, 0]) * w[:, 0].reshape(shape)
    for t in range(1, index.shape[1]):
        out += x.index_select(dim, idx[:, t]) * w[:, t].reshape(shape)
    return out


def pad(x: torch.Tensor, dim: int, radius: int, mode: str) -> torch.Tensor:
    """`x` extended by `radius` samples on both sides of `dim` with boundary `mode`."""
    size = x.shape[dim]
    index = boundary_index(np.arange(-radius, size + radius), size, mode)
    return x.index_select(dim, torch.as_tensor(index, device=x.device))


def correlate1d(x: torch.Tensor, kernel: np.ndarray, dim: int, mode: str) -> torch.Tensor:
    """Correlation along `dim` with a centred odd-length `kernel`, borders by `mode`."""
    radius = len(kernel) // 2
    size = x.shape[dim]
    padded = pad(x, dim, radius, mode)
    out = padded.narrow(dim, 0, size) * float(kernel[0])
    for t in range(1, len(kernel)):
        out += padded.narrow(dim, t, size) * float(kernel[t])
    return out


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian: radius int(truncate*sigma + 0.5), normalised to sum 1."""
    radius = int(truncate * sigma + 0.5)
    if sigma == 0 or radius == 0:
        return np.ones(1)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def opencv_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian OpenCV's GaussianBlur uses for an odd `ksize` and sigma > 0."""
    x = np.arange(ksize) - (ksize - 1) / 2
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """CIFAR-10-C's defocus kernel: an aliased disk normalised to sum 1, then Gaussian-smoothed.

    The disk is x^2 + y^2 <= radius^2 on the integer grid; the smoothing is a ksize 3 (5 when the
    radius exceeds 8) Gaussian of sigma `alias_blur`, done as a full convolution so the kernel
    keeps its mass (the disk sits well inside its grid, as in the original).
    """
    half = math.floor(radius)
    grid = np.arange(-half, half + 1)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    if alias_blur <= 0:
        return disk
    g = opencv_gaussian_kernel(3 if radius <= 8 else 5, alias_blur)
    blurred = np.zeros((disk.shape[0] + len(g) - 1,) * 2)
    for i, gi in enumerate(g):
        for j, gj in enumerate(g):
            blurred[i : i + disk.shape[0], j : j + disk.shape[1]] += gi * gj * disk
    return blurred


def correlate2d(x: torch.Tensor, kernel: np.ndarray, mode: str) -> torch.Tensor:
    """2-D correlation over dims 0 and 1 of `x` with an odd square `kernel`, tap by tap."""
    radius = kernel.shape[0] // 2
    h, w = x.shape[:2]
    padded = pad(pad(x, 0, radius, mode), 1, radius, mode)
    out = torch.zeros_like(x)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            if kernel[dy, dx] != 0:
                out += padded[dy : dy + h, dx : dx + w] * float(kernel[dy, dx])
    return out


def zoom_taps(size: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear taps of a centre zoom by `factor`: output u samples c + (u - c) / factor."""
    centre = (size - 1) / 2
    coord = np.clip(centre + (np.arange(size) - centre) / factor, 0, size - 1)
    low = np.floor(coord).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    frac = coord - low
    return np.stack([low, high], axis=1), np.stack([1 - frac, frac], axis=1)


def box_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Taps of Pillow's BOX resize (pixel centres inside each output cell, equal weights)."""
    scale = in_size / out_size
    support = 0.5 * max(scale, 1.0)
    rows_idx, rows_w = [], []
    for out in range(out_size):
        centre = (out + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        src = np.arange(lo, hi)
        # Pillow evaluates the box filter at each source pixel centre: inside (-0.5, 0.5].
        pos = (src - centre + 0.5) / max(scale, 1.0)
        w = ((pos > -0.5) & (pos <= 0.5)).astype(np.float64)
        rows_idx.append(src[w > 0])
        rows_w.append(w[w > 0] / w.sum())
    taps = max(len(r) for r in rows_idx)
    index = np.zeros((out_size, taps), dtype=np.int64)
    weight = np.zeros((out_size, taps))
    for out, (src, w) in enumerate(zip(rows_idx, rows_w, strict=True)):
        index[out, : len(src)] = src
        weight[out, : len(w)] = w
    return index, weight
