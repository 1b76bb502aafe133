"""Placebo maps: baselines that carry no class information, against which robustness is read.

RandomCAM weights the target layer's channels at random (pytorch-grad-cam's RandomCAM, weights
uniform in [-1, 1], here from a seeded generator); SobelCAM is the edge magnitude of the input
image. A CAM method that is no more consistent than these is stable for reasons that have
nothing to do with explaining the class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from camrobust.seeding import derive_seed, torch_generator

#: ITU-R BT.601 luma weights of R, G, B (OpenCV's RGB2GRAY, which pytorch-grad-cam's sobel_cam uses)
LUMA = (0.299, 0.587, 0.114)
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def call_seed(seed: int, *parts: object) -> int:
    """The RandomCAM seed of one engine call: each call (a clean set, a noisy set, a chunk of
    perturbed copies) draws its own weights, as pytorch-grad-cam draws afresh at every call."""
    return derive_seed(seed, "randomcam", *parts)


def random_channel_weights(seed: int, n_images: int, n_channels: int) -> Tensor:
    """N×C weights uniform in [-1, 1) (float64, CPU) from a generator seeded with `seed`.

    Drawn for all images of a call at once, so a map does not depend on the batch size."""
    generator = torch_generator("randomcam", seed)
    uniform = torch.rand(n_images, n_channels, generator=generator, dtype=torch.float64)
    return 2 * uniform - 1


def gray(images: Tensor) -> Tensor:
    """N×C×H×W → N×H×W: the BT.601 luma of RGB images, the channel itself for one channel, and
    the channel mean otherwise (float64)."""
    x = images.double()
    if x.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
        return torch.einsum("c,nchw->nhw", weights, x)
    return x.mean(dim=1)


def sobel_magnitude(images: Tensor) -> Tensor:
    """Edge magnitude √(gx² + gy²) of each image's gray level with the 3×3 Sobel kernels, the
    border extended by repeating the edge pixel (scipy.ndimage's 'reflect'): N×H×W float64."""
    g = gray(images)[:, None]
    kx = torch.tensor(_SOBEL_X, dtype=g.dtype, device=g.device)
    kernels = torch.stack([kx, kx.T])[:, None]
    padded = F.pad(g, (1, 1, 1, 1), mode="replicate")
    # conv2d is a correlation: with these kernels gx = right − left, gy = below − above
    grads = F.conv2d(padded, kernels)
    return grads.pow(2).sum(dim=1).sqrt()
