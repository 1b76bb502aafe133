"""Convolutional VAE of the LVAT code: the latent space LVAT-VAE perturbs (posterior mean)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# The official VAE clips log σ to [1e-8, 50] (vae/util/layers.py), so σ ≥ 1: its decoder learns
# from μ + N(0, I) draws, which is what makes a latent step of ε = 1 "small" for LVAT.
LOG_SIGMA_MIN, LOG_SIGMA_MAX = 1e-8, 50.0


class VAE(nn.Module):
    """Encoder of 2×2 stride-2 convs (BN, ReLU…ReLU, tanh) → FC → (μ, log σ²); decoder FC →
    2×2 stride-2 transposed convs (BN, ReLU) → 1×1 conv → sigmoid. Images are N×C×S×S in [0, 1].
    `bound_sigma` keeps σ in [1, e⁵⁰] as the official code does (False: log σ² is free)."""

    kind = "vae"

    def __init__(
        self,
        latent_dim: int = 128,
        channels: tuple[int, ...] | list[int] = (128, 256, 512),
        beta: float = 0.1,
        image_size: int = 32,
        in_channels: int = 3,
        bound_sigma: bool = True,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if latent_dim < 1 or not channels or min(channels) < 1:
            raise ValueError(
                f"latent_dim and channels must be positive, got {latent_dim}, {channels}"
            )
        if beta < 0:
            raise ValueError(f"beta must be ≥ 0, got {beta}")
        factor = 2 ** len(channels)
        if image_size < factor or image_size % factor:
            raise ValueError(f"image_size {image_size} must be a positive multiple of {factor}")
        self.latent_dim, self.channels, self.beta = int(latent_dim), channels, float(beta)
        self.image_size, self.in_channels = int(image_size), int(in_channels)
        self.bound_sigma = bool(bound_sigma)
        self.bottom = image_size // factor

        enc: list[nn.Module] = []
        c_prev = in_channels
        for i, c in enumerate(channels):
            last = i == len(channels) - 1
            enc += [nn.Conv2d(c_prev, c, 2, stride=2, bias=False), nn.BatchNorm2d(c)]
            enc.append(nn.Tanh() if last else nn.ReLU())
            c_prev = c
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        flat = channels[-1] * self.bottom**2
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)

        self.fc_dec = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU())
        dec: list[nn.Module] = []
        c_prev = channels[-1]
        for c in reversed(channels):
            dec += [nn.ConvTranspose2d(c_prev, c, 2, stride=2, bias=False), nn.BatchNorm2d(c)]
            dec.append(nn.ReLU())
            c_prev = c
        dec.append(nn.Conv2d(c_prev, in_channels, 1))
        self.decoder = nn.Sequential(*dec)

    def config(self) -> dict[str, Any]:
        """The constructor kwargs, enough to rebuild this model."""
        return dict(
            latent_dim=self.latent_dim,
            channels=list(self.channels),
            beta=self.beta,
            image_size=self.image_size,
            in_channels=self.in_channels,
            bound_sigma=self.bound_sigma,
        )

    def _check_images(self, x: torch.Tensor) -> None:
        want = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want or not x.is_floating_point():
            raise ValueError(
                f"VAE expects float N×{want[0]}×{want[1]}×{want[2]} in [0, 1], got "
                f"{x.dtype} {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log σ² (in [2e-8, 100] with `bound_sigma`), each N×latent_dim."""
        self._check_images(x)
        h = self.encoder(x)
        logvar = self.fc_logvar(h)
        if self.bound_sigma:
            # Clipped like tf.clip_by_value: no gradient below the bound, so σ sits at 1 there.
            logvar = logvar.clamp(2 * LOG_SIGMA_MIN, 2 * LOG_SIGMA_MAX)
        return self.fc_mu(h), logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of the reconstruction, N×C×S×S."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"VAE latent must be N×{self.latent_dim}, got {tuple(z.shape)}")
        h = self.fc_dec(z).view(-1, self.channels[-1], self.bottom, self.bottom)
        return self.decoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Batch mean of Bernoulli reconstruction NLL + beta·KL(q(z|x) ‖ N(0, I)), in nats.
        The reparameterisation noise is a standard normal truncated to ±2, as the official one."""
        mu, logvar = self.encode(x)
        eps = nn.init.trunc_normal_(torch.empty_like(mu), generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none")
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)
        return (rec.flatten(1).sum(1) + self.beta * kl).mean()

    def to_latent(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """LVAT latent: the posterior mean only (no sampling), as a one-part tuple."""
        return (self.encode(x)[0],)

    def from_latent(self, parts: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
        """Image in [0, 1] decoded from the one-part latent of `to_latent`."""
        if len(parts) != 1:
            raise ValueError(f"VAE latent has one part, got {len(parts)}")
        return self.decode(parts[0])
