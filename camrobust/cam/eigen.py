"""First principal component projection of feature maps (EigenCAM), batched on the device."""

from __future__ import annotations

import torch
from torch import Tensor


def principal_projection(features: Tensor) -> Tensor:
    """Project each image's centred pixels (h·w × C) on their first principal axis: N×C×h×w → N×h×w.

    The SVD leaves the axis's sign arbitrary (pytorch-grad-cam issue #315). We fix it so that the
    axis points along the mean feature vector μ (μ·v ≥ 0), i.e. the projection of the *uncentred*
    pixels sums to a non-negative value; the centred projection itself always sums to zero, so its
    own sum cannot decide the sign.
    """
    n, c, h, w = features.shape
    pixels = features.reshape(n, c, h * w).transpose(1, 2)
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    u, s, vh = torch.linalg.svd(centred, full_matrices=False)
    # centred @ v1 == s1 * u1, without the extra matmul.
    projection = u[:, :, 0] * s[:, :1]
    alignment = (mean[:, 0, :] * vh[:, 0, :]).sum(dim=-1)
    sign = torch.where(alignment >= 0, 1.0, -1.0).to(projection.dtype)
    return (projection * sign[:, None]).reshape(n, h, w)
