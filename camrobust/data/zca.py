"""ZCA whitening of the official VAT CIFAR-10 code, used as the space VAT perturbs in.

vat_tf whitens CIFAR-10 ((x - 127.5) / 255, so the [0, 1] pixel scale) with the training set's
covariance Σ = U diag(S) Uᵀ: W = U diag(1/√S + 1e-6) Uᵀ, z = W (x - mean). Its ε = 8 is a norm in
that space. Here the classifier keeps the project's fixed input standardisation; the whitening is
only the coordinate system of the VAT perturbation (a linear, exactly invertible "latent code"),
so r = ε·normalize(g_z) maps to the pixel perturbation W⁻¹ r, as in the official code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

OFFICIAL_REG = 1e-6  # added to 1/√S, as in vat_tf's dataset_utils.ZCA
MAX_DIMS = 8192  # C·H·W; two D×D float64 matrices are kept (2×512 MiB at this limit)
FIT_CHUNK = 4096  # images per chunk of the covariance sum


class ZCAWhitening(nn.Module):
    """z = W (x - mean) and its inverse for N×C×H×W images in [0, 1], in float64 internally."""

    kind = "zca"

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, inverse: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.double())  # C×H×W
        self.register_buffer("components", components.double())  # D×D, W
        self.register_buffer("inverse", inverse.double())  # D×D, W⁻¹

    @classmethod
    def fit(
        cls, images: np.ndarray, device: str | torch.device = "cpu", reg: float = OFFICIAL_REG
    ) -> ZCAWhitening:
        """Fit on uint8 N×H×W×C training images (the [0, 1] scale), official formula."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError("ZCA whitening: images must be a uint8 array N×H×W×C")
        n, dims = images.shape[0], int(np.prod(images.shape[1:]))
        if dims > MAX_DIMS:
            raise ValueError(
                f"ZCA whitening: {dims} dimensions per image exceed the limit {MAX_DIMS} "
                "(the official code whitens 32×32 CIFAR-10); set whiten: false for this dataset"
            )
        if n <= dims:
            raise ValueError(
                f"ZCA whitening needs more training images than dimensions: {n} <= {dims}"
            )
        x = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8, converted chunk by chunk
        shape = tuple(x.shape[1:])
        mean = torch.zeros(dims, dtype=torch.float64, device=device)
        for chunk in x.split(FIT_CHUNK):
            mean += chunk.reshape(len(chunk), -1).to(device, torch.float64).sum(0) / 255.0
        mean /= n
        cov = torch.zeros(dims, dims, dtype=torch.float64, device=device)
        for chunk in x.split(FIT_CHUNK):
            centred = chunk.reshape(len(chunk), -1).to(device, torch.float64) / 255.0 - mean
            cov += centred.T @ centred
        cov /= n
        s, u = torch.linalg.eigh(cov)
        if not s.min() > 1e-12 * s.max():
            raise ValueError(
                f"ZCA whitening: the covariance of the {n} training images is singular "
                f"(smallest eigenvalue {s.min().item():.3g}); the data need full rank"
            )
        scale = 1.0 / s.sqrt() + reg
        components = (u * scale) @ u.T
        inverse = (u / scale) @ u.T
        return cls(mean.reshape(shape), components, inverse)

    def _flat(self, t: torch.Tensor) -> torch.Tensor:
        want = tuple(self.mean.shape)
        if t.dim() != 4 or tuple(t.shape[1:]) != want:
            raise ValueError(f"ZCA whitening expects N×{'×'.join(map(str, want))}, got {t.shape}")
        return t.reshape(len(t), -1).double()

    def to_latent(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """The whitened images (same shape and dtype as `x`), as a one-part tuple."""
        z = (self._flat(x) - self.mean.reshape(1, -1)) @ self.components.T
        return (z.reshape(x.shape).to(x.dtype),)

    def from_latent(self, parts: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
        """Images in pixel space from the one-part whitened code of `to_latent`."""
        if len(parts) != 1:
            raise ValueError(f"ZCA latent has one part, got {len(parts)}")
        (z,) = parts
        x = self._flat(z) @ self.inverse.T + self.mean.reshape(1, -1)
        return x.reshape(z.shape).to(z.dtype)
