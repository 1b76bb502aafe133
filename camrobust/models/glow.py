"""Multi-scale Glow (Kingma & Dhariwal 2018) on 5-bit images: the flow LVAT-Glow perturbs.

Latents are standardised by their learned Gaussian priors, so `to_latent` returns N(0, I)
coordinates of an exact bijection: y (kept half of the last scale) and z (every factored-out
half, squeezed to the last scale's resolution and stacked on channels).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def squeeze2d(x: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×4C×H/2×W/2, moving each 2×2 patch to channels."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * 4, h // 2, w // 2)


def unsqueeze2d(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `squeeze2d`."""
    n, c, h, w = x.shape
    x = x.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // 4, h * 2, w * 2)


def quantise_levels(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer levels 0…2^bits−1 of images in [0, 1]: round to 8 bits, drop the low bits."""
    x8 = torch.round(x.clamp(0.0, 1.0) * 255.0)
    return torch.floor(x8 / 2 ** (8 - bits))


def quantise(x: torch.Tensor, bits: int = 5) -> torch.Tensor:
    """Images in [0, 1] reduced to `bits` bits, expressed back on the 8-bit scale /255."""
    return quantise_levels(x, bits) * (2 ** (8 - bits) / 255.0)


# Smallest coupling scale (see AffineCoupling._shift_logscale).
SCALE_FLOOR = 0.01
# Bound on the factored-out priors' log-scales (see Glow._prior): scales within e^±6.
PRIOR_LOGS_BOUND = 6.0


class ActNorm(nn.Module):
    """Per-channel affine y = (x + b)·exp(s), initialised from the first batch it sees so that
    its output has zero mean and unit variance per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))
        # Python mirror of the buffer, so the hot path never syncs with the device.
        self._ready = False

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent init from batch `x`."""
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)
        self._ready = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._ready = bool(self.initialized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._ready:
            self.initialize(x)
        return (x + self.bias) * torch.exp(self.logs)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.logs) - self.bias

    def logdet(self, height: int, width: int) -> torch.Tensor:
        return height * width * self.logs.sum()


class InvConv1x1(nn.Module):
    """Invertible 1×1 convolution with W = P·L·(U + diag(sign·exp(log|s|))), P fixed."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        w0 = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(w0)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def _factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lower, upper = self._factors()
        w = self.perm @ lower @ upper
        return F.conv2d(x, w[:, :, None, None])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        lower, upper = self._factors()
        # W⁻¹ = U⁻¹ L⁻¹ Pᵀ by triangular solves: better conditioned than a general inverse.
        l_inv = torch.linalg.solve_triangular(lower, self.eye, upper=False, unitriangular=True)
        u_inv = torch.linalg.solve_triangular(upper, self.eye, upper=True)
        w_inv = u_inv @ l_inv @ self.perm.T
        return F.conv2d(y, w_inv[:, :, None, None])

    def logdet(self, height: int, width: int) -> torch.Tensor:
        return height * width * self.log_s.sum()


