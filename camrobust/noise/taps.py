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


# OpenCV's fixed small kernels, used when sigma <= 0 (getGaussianKernel's small_gaussian_tab).
_OPENCV_SMALL_GAUSSIANS = {3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625)}


def opencv_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian OpenCV's GaussianBlur uses for an odd `ksize`.

    For sigma <= 0 OpenCV takes a fixed binomial kernel (ksize 3 and 5, all this module uses).
    """
    if sigma <= 0:
        return np.array(_OPENCV_SMALL_GAUSSIANS[ksize])
    x = np.arange(ksize) - (ksize - 1) / 2
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The published defocus kernel: an aliased disk on a fixed grid, normalised, then blurred
    by cv2.GaussianBlur on that grid (so its borders reflect, BORDER_REFLECT_101).

    The grid is -8..8 up to radius 8 (ksize 3) and -radius..radius beyond (ksize 5), as in
    make_imagenet_c.py's disk(); the disk reaches the grid's edge at radius 8 and 10, where the
    reflection matters. The reference
    stores the kernel as float32, and so is it rounded here. Zero rows and columns around the
    support are dropped (they only cost time); an even grid (a non-integer radius above 8) gets
    a zero row and column appended, which is where OpenCV's anchor puts it.
    """
    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float32)
    disk = (disk / disk.sum()).astype(np.float64)
    ksize = 3 if radius <= 8 else 5
    g = opencv_gaussian_kernel(ksize, alias_blur)
    size = len(grid)
    for axis in (0, 1):
        blurred = np.zeros_like(disk)
        for t, weight in enumerate(g):
            index = boundary_index(np.arange(size) + t - ksize // 2, size, "mirror")
            blurred += weight * np.take(disk, index, axis=axis)
        disk = blurred
    kernel = disk.astype(np.float32).astype(np.float64)
    if size % 2 == 0:
        kernel = np.pad(kernel, ((0, 1), (0, 1)))
    centre = kernel.shape[0] // 2
    rows, cols = np.nonzero(kernel)
    reach = max(np.abs(rows - centre).max(), np.abs(cols - centre).max())
    return kernel[centre - reach : centre + reach + 1, centre - reach : centre + reach + 1]


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


def clipped_zoom_geometry(size: int, factor: float) -> tuple[int, int, int, int]:
    """(top, crop, zoomed, trim) of the published clipped zoom along one axis of length `size`.

    The reference crops ceil(size / factor) samples from offset (size - crop) // 2, zooms them
    with scipy.ndimage.zoom (output length round(crop * factor)) and keeps `size` samples from
    offset (zoomed - size) // 2, so the zoom actually applied is (zoomed - 1) / (crop - 1).
    """
    crop = math.ceil(size / factor)
    top = (size - crop) // 2
    zoomed = round(crop * factor)
    return top, crop, zoomed, (zoomed - size) // 2


def zoom_taps(size: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear taps of the published clipped zoom (see `clipped_zoom_geometry`) along one axis.

    scipy.ndimage.zoom (order 1, grid_mode False) maps output sample j to crop coordinate
    j (crop - 1) / (zoomed - 1), corners to corners.
    """
    top, crop, zoomed, trim = clipped_zoom_geometry(size, factor)
    scale = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    coord = np.minimum((np.arange(size) + trim) * scale, crop - 1)
    low = np.floor(coord).astype(np.int64)
    high = np.minimum(low + 1, crop - 1)
    frac = coord - low
    return top + np.stack([low, high], axis=1), np.stack([1 - frac, frac], axis=1)


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
