"""Batched SSIM in torch, numerically the same as scikit-image's Gaussian-window SSIM.

Matches ``skimage.metrics.structural_similarity(a, b, data_range=..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False)``: a Gaussian filter truncated at 3.5σ (11 taps for
σ = 1.5) with scipy's ``reflect`` boundary (half-sample symmetric), population covariances,
and the mean of the SSIM map over the image with a ``(win_size - 1) // 2`` border cropped.

Four filtered maps suffice, μx, μy, f((x − y)²) and f(xy): the denominator needs only the sum
σx² + σy² = f((x − y)²) − (μx − μy)² + 2σxy, never the two variances apart (see ``_mean_ssim``).
They are stacked as a (map, pair, row, column) batch, and the separable Gaussian runs straight
onto the crop: as two depthwise convolutions (maps as the batch, one channel per pair) where
oneDNN or cuDNN has such a kernel for the dtype and the crop border is as wide as the filter
radius (the "valid" windows are then the crop), otherwise as two dense matrix products whose
matrices fold in the reflect boundary and the crop (small maps, float64 on the CPU). Both are
exact for any map size, also maps smaller than the window. On the CPU the pairs go in chunks
that stay in cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CPU_CHUNK_PIXELS = 128 * 32 * 32  # map pixels per chunk on the CPU (128 pairs of 32×32 maps):
# the working set stays in the L3 cache, and each chunk's fixed cost of torch calls is spread
# thin (sizes and timings in docs/performance.md).
TRUNCATE = 3.5  # skimage's choice: an 11-tap window for σ = 1.5, as in Wang et al. 2004


def gaussian_kernel1d(
    sigma: float, truncate: float = TRUNCATE, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Normalised 1-D Gaussian taps with scipy.ndimage's radius rule ``int(truncate*σ + 0.5)``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).to(dtype)


def reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """Map indices outside [0, n) back inside with scipy's ``reflect`` (d c b a | a b c d).

    Works at any distance, also wider than the axis (the reflection repeats with period 2n).
    """
    i = i % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def filter_matrix(n: int, taps: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(stop - start) × n matrix applying the 1-D filter `taps` with reflect boundaries.

    Row k gives output sample start + k; folding the boundary into the matrix turns a separable
    filter into two dense matrix products.
    """
    radius = (taps.numel() - 1) // 2
    out = torch.arange(start, stop, device=taps.device)
    offsets = torch.arange(-radius, radius + 1, device=taps.device)
    src = reflect_index(out[:, None] + offsets[None, :], n)
    matrix = torch.zeros(stop - start, n, dtype=taps.dtype, device=taps.device)
    return matrix.scatter_add_(1, src, taps.expand(stop - start, -1).contiguous())