class ZeroConv2d(nn.Module):
    """3×3 conv initialised to zero with a learned per-channel output scale exp(3·s)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logscale = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.exp(3.0 * self.logscale)


class AffineCoupling(nn.Module):
    """Second channel half scaled and shifted by a net of the first half; the net's last conv
    starts at zero, so every step starts close to the identity."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        half = channels // 2
        self.net = nn.Sequential(
            nn.Conv2d(half, hidden, 3, padding=1, bias=False),
            ActNorm(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1, bias=False),
            ActNorm(hidden),
            nn.ReLU(),
            ZeroConv2d(hidden, 2 * (channels - half)),
        )

    def _shift_logscale(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa)
        # sigmoid(· + 2) keeps the scale in (0, 1) and near 0.88 at init, as in the Glow code; the
        # floor of SCALE_FLOOR bounds the inverse's gain, so decoding a latent perturbed off the
        # data manifold (LVAT) cannot overflow to inf through a briefly trained flow.
        scale = SCALE_FLOOR + (1.0 - SCALE_FLOOR) * torch.sigmoid(h[:, 1::2] + 2.0)
        return h[:, 0::2], torch.log(scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x.chunk(2, dim=1)
        shift, logscale = self._shift_logscale(xa)
        yb = (xb + shift) * torch.exp(logscale)
        return torch.cat([xa, yb], dim=1), logscale.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        ya, yb = y.chunk(2, dim=1)
        shift, logscale = self._shift_logscale(ya)
        return torch.cat([ya, yb * torch.exp(-logscale) - shift], dim=1)


class FlowStep(nn.Module):
    """actnorm → invertible 1×1 conv → affine coupling."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv1x1(channels)
        self.coupling = AffineCoupling(channels, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[2], x.shape[3]
        x = self.invconv(self.actnorm(x))
        x, ld = self.coupling(x)
        return x, ld + self.actnorm.logdet(h, w) + self.invconv.logdet(h, w)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self.actnorm.inverse(self.invconv.inverse(self.coupling.inverse(y)))


class Glow(nn.Module):
    """Glow over `scales` levels of (squeeze, `steps_per_scale` flow steps, factor out half with a
    Gaussian prior conditioned on the kept half); the last kept half has a learned prior."""

    kind = "glow"

    def __init__(
        self,
        scales: int = 3,
        steps_per_scale: int = 22,
        hidden: int = 128,
        bits: int = 5,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if scales < 1 or steps_per_scale < 1 or hidden < 1:
            raise ValueError(
                f"scales, steps_per_scale and hidden must be ≥ 1, got {scales}, "
                f"{steps_per_scale}, {hidden}"
            )
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be in 1…8, got {bits}")
        self.scales, self.steps_per_scale, self.hidden = (
            int(scales),
            int(steps_per_scale),
            int(hidden),
        )
        self.bits, self.in_channels = int(bits), int(in_channels)
        self.n_bins = 2**self.bits
        self.levels = nn.ModuleList()
        self.priors = nn.ModuleList()
        self.factored: list[int] = []  # channels factored out at each scale, at its resolution
        c = in_channels
        for _ in range(scales):
            c *= 4
            self.levels.append(nn.ModuleList(FlowStep(c, hidden) for _ in range(steps_per_scale)))
            self.priors.append(ZeroConv2d(c // 2, 2 * (c - c // 2)))
            self.factored.append(c - c // 2)
            c //= 2
        self.y_channels = c
        self.top_mean = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.top_logs = nn.Parameter(torch.zeros(1, c, 1, 1))
        self._actnorms = [m for m in self.modules() if isinstance(m, ActNorm)]

    def config(self) -> dict[str, Any]:
        """The constructor kwargs, enough to rebuild this model."""
        return dict(
            scales=self.scales,
            steps_per_scale=self.steps_per_scale,
            hidden=self.hidden,
            bits=self.bits,
            in_channels=self.in_channels,
        )

    @property
    def initialized(self) -> bool:
        """Whether every actnorm has had its data-dependent initialisation."""
        return all(m._ready for m in self._actnorms)

    def _z_channels(self) -> list[int]:
        """Channels each scale's factored-out latent takes in z, after squeezing to y's size."""
        return [c * 4 ** (self.scales - 1 - i) for i, c in enumerate(self.factored)]

    def _check_images(self, x: torch.Tensor) -> None:
        factor = 2**self.scales
        ok = x.dim() == 4 and x.shape[1] == self.in_channels and x.is_floating_point()
        if not ok or x.shape[2] % factor or x.shape[3] % factor or x.shape[2] == 0:
            raise ValueError(
                f"Glow expects float N×{self.in_channels}×H×W with H, W multiples of {factor}, "
                f"got {x.dtype} {tuple(x.shape)}"
            )

    @staticmethod
    def _prior(prior: nn.Module, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-scale of the factored-out half given the kept half.

        The log-scale is softly bounded to ±PRIOR_LOGS_BOUND: it is linear in the kept half, so
        a latent decoded off the data manifold (LVAT's adversarial direction through a briefly
        trained flow) once reached log-scale 128, and exp() overflowed to inf and then NaN.
        """
        h = prior(keep)
        logs = PRIOR_LOGS_BOUND * torch.tanh(h[:, 1::2] / PRIOR_LOGS_BOUND)
        return h[:, 0::2], logs

    def encode(self, x_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flow of dequantised input in [−0.5, 0.5]: standardised (y, z) and per-sample
        log|det ∂(y, z)/∂x_in|; actnorms not yet initialised are initialised on this batch."""
        self._check_images(x_in)
        h = x_in
        logdet = torch.zeros(x_in.shape[0], device=x_in.device, dtype=x_in.dtype)
        eps_parts = []
        for steps, prior in zip(self.levels, self.priors, strict=True):
            h = squeeze2d(h)
            for step in steps:
                h, ld = step(h)
                logdet = logdet + ld
            keep, out = h.chunk(2, dim=1)
            mean, logs = self._prior(prior, keep)
            eps_parts.append((out - mean) * torch.exp(-logs))
            logdet = logdet - logs.flatten(1).sum(1)
            h = keep
        y = (h - self.top_mean) * torch.exp(-self.top_logs)
        logdet = logdet - h.shape[2] * h.shape[3] * self.top_logs.sum()
        for i in range(len(eps_parts)):
            for _ in range(self.scales - 1 - i):
                eps_parts[i] = squeeze2d(eps_parts[i])
        return y, torch.cat(eps_parts, dim=1), logdet

    def decode(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Exact inverse of `encode`: standardised (y, z) → input in [−0.5, 0.5] (unquantised)."""
        if not self.initialized:
            raise ValueError("Glow is not initialised: encode a data batch (or train) first")
        zc = self._z_channels()
        if y.dim() != 4 or z.dim() != 4 or y.shape[1] != self.y_channels or z.shape[1] != sum(zc):
            raise ValueError(
                f"Glow latents must be N×{self.y_channels}×h×w and N×{sum(zc)}×h×w, "
                f"got {tuple(y.shape)} and {tuple(z.shape)}"
            )
        if y.shape[0] != z.shape[0] or y.shape[2:] != z.shape[2:]:
            raise ValueError(f"y {tuple(y.shape)} and z {tuple(z.shape)} do not match")
        h = y * torch.exp(self.top_logs) + self.top_mean
        eps_parts = list(z.split(zc, dim=1))
        for i in reversed(range(self.scales)):
            eps = eps_parts[i]
            for _ in range(self.scales - 1 - i):
                eps = unsqueeze2d(eps)
            mean, logs = self._prior(self.priors[i], h)
            h = torch.cat([h, mean + torch.exp(logs) * eps], dim=1)
            for step in reversed(self.levels[i]):
                h = step.inverse(h)
            h = unsqueeze2d(h)
        return h

    def dequantised(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Flow input in [−0.5, 0.5] for images in [0, 1]: quantised level + uniform noise
        drawn from `generator`, or the bin centre when no generator is given."""
        self._check_images(x)
        levels = quantise_levels(x, self.bits)
        if generator is None:
            noise = torch.full_like(levels, 0.5)
        else:
            noise = torch.rand(levels.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (levels + noise) / self.n_bins - 0.5

    def nll_bpd(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample negative log-likelihood of the `bits`-bit image, in bits per dimension."""
        y, z, logdet = self.encode(self.dequantised(x, generator))
        dims = x[0].numel()
        logp = -0.5 * (y.square().flatten(1).sum(1) + z.square().flatten(1).sum(1) + dims * LOG_2PI)
        nll = -(logp + logdet) + dims * math.log(self.n_bins)
        return nll / (dims * math.log(2.0))

    def to_latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LVAT latent (y, z) of the `bits`-bit quantised image (bin centres, no noise)."""
        y, z, _ = self.encode(self.dequantised(x))
        return y, z

    def from_latent(self, parts: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
        """Image in [0, 1] from (y, z), re-quantised to `bits` bits; the floor passes gradients
        straight through."""
        if len(parts) != 2:
            raise ValueError(f"Glow latent has two parts (y, z), got {len(parts)}")
        x_in = self.decode(*parts)
        # ≈ integer level, exact at bin centres; clamped to the image's range so that a latent
        # decoded far outside it (an LVAT perturbation) gives a saturated pixel with zero
        # gradient instead of inf - inf = NaN in the straight-through sum below.
        cont = ((x_in + 0.5) * self.n_bins - 0.5).clamp(-0.5, self.n_bins - 0.5)
        levels = torch.floor(cont + 0.5).clamp(0, self.n_bins - 1)
        step = 2 ** (8 - self.bits) / 255.0
        smooth = cont * step
        # Forward value exactly levels·step; backward the gradient of the smooth path.
        return levels * step + (smooth - smooth.detach())
