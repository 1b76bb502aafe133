"""Kernel principal component projection of feature maps (KPCA-CAM), batched on the device."""

from __future__ import annotations

import torch
from torch import Tensor

#: scikit-learn's sigmoid kernel tanh(γ⟨x, y⟩ + coef0) as KernelPCA builds it for pytorch-grad-cam
#: 1.5.7's KPCA-CAM: γ = 1 / channels (its `gamma=None`), coef0 = 1 (scikit-learn's default).
SIGMOID_COEF0 = 1.0


def kernel_projection(features: Tensor) -> Tensor:
    """Each image's pixels (h·w × C, centred over the pixels) projected on the first kernel
    principal component of a sigmoid kernel: N×C×h×w → N×h×w (float64 inside).

    As scikit-learn's KernelPCA(n_components=1, kernel="sigmoid") that pytorch-grad-cam calls per
    image: the kernel matrix is double-centred, its top eigenvector u (eigenvalue λ, negative λ
    clipped to 0) scaled to u·√λ, and the sign chosen so that the entry of largest magnitude is
    positive (scikit-learn's `svd_flip`; the first such entry on a tie).
    """
    n, c, h, w = features.shape
    pixels = features.reshape(n, c, h * w).transpose(1, 2).double()
    centred = pixels - pixels.mean(dim=1, keepdim=True)
    kernel = torch.tanh(centred @ centred.transpose(1, 2) / c + SIGMOID_COEF0)
    kernel = kernel - kernel.mean(dim=1, keepdim=True)
    kernel = kernel - kernel.mean(dim=2, keepdim=True)
    values, vectors = torch.linalg.eigh(kernel)
    top = vectors[:, :, -1]
    largest = top.abs().argmax(dim=1, keepdim=True)
    sign = torch.where(top.gather(1, largest) < 0, -1.0, 1.0).to(top.dtype)
    projection = top * sign * values[:, -1:].clamp(min=0).sqrt()
    return projection.to(features.dtype).reshape(n, h, w)