def default_win_size(height: int, width: int, sigma: float = 1.5) -> int:
    """skimage's crop window for Gaussian SSIM (11 for σ = 1.5), shrunk to fit small maps.

    skimage refuses maps smaller than the window; here the crop window becomes the largest odd
    size that fits, which equals calling skimage with that ``win_size`` explicitly.
    """
    win = 2 * int(TRUNCATE * sigma + 0.5) + 1
    smallest = min(height, width)
    if smallest < win:
        win = smallest if smallest % 2 == 1 else smallest - 1
    return win


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    data_range: float = 1.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int | None = None,
) -> torch.Tensor:
    """Mean SSIM of each pair of N×H×W maps (N values in [-1, 1]), batched on a's device.

    Computed in a's dtype (float32 is within ~1e-6 of skimage's float64 on [0, 1] maps).
    """
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"ssim needs two N×H×W tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    n, height, width = a.shape
    if win_size is None:
        win_size = default_win_size(height, width, sigma)
    if win_size < 1 or win_size % 2 == 0 or win_size > min(height, width):
        raise ValueError(
            f"win_size must be odd and at most the map side {min(height, width)}, got {win_size}"
        )
    dtype = a.dtype if a.is_floating_point() else torch.float32
    pad = (win_size - 1) // 2  # skimage averages the SSIM map without this border
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    y = b.to(device=a.device)
    # CPU: chunks keep the working set in cache; a GPU takes the batch whole. Per call, not per
    # chunk: the taps, one row per pair (the depthwise weights), and the buffer for the stacked
    # maps, as a fresh multi-MB tensor per chunk can cost more in page faults than the SSIM.
    step = max(CPU_CHUNK_PIXELS // (height * width), 1) if a.device.type == "cpu" else max(n, 1)
    taps = gaussian_kernel1d(sigma, dtype=dtype).to(a.device).repeat(min(step, n), 1)
    buffer = torch.empty(4 * height * width * min(step, n), dtype=dtype, device=a.device)
    parts = [
        _mean_ssim(a[i : i + step].to(dtype), y[i : i + step].to(dtype), buffer, taps, pad, c1, c2)
        for i in range(0, n, step)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=dtype, device=a.device)


def _mean_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    buffer: torch.Tensor,
    taps: torch.Tensor,
    pad: int,
    c1: float,
    c2: float,
) -> torch.Tensor:
    """Mean SSIM over the crop for one chunk of N pairs of H×W maps.

    `buffer` has room for the stack of the N pairs; `taps` holds the 1-D taps once per pair.
    """
    n, height, width = x.shape
    stack = buffer[: 4 * n * height * width].view(4, n, height, width)
    xs, ys, diff_sq, products = stack.unbind(0)
    xs.copy_(x)
    ys.copy_(y)
    torch.sub(x, y, out=diff_sq).square_()
    # The taps sum to 1, so this constant passes the filter unchanged (a pass saved below).
    torch.addcmul(x.new_tensor((c1 + c2) / 2), x, y, out=products)
    ux, uy, f_diff_sq, f_products = _blur(stack, taps[:n], pad).unbind(0)

    # SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), rewritten with
    # E = (μx - μy)² and σd² = f((x - y)²) - E, the variance of x - y:
    #   μx² + μy² + C1 = E + (2μxμy + C1),  σx² + σy² + C2 = σd² + 2(σxy + C2/2).
    # For x = y, E and σd² are exactly 0, so numerator and denominator round alike and
    # identical maps score exactly 1; x - y also cancels less than x² + y² in float32.
    # Each step works in place once its operand is spent.
    luminance = torch.addcmul(ux.new_tensor(c1), ux, uy, value=2)  # 2μxμy + C1
    mean_diff_sq = ux.sub_(uy).square_()  # E
    half_contrast = f_products.sub_(luminance, alpha=0.5)  # σxy + C2/2
    diff_var = f_diff_sq.sub_(mean_diff_sq)  # σd²
    denominator = mean_diff_sq.add_(luminance)
    numerator = luminance.mul_(half_contrast)  # (2μxμy + C1)(σxy + C2/2)
    denominator.mul_(half_contrast.add_(diff_var, alpha=0.5))  # the 2s cancel with the numerator
    ssim_map = numerator.div_(denominator)
    return ssim_map.sum(dim=(1, 2)).div_(ssim_map.shape[1] * ssim_map.shape[2])


def _blur(stack: torch.Tensor, taps: torch.Tensor, pad: int) -> torch.Tensor:
    """Gaussian-filter each H×W map of an (M, N, H, W) stack onto its crop: (M, N, h', w').

    h' = H - 2·pad, w' = W - 2·pad; samples beyond the map edge come from scipy's reflection.
    `taps` holds the 1-D taps once per pair (N rows).
    """
    height, width = stack.shape[2:]
    n, size = taps.shape
    # Dense matrices where oneDNN lacks a depthwise kernel for the dtype (torch's fallback is
    # far slower) and where the crop reaches into the reflected border (maps under 11 px for
    # σ = 1.5): a matrix sums the taps that reflect onto one pixel before any rounding, which
    # keeps tiny float32 maps close to skimage (a 1×1 map gets a single weight).
    radius = (size - 1) // 2
    if (stack.device.type == "cpu" and stack.dtype != torch.float32) or pad < radius:
        rows = filter_matrix(height, taps[0], pad, height - pad)
        cols = filter_matrix(width, taps[0], pad, width - pad)
        return rows @ (stack @ cols.T)
    if pad > radius:  # a crop window wider than the filter: the outermost pixels are not needed
        extra = pad - radius
        stack = stack[:, :, extra : height - extra, extra : width - extra]
    # The M maps as the batch and the N pairs as channels, each filtered on its own: the
    # "valid" windows of the convolution are exactly the crop. On the CPU, oneDNN reorders
    # NCHW into its channel-blocked layout (vectorised over 16 pairs) by itself, multi-threaded;
    # a channels-last stack from torch's transposing copy is as fast on one thread, but that
    # copy runs on one thread only.
    out = F.conv2d(stack, taps.view(n, 1, 1, -1), groups=n)
    return F.conv2d(out, taps.view(n, 1, -1, 1), groups=n)
