"""First principal component projection of feature maps (EigenCAM), batched on the device."""

from __future__ import annotations

import torch
from torch import Tensor


def principal_projection(features: Tensor) -> Tensor:
    """Project each image's centred pixels (h·w × C) on their first principal axis: N×C×h×w → N×h×w.

    Same projection as an SVD of the centred pixel matrix (pytorch-grad-cam's EigenCAM), computed
    from the eigendecomposition of the smaller Gram matrix (h·w × h·w or C × C) in float64, which
    is faster than a batched SVD and as accurate. The axis's sign is arbitrary in
    the SVD (pytorch-grad-cam issue #315); we fix it so that the axis v points along the mean
    feature vector μ (μ·v ≥ 0), i.e. the projection of the *uncentred* pixels sums to a
    non-negative value. The centred projection always sums to zero, so its own sum cannot decide.
    """
    n, c, h, w = features.shape
    pixels = features.reshape(n, c, h * w).transpose(1, 2).double()
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    if h * w <= c:
        # Top eigenvector u of X Xᵀ: the projection X v equals sqrt(λ) u, and v ∝ Xᵀ u.
        values, vectors = torch.linalg.eigh(centred @ centred.transpose(1, 2))
        u = vectors[:, :, -1]
        projection = u * values[:, -1:].clamp(min=0).sqrt()
        axis = (centred.transpose(1, 2) @ u[:, :, None])[:, :, 0]
    else:
        _, vectors = torch.linalg.eigh(centred.transpose(1, 2) @ centred)
        axis = vectors[:, :, -1]
        projection = (centred @ axis[:, :, None])[:, :, 0]
    alignment = (mean[:, 0, :] * axis).sum(dim=-1)
    sign = torch.where(alignment >= 0, 1.0, -1.0).to(projection.dtype)
    return (projection * sign[:, None]).to(features.dtype).reshape(n, h, w)
